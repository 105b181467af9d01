// Client-side packets for tests, built by hand (PostgreSQL docs, "Message Formats").

export function startupPacket(params: Record<string, string>, version = 196608): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.writeUInt32BE(version, 4);
  return Buffer.concat([head, body]);
}

export function codePacket(code: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(8, 0);
  b.writeUInt32BE(code, 4);
  return b;
}

export const sslRequest = (): Buffer => codePacket(80877103);
export const gssencRequest = (): Buffer => codePacket(80877104);

export function cancelPacket(pid: number, key: Buffer): Buffer {
  const b = Buffer.alloc(12 + key.length);
  b.writeUInt32BE(b.length, 0);
  b.writeUInt32BE(80877102, 4);
  b.writeUInt32BE(pid, 8);
  key.copy(b, 12);
  return b;
}

/** A backend message: Byte1 type, Int32 length, body. */
export function backendMessage(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

export function backendKeyData(pid: number, key: Buffer): Buffer {
  const body = Buffer.alloc(4 + key.length);
  body.writeUInt32BE(pid, 0);
  key.copy(body, 4);
  return backendMessage('K', body);
}

export const authOk = (): Buffer => backendMessage('R', Buffer.from([0, 0, 0, 0]));
export const readyForQuery = (): Buffer => backendMessage('Z', Buffer.from('I'));
export const parameterStatus = (name: string, value: string): Buffer => backendMessage('S', Buffer.from(`${name}\0${value}\0`));

/** A simple Query ('Q') message. */
export const queryPacket = (sql: string): Buffer => backendMessage('Q', Buffer.from(`${sql}\0`));
