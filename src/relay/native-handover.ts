// Handing a session's two sockets from Node to the native relay (issue 12). The relay thread
// reads the sockets through dup()ed fds, so at the moment of the handover no byte may be held
// by Node on either side:
//   - nothing read and not yet consumed (readableLength === 0): it would never be relayed;
//   - nothing written and not yet flushed (writableLength === 0): libuv's write requests die
//     with the handle;
//   - no 'data' listener (the JS relay or a parser detached): it would never see the bytes;
//   - neither side ended (writableEnded), destroyed, still connecting, or TLS-terminated (a
//     TLSSocket's fd carries TLS records, not the plaintext Node shows).
// The handover itself is synchronous: between the checks, the dup() and destroy() (which
// closes only libuv's fd) Node does not return to its event loop, so libuv cannot read in
// between. settleForHandover() brings a session that is still relaying in JS to that state.
import type net from 'node:net';
import { PgrError } from '../errors.js';

const EMPTY = Buffer.alloc(0);

/** Node's stream handle (TCPWrap); internal, but stable on Linux since Node 0.x. */
interface StreamHandle {
  fd?: number;
  reading?: boolean;
  readStop(): number;
  readStart(): number;
}

function handleOf(socket: net.Socket): StreamHandle | null {
  return (socket as unknown as { _handle?: StreamHandle | null })._handle ?? null;
}

/** Why `socket` cannot be handed over now, or null. */
export function handoverObstacle(socket: net.Socket): string | null {
  if ('encrypted' in socket) return 'a TLS-terminated socket stays with the JS relay';
  if (socket.destroyed) return 'the socket is destroyed';
  if (socket.connecting) return 'the socket is still connecting';
  if (socket.writableEnded) return 'the socket was ended (its FIN is sent or queued)';
  if (socket.writableLength > 0) return `${socket.writableLength} written bytes are not flushed yet (settleForHandover() waits for them)`;
  if (socket.readableLength > 0) return `${socket.readableLength} bytes were read but not consumed`;
  if (socket.listenerCount('data') > 0) return "a 'data' listener is still attached";
  const fd = handleOf(socket)?.fd;
  if (typeof fd !== 'number' || fd < 0) return 'the socket has no file descriptor';
  return null;
}

/** The fds of both sockets, or a PGR_ERR_RELAY_HANDOVER error naming the first obstacle. Changes nothing. */
export function handoverFds(client: net.Socket, server: net.Socket): [number, number] {
  for (const [side, socket] of [['client', client], ['server', server]] as const) {
    const obstacle = handoverObstacle(socket);
    if (obstacle !== null) throw new PgrError('PGR_ERR_RELAY_HANDOVER', `cannot hand the ${side} socket over: ${obstacle}`);
  }
  return [handleOf(client)?.fd ?? -1, handleOf(server)?.fd ?? -1];
}

/** After the relay dup()ed the fds: Node lets go of its own (closes libuv's fd, not the connection). */
export function releaseSockets(client: net.Socket, server: net.Socket): void {
  for (const socket of [client, server]) {
    stopReading(socket);
    socket.destroy();
  }
}

/** Stops libuv reading `socket` now (Socket.pause() alone keeps reading up to highWaterMark). */
export function stopReading(socket: net.Socket): void {
  const handle = handleOf(socket);
  if (!handle || socket.destroyed) return;
  handle.reading = false;
  handle.readStop();
}

/** Undoes stopReading(): the session goes on in JS after all (e.g. the native relay is full). */
export function resumeReading(socket: net.Socket): void {
  const handle = handleOf(socket);
  if (!handle || socket.destroyed || handle.reading) return;
  handle.reading = true;
  handle.readStart();
}

/**
 * Brings two sockets that were relaying in JS to the handover state: stops reading both, writes
 * what Node already read to the peer, and resolves once both have flushed. The caller must have
 * removed its 'data' listeners first. Rejects if a socket closes or fails meanwhile. If the
 * session then stays in JS, call resumeReading() on both.
 */
export async function settleForHandover(client: net.Socket, server: net.Socket): Promise<void> {
  stopReading(client);
  stopReading(server);
  moveBuffered(client, server);
  moveBuffered(server, client);
  await Promise.all([flushed(client), flushed(server)]);
}

function moveBuffered(from: net.Socket, to: net.Socket): void {
  if (from.readableLength === 0) return;
  // read() may restart libuv's reading (Readable calls _read() below highWaterMark); it only
  // registers interest, and stopReading() below withdraws it before the event loop runs.
  for (let chunk: Buffer | null = from.read(); chunk !== null; chunk = from.read()) to.write(chunk);
  stopReading(from);
}

function flushed(socket: net.Socket): Promise<void> {
  if (socket.writableLength === 0 && !socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null): void => {
      socket.off('finish', onFinish);
      socket.off('close', onClose);
      socket.off('error', done);
      if (err) reject(new PgrError('PGR_ERR_RELAY_HANDOVER', 'a socket failed before the handover', { cause: err }));
      else resolve();
    };
    const onFinish = (): void => done();
    const onClose = (): void => done(new Error('socket closed'));
    if (socket.destroyed) return onClose();
    socket.on('close', onClose);
    socket.on('error', done);
    // Not 'drain': Node emits it only after a write() that returned false, and a smaller queue
    // the kernel could not take at once empties without one. The callback of an empty write
    // comes once everything queued before it is written; an ended socket says so with 'finish'.
    if (socket.writableEnded) socket.on('finish', onFinish);
    else socket.write(EMPTY, done);
  });
}
