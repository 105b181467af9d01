// A CancelRequest connection ("Message Flow: Canceling Requests in Progress"). It is not a
// session: it carries one packet, gets no answer, and has no backend of its own. The client
// session that read it as its first packet hands it here and is done; this sends the cancel to
// the backend that owns the key (this process's registry, or in cluster mode the primary's key
// map), or to every member that may hold a session of the listener, and closes the client.
import type net from 'node:net';
import type { TimeoutsConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { endThenDestroy } from '../relay/end-then-destroy.js';
import type { SessionRegistry } from '../sessions/registry.js';
import type { MemberView } from '../view/cluster-view.js';
import { forwardCancel } from './cancel-forwarder.js';

/** What a CancelRequest needs from its listener; the listener implements it. */
export interface CancelContext {
  readonly timeouts: TimeoutsConfig;
  readonly logger: Logger;
  readonly registry: SessionRegistry;
  /** Counts a CancelRequest by outcome (exact, broadcast, no_target, send_failed_<error>). */
  countCancel(outcome: string): void;
  /** Members to broadcast a cancel with an unknown key to. */
  cancelTargets(): readonly MemberView[];
  /** Cluster mode: the owner of a cancel key another worker relays (null: unknown). */
  readonly remoteCancelOwner?: ((pid: number, key: Buffer) => Promise<{ host: string; port: number } | null>) | undefined;
}

type Owner = { readonly backendHost: string; readonly backendPort: number };

export function handleCancelRequest(client: net.Socket, clientAddress: string, pid: number, key: Buffer, ctx: CancelContext): void {
  const ask = ctx.remoteCancelOwner;
  if (!ask || ctx.registry.findByCancelKey(pid, key) !== null) return routeCancel(client, clientAddress, pid, key, ctx, null);
  // Cluster mode: another worker may relay that session. The cancel goes out once the primary
  // answered (or its short deadline passed: broadcast).
  ask(pid, key)
    .catch((err: unknown) => {
      ctx.logger.debug({ event: 'cancel_lookup_failed', pid, err: String(err) }, 'cancel owner lookup failed, broadcasting');
      return null;
    })
    .then((owner) => routeCancel(client, clientAddress, pid, key, ctx, owner ? { backendHost: owner.host, backendPort: owner.port } : null))
    .catch((err: unknown) => ctx.logger.error({ event: 'cancel_failed', pid, err: String(err) }, 'cancel request failed'));
}

function routeCancel(client: net.Socket, clientAddress: string, pid: number, key: Buffer, ctx: CancelContext, remote: Owner | null): void {
  const outcome = forwardCancel(pid, key, {
    findOwner: (p, k) => remote ?? ctx.registry.findByCancelKey(p, k),
    targets: () => ctx.cancelTargets(),
    timeoutMs: ctx.timeouts.connect,
    keepaliveMs: ctx.timeouts.keepalive,
    onSendFailure: (reason) => ctx.countCancel(`send_failed_${reason}`),
  });
  ctx.countCancel(outcome);
  ctx.logger.debug({ event: 'cancel', client: clientAddress, pid, outcome }, 'cancel request');
  // The server closes a cancel connection without a reply; so do we.
  endThenDestroy(client);
}
