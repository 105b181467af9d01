// The least a PostgreSQL client must do to hold a session: send a StartupMessage (protocol
// 3.0) and read until ReadyForQuery. The memory bench opens thousands of these; libpq would
// cost a process or a thread each, node-postgres far more memory in the client than we need.
import net from 'node:net';

/** StartupMessage: int32 length, int32 196608 (3.0), then name/value C strings and a final NUL. */
export function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.from(`${Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join('')}\0`, 'utf8');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

/**
 * Connects, starts a session as `user`, resolves with the open socket once the server (or the
 * proxy in front of it) sent ReadyForQuery; rejects on an ErrorResponse, a close or `timeoutMs`.
 */
export function openSession(host: string, port: number, timeoutMs: number, user = 'postgres'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const fail = (why: string): void => {
      cleanup();
      socket.destroy();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail(`no ReadyForQuery within ${timeoutMs} ms`), timeoutMs);
    const onError = (err: Error): void => fail(`socket error: ${err.message}`);
    const onClose = (): void => fail('closed before ReadyForQuery');
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      // Messages: type byte, int32 length (including itself), payload.
      while (buf.length >= 5) {
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const type = String.fromCharCode(buf[0]!);
        if (type === 'E') {
          fail(`ErrorResponse: ${buf.subarray(5, 1 + len).toString('utf8').replace(/\0/g, ' ').trim()}`);
          return;
        }
        buf = buf.subarray(1 + len);
        if (type === 'Z') {
          cleanup();
          // Keep a handler so a later reset does not become an unhandled 'error' event.
          socket.on('error', () => socket.destroy());
          resolve(socket);
          return;
        }
      }
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once('connect', () => socket.write(startupMessage({ user, database: 'postgres', application_name: 'pgrouter-bench' })));
  });
}

/** Sends Terminate ('X') and closes: what a polite client does at the end of a session. */
export function closeSession(socket: net.Socket): void {
  const terminate = Buffer.from([0x58, 0, 0, 0, 4]);
  socket.end(terminate);
}
