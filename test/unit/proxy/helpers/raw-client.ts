// A raw TCP client that records what it receives and whether the router closed it.
import net from 'node:net';
import { startupPacket } from './packets.js';
import { waitFor } from './wait-for.js';

export class RawClient {
  closed = false;
  readonly socket: net.Socket;
  private chunks: Buffer[] = [];
  private length = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.length += d.length;
    });
    // The router may reset a misbehaving client: that is a close too.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Everything received so far. */
  get received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** A client over a socket opened elsewhere (a TLS socket, say). */
  static of(socket: net.Socket): RawClient {
    return new RawClient(socket);
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.removeListener('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  write(b: Buffer | string): void {
    this.socket.write(b);
  }

  async waitBytes(n: number, timeoutMs = 5_000): Promise<Buffer> {
    await waitFor(() => this.length >= n, { timeoutMs, what: `${n} bytes from the router` });
    return this.received;
  }

  async waitClosed(timeoutMs = 5_000): Promise<void> {
    await waitFor(() => this.closed, { timeoutMs, what: 'the router to close the client' });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Field map of the first ErrorResponse in `buf` (type byte → value). */
export function errorFields(buf: Buffer): Record<string, string> {
  const start = buf.indexOf('E');
  if (start < 0) return {};
  const len = buf.readUInt32BE(start + 1);
  const out: Record<string, string> = {};
  let pos = start + 5;
  const end = start + 1 + len;
  while (pos < end && buf[pos] !== 0) {
    const type = String.fromCharCode(buf[pos] ?? 0);
    const nul = buf.indexOf(0, pos + 1);
    out[type] = buf.toString('utf8', pos + 1, nul);
    pos = nul + 1;
  }
  return out;
}

const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

/** A raw session through `port`, ready for queries, with the BackendKeyData the client saw. */
export async function readySession(port: number): Promise<{ raw: RawClient; pid: number; key: Buffer }> {
  const raw = await RawClient.connect(port);
  raw.write(startupPacket({ user: 'app' }));
  await waitFor(() => raw.received.includes(READY_FOR_QUERY), { what: 'ReadyForQuery' });
  // Walk the messages (Byte1 type, Int32 length) to BackendKeyData.
  const buf = raw.received;
  for (let at = 0; at + 5 <= buf.length; at += 1 + buf.readUInt32BE(at + 1)) {
    if (buf[at] !== 0x4b) continue;
    const len = buf.readUInt32BE(at + 1);
    return { raw, pid: buf.readUInt32BE(at + 5), key: Buffer.from(buf.subarray(at + 9, at + 1 + len)) };
  }
  throw new Error('no BackendKeyData');
}

/** True when a TCP connection to 127.0.0.1:`port` is refused (nobody listens), false when accepted. */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}
