// One TCP connection attempt to a backend, bounded by timeouts.connect.
import net from 'node:net';
import { errorLabel } from '../errors.js';

export type ConnectResult = { readonly ok: true; readonly socket: net.Socket } | { readonly ok: false; readonly reason: string };

export interface ConnectAttempt {
  /** Abandons the attempt (the callback is not called). */
  abort(): void;
}

/** Errors after we gave up on a socket: it is destroyed and the outcome was already decided. */
function ignoreLateError(): void {
  return undefined;
}

export function connectBackend(
  target: { host: string; port: number },
  opts: { timeoutMs: number; keepaliveMs: number },
  done: (result: ConnectResult) => void,
): ConnectAttempt {
  let settled = false;
  // allowHalfOpen: the relay forwards each direction's FIN on its own (see relay/js-relay.ts).
  const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  /** Settles once: stops the timer and the connect listeners; a socket given up is destroyed. */
  const settle = (giveUp: boolean): boolean => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    socket.removeListener('error', onError);
    socket.removeListener('connect', onConnect);
    if (giveUp) {
      // A destroyed socket may still report a late error; the outcome was already decided.
      socket.on('error', ignoreLateError);
      socket.destroy();
    }
    return true;
  };
  const finish = (result: ConnectResult): void => {
    if (settle(!result.ok)) done(result);
  };
  const onError = (err: unknown): void => finish({ ok: false, reason: errorLabel(err) });
  const onConnect = (): void => {
    socket.setKeepAlive(true, opts.keepaliveMs);
    finish({ ok: true, socket });
  };
  const timer = setTimeout(() => finish({ ok: false, reason: 'timeout' }), opts.timeoutMs);
  socket.once('connect', onConnect);
  socket.on('error', onError);
  return {
    abort: () => void settle(true),
  };
}
