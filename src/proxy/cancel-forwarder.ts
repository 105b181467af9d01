// Forwards one CancelRequest to one backend on a fresh connection ("Message Flow: Canceling
// Requests in Progress"): connect, send the packet, close. The server never answers; it closes.
import { connectBackend } from './backend-connect.js';
import { errorLabel } from '../errors.js';
import { cancelRequestPacket } from '../protocol/messages.js';

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

export type CancelOutcome = 'exact' | 'broadcast' | 'no_target';

/**
 * Routes a CancelRequest: to the exact backend when this process relays the session with that
 * key, otherwise to every member that may hold a session of the listener (`targets`). Returns
 * what it did; send failures are reported through `onSendFailure`.
 */
export function forwardCancel(
  pid: number,
  key: Buffer,
  deps: {
    findOwner(pid: number, key: Buffer): { backendHost: string; backendPort: number } | null;
    targets(): ReadonlyArray<{ host: string; port: number }>;
    timeoutMs: number;
    keepaliveMs: number;
    onSendFailure(reason: string): void;
  },
): CancelOutcome {
  const packet = cancelRequestPacket(pid, key);
  const opts = { timeoutMs: deps.timeoutMs, keepaliveMs: deps.keepaliveMs };
  const report = (outcome: CancelSendOutcome): void => {
    if (!outcome.ok) deps.onSendFailure(outcome.reason);
  };
  const owner = deps.findOwner(pid, key);
  if (owner) {
    sendCancel({ host: owner.backendHost, port: owner.backendPort }, packet, opts, report);
    return 'exact';
  }
  const targets = deps.targets();
  if (targets.length === 0) return 'no_target';
  for (const t of targets) sendCancel({ host: t.host, port: t.port }, packet, opts, report);
  return 'broadcast';
}
