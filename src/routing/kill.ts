// Which established sessions a new ClusterView condemns (PURE).
//
// HAProxy's "on-marked-down shutdown-sessions" is what makes a switchover safe: a session left
// on a former primary would keep writing to a node that is no longer the leader (or fail much
// later). We decide per listener:
//   primary listener: the backend is not view.primary any more        → 'not_primary'
//   replica listener: the backend's replica check is down              → 'marked_down'
//                     ... but lagging with on_lag: drain               → kept (no new sessions)
//                     the backend was promoted (is view.primary now)   → 'marked_down'
//                     a fallback session (on the primary) when that
//                     member is no longer the primary or is gone       → 'not_primary'
//   sync listener (issue 13): as a replica listener, with its /sync check, and
//                     the backend is no longer a sync standby (the `sync`
//                     key moved on, etcd mode)                         → 'not_sync'
//   read_only listener: the backend is the primary                      → kept
//                     otherwise as a replica listener, /read-only check
//   on_marked_down: keep                                               → nothing is killed
import type { ListenerConfig } from '../config/types.js';
import { replicaCheckKey, type CheckStatus, type ClusterView, type MemberView } from '../view/cluster-view.js';

/** Why a new view condemns a session. */
export type ViewKillReason = 'not_primary' | 'marked_down' | 'not_sync';
/**
 * Why a session was killed: by a view, by an operator (admin API, "shutdown sessions server"),
 * or by the deadline of a drain the operator set (issue 13).
 */
export type KillReason = ViewKillReason | 'admin' | 'drain_timeout';
/** Every KillReason (IPC validates kill requests against it). */
export const KILL_REASONS: readonly KillReason[] = ['not_primary', 'marked_down', 'not_sync', 'admin', 'drain_timeout'];

export interface SessionRef {
  readonly id: string;
  /** Member name the session is connected to. */
  readonly backend: string;
  /** Reached through the replica listener's fallback to the primary. */
  readonly viaFallback?: boolean;
}

export interface KillBatch {
  readonly reason: ViewKillReason;
  readonly backend: string;
  readonly ids: string[];
}

/**
 * The check that judges `member` for a replica, sync or read_only listener: /replica, /sync or
 * /read-only (by its role) at the listener's lag limit; undefined when the view has none.
 */
export function listenerCheck(listener: ListenerConfig, member: MemberView | undefined): CheckStatus | undefined {
  const key = replicaCheckKey(listener.max_lag);
  if (listener.role === 'sync') return member?.sync_checks?.[key];
  if (listener.role === 'read_only') return member?.read_only_checks?.[key];
  return member?.replica_checks[key];
}

/**
 * A member of a sync listener that Patroni's `sync` key does not name (etcd mode: the key moves
 * at once when Patroni picks another standby, the /sync probe follows by rise/fall). Static
 * mode has no key: the check alone decides.
 */
export function notSyncStandby(view: ClusterView, listener: ListenerConfig, member: MemberView): boolean {
  return listener.role === 'sync' && view.mode === 'etcd' && member.sync_standby !== true;
}

/**
 * Why `view` condemns a session of `listener` on `session.backend`; null: it may stay. The one
 * rule for "who may hold a session": kills ask it, and so do cancels (eligible.ts cancelTargets).
 */
export function sessionVerdict(view: ClusterView, listener: ListenerConfig, session: Omit<SessionRef, 'id'>): ViewKillReason | null {
  if (listener.on_marked_down === 'keep') return null;
  if (listener.role === 'primary' || session.viaFallback === true) {
    return session.backend === view.primary ? null : 'not_primary';
  }
  // read_only: the primary serves reads too (Patroni's /read-only answers 200 on the leader).
  if (listener.role === 'read_only' && session.backend === view.primary) return null;
  // A replica promoted under a read-only session: it is the primary now, not a replica.
  if (session.backend === view.primary) return 'marked_down';
  const member = view.members.find((m) => m.name === session.backend);
  if (member !== undefined && notSyncStandby(view, listener, member)) return 'not_sync';
  const check = listenerCheck(listener, member);
  if (check?.up === true) return null;
  if (check?.lagging === true && listener.on_lag === 'drain') return null;
  return 'marked_down';
}

/** Sessions of one listener to destroy now, grouped by (backend, reason) for one log line each. */
export function sessionsToKill(view: ClusterView, listener: ListenerConfig, sessions: Iterable<SessionRef>): KillBatch[] {
  if (listener.on_marked_down === 'keep') return [];
  const batches = new Map<string, KillBatch>();
  for (const s of sessions) {
    const reason = sessionVerdict(view, listener, s);
    if (reason === null) continue;
    const k = `${reason}\0${s.backend}`;
    let batch = batches.get(k);
    if (!batch) {
      batch = { reason, backend: s.backend, ids: [] };
      batches.set(k, batch);
    }
    batch.ids.push(s.id);
  }
  return [...batches.values()];
}
