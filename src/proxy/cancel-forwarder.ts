// Sends one CancelRequest to one backend (or peer router) on a fresh connection ("Message Flow:
// Canceling Requests in Progress"): connect, send the packet, close. The server never answers;
// it closes. `done` is called exactly once, when the connection is over (cancel-request.ts
// gives its cap slot back then).
import { connectBackend } from './backend-connect.js';
import { errorLabel } from '../errors.js';

export type CancelSendOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export function sendCancel(
  target: { host: string; port: number },
  packet: Buffer,
  opts: { timeoutMs: number; keepaliveMs: number },
  done: (outcome: CancelSendOutcome) => void,
): void {
  connectBackend(target, opts, (result) => {
    if (!result.ok) {
      done({ ok: false, reason: result.reason });
      return;
    }
    const socket = result.socket;
    let reported = false;
    const report = (outcome: CancelSendOutcome): void => {
      if (reported) return;
      reported = true;
      done(outcome);
    };
    // Bound the whole exchange: a server that never closes must not keep the socket forever.
    socket.setTimeout(opts.timeoutMs, () => socket.destroy());
    socket.on('error', (err: Error) => report({ ok: false, reason: errorLabel(err) }));
    socket.on('close', () => report({ ok: true }));
    socket.resume();
    socket.end(packet);
  });
}
