// Closing one socket politely: flush what is queued, then destroy it. Used by the relay when one
// side closed (the other still has bytes to deliver) and by the proxy for a refused client (its
// ErrorResponse must arrive before the close).
import type net from 'node:net';

/** How long a socket may take to flush its pending bytes before it is destroyed anyway. */
const CLOSE_LINGER_MS = 10_000;

/** Ends `socket` (flushing what is queued) and destroys it once flushed, or after a linger limit. */
export function endThenDestroy(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.writableFinished) {
    socket.destroy();
    return;
  }
  const linger = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  socket.once('finish', () => socket.destroy());
  if (!socket.writableEnded) socket.end();
}
