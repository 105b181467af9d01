// A CancelRequest connection ("Message Flow: Canceling Requests in Progress"). It is not a
// session: it carries one packet, gets no answer, and has no backend of its own. The client
// session that read it as its first packet hands it here and is done; this routes the cancel
// and closes the client:
//   - to the backend that owns the key (this process's registry, or in cluster mode the
//     primary's key map), with the backend's real key when the client holds one pgrouter made;
//   - with cancel.rewrite_keys, a key another instance made goes to that peer unchanged, and a
//     key nobody owns is dropped (cancel-keys.ts);
//   - otherwise to every member that may hold a session of the listener (a key pgrouter never
//     saw, e.g. TLS pass-through: PostgreSQL ignores a wrong key, so this never loses one).
// Every outgoing connection counts against cancel.max_inflight and the client's own cap; a
// cancel over either is dropped whole (issue 10, defect 4). Outcomes are counted per listener.
import type net from 'node:net';
import type { TimeoutsConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { BackendKey } from '../protocol/cancel-key.js';
import { cancelRequestPacket } from '../protocol/messages.js';
import { endThenDestroy } from '../relay/end-then-destroy.js';
import type { SessionRegistry } from '../sessions/registry.js';
import type { MemberView } from '../view/cluster-view.js';
import { sendCancel } from './cancel-forwarder.js';
import { cancelRoute, type CancelRoute, type CancelState } from './cancel-keys.js';

/** Where a cancel goes: a backend, with the key it knows when the client holds another. */
export interface CancelOwner {
  readonly host: string;
  readonly port: number;
  /** The backend's own key, when the client was given one pgrouter made; null: the client's. */
  readonly key: BackendKey | null;
}

export type CancelOutcome = 'exact' | 'broadcast' | 'no_target' | 'dropped_unknown' | 'dropped_limit' | 'forwarded_peer';

/** What a CancelRequest needs from its listener; the listener implements it. */
export interface CancelContext {
  readonly timeouts: TimeoutsConfig;
  readonly logger: Logger;
  readonly registry: SessionRegistry;
  /** The cancel section of the running config, the process-wide caps, the key maker (rewrite_keys). */
  readonly cancel: CancelState;
  /** Counts a CancelRequest by outcome (CancelOutcome, or send_failed_<error> per failed send). */
  countCancel(outcome: string): void;
  /** Members to broadcast a cancel with an unknown key to. */
  cancelTargets(): readonly MemberView[];
  /** Cluster mode: the owner of a cancel key another worker relays (null: unknown). */
  readonly remoteCancelOwner?: ((pid: number, key: Buffer) => Promise<CancelOwner | null>) | undefined;
}

export function handleCancelRequest(client: net.Socket, clientAddress: string, pid: number, key: Buffer, ctx: CancelContext): void {
  const route = cancelRoute(pid, ctx.cancel.config);
  // The client's address as the session knows it ("ip:port"): behind a load balancer speaking
  // the PROXY protocol, the real client's, so the per-client cap is not the balancer's.
  const colon = clientAddress.lastIndexOf(':');
  const c = { client, clientAddress, ip: colon > 0 ? clientAddress.slice(0, colon) : clientAddress, pid, key, ctx };
  if (route.kind === 'peer' || route.kind === 'unknown') return finish(c, route, null);
  const local = ctx.registry.findByCancelKey(pid, key);
  const ask = ctx.remoteCancelOwner;
  if (local || !ask) {
    const owner = local ? { host: local.backendHost, port: local.backendPort, key: local.cancelKey } : null;
    return finish(c, route, owner);
  }
  // Cluster mode: another worker may relay that session. The cancel goes out once the primary
  // answered (or its short deadline passed).
  ask(pid, key)
    .catch((err: unknown) => {
      ctx.logger.debug({ event: 'cancel_lookup_failed', pid, err: String(err) }, 'cancel owner lookup failed');
      return null;
    })
    .then((owner) => finish(c, route, owner))
    .catch((err: unknown) => ctx.logger.error({ event: 'cancel_failed', pid, err: String(err) }, 'cancel request failed'));
}

interface Cancel {
  readonly client: net.Socket;
  readonly clientAddress: string;
  /** The client's IP address: the per-client cap's key. */
  readonly ip: string;
  readonly pid: number;
  readonly key: Buffer;
  readonly ctx: CancelContext;
}

function finish(c: Cancel, route: CancelRoute, owner: CancelOwner | null): void {
  const outcome = dispatch(c, route, owner);
  c.ctx.countCancel(outcome);
  c.ctx.logger.debug({ event: 'cancel', client: c.clientAddress, pid: c.pid, outcome, route: route.kind }, 'cancel request');
  // The server closes a cancel connection without a reply; so do we.
  endThenDestroy(c.client);
}

function dispatch(c: Cancel, route: CancelRoute, owner: CancelOwner | null): CancelOutcome {
  const asSent = cancelRequestPacket(c.pid, c.key);
  if (route.kind === 'peer') return send(c, [route], asSent, 'forwarded_peer');
  if (route.kind === 'unknown') return 'dropped_unknown';
  if (owner) return send(c, [owner], owner.key ? cancelRequestPacket(owner.key.pid, owner.key.key) : asSent, 'exact');
  // A key this instance made that no session holds any more: nobody to cancel.
  if (route.kind === 'own') return 'dropped_unknown';
  const targets = c.ctx.cancelTargets();
  if (targets.length === 0) return 'no_target';
  return send(c, targets, asSent, 'broadcast');
}

/** One connection per target, all or none within the caps. */
function send(c: Cancel, targets: ReadonlyArray<{ host: string; port: number }>, packet: Buffer, outcome: CancelOutcome): CancelOutcome {
  const { ctx } = c;
  if (!ctx.cancel.limiter.tryAcquire(c.ip, targets.length)) return 'dropped_limit';
  const opts = { timeoutMs: ctx.timeouts.connect, keepaliveMs: ctx.timeouts.keepalive };
  for (const t of targets) {
    sendCancel({ host: t.host, port: t.port }, packet, opts, (result) => {
      ctx.cancel.limiter.release(c.ip);
      if (!result.ok) ctx.countCancel(`send_failed_${result.reason}`);
    });
  }
  return outcome;
}
