// ClusterView: the one immutable snapshot of the Patroni cluster that every consumer sees. This
// is the contract between the parts: discovery produces views, everyone else (routing, the data
// path, the planes, metrics, the HTTP surface) consumes them and imports this module, never
// discovery. Views cross IPC by value in cluster mode, so everything here is plain,
// JSON-serializable, frozen data.

/** Patroni 3.x writes "master", 4.x "primary": both normalize to "primary". */
export type MemberRole =
  | 'primary'
  | 'standby_leader'
  | 'replica'
  | 'demoted'
  | 'uninitialized'
  | 'unknown';

/** Result of one kind of REST check on one member, after HAProxy-style rise/fall. */
export interface CheckStatus {
  /** Up after rise/fall counting (and not stale). */
  readonly up: boolean;
  /** Raw result of the most recent probe; null before the first probe. */
  readonly lastOk: boolean | null;
  /** HTTP status of the most recent probe; null on a network error / timeout / none yet. */
  readonly lastStatus: number | null;
  /** Epoch ms of the most recent probe result; null before the first. */
  readonly lastAt: number | null;
  /** True when the last result is older than the staleness limit: treated as down. */
  readonly stale: boolean;
  /**
   * Replica checks only: the member answered, is a running replica, and failed only because it
   * is over the lag limit. Lets a listener drain a lagging replica instead of killing sessions.
   */
  readonly lagging: boolean;
  /** Short reason of the last failure ("503", "timeout", "ECONNREFUSED", "stale"), or null. */
  readonly error: string | null;
}

export interface MemberView {
  readonly name: string;
  /** PostgreSQL address (from conn_url in etcd, or the static config). */
  readonly host: string;
  readonly port: number;
  /** Patroni REST base URL, or null if the member did not publish one. */
  readonly api: string | null;
  /** Role as Patroni published it in etcd (static mode: derived from the probes). */
  readonly role: MemberRole;
  /** Patroni state string: running, streaming, starting, stopped, ... (null if unknown). */
  readonly state: string | null;
  readonly timeline: number | null;
  /** Replication lag in bytes behind the leader's last known optime, when computable. */
  readonly lag_bytes: number | null;
  readonly tags: Readonly<Record<string, unknown>>;
  readonly noloadbalance: boolean;
  /** Present under <namespace><scope>/members/ in etcd (always false in static mode). */
  readonly in_dcs: boolean;
  /** This member holds the leader key. */
  readonly leader_key: boolean;
  /** GET /primary (Patroni 3.x: /master is an alias). */
  readonly primary_check: CheckStatus;
  /** GET /replica?lag=<max_lag>, one per distinct max_lag of the replica listeners. Keyed by replicaCheckKey(). */
  readonly replica_checks: Readonly<Record<string, CheckStatus>>;
  // ---- maintenance roles (issue 13); absent in views built before they existed ----
  /**
   * A synchronous standby: named in the `sync` key while `synchronous_mode` is on (what
   * Patroni's GET /cluster shows as role `sync_standby`). Always false in static mode, where
   * the /sync check alone decides.
   */
  readonly sync_standby?: boolean;
  /** GET /sync?lag=<max_lag>, one per distinct max_lag of the sync listeners; absent without one. */
  readonly sync_checks?: Readonly<Record<string, CheckStatus>>;
  /** GET /read-only?lag=<max_lag>, one per distinct max_lag of the read_only listeners; absent without one. */
  readonly read_only_checks?: Readonly<Record<string, CheckStatus>>;
}

/**
 * Patroni's `failover` key (written by `patronictl switchover|failover` and POST /switchover
 * before the leader demotes itself): who is to hand over to whom, and when. Pure data; what it
 * means for routing is decided in routing/switchover.ts.
 */
export interface SwitchoverIntent {
  /** The leader to switch away from (Patroni's `leader`); null when not named (then: the current leader). */
  readonly from: string | null;
  /** The candidate (Patroni's `member`); null = any healthy member. */
  readonly to: string | null;
  /** Epoch ms of `scheduled_at`; null = at once. (A key whose time is unreadable is no intent: Patroni drops it.) */
  readonly scheduled_at: number | null;
  /** Epoch ms when discovery first saw this value of the key. */
  readonly announced_at: number;
}

export interface EtcdStatus {
  readonly connected: boolean;
  /** Epoch ms of the last full range read of the prefix. */
  readonly last_resync_at: number | null;
  /** Revision of the last applied read/event (string: etcd revisions are int64). */
  readonly revision: string | null;
  readonly error: string | null;
}

export interface ClusterView {
  /** Strictly increasing; consumers ignore a view whose generation is not newer than theirs. */
  readonly generation: number;
  /** Epoch ms when this view was derived. */
  readonly at: number;
  readonly mode: 'etcd' | 'static';
  readonly scope: string;
  /** null in static mode. */
  readonly etcd: EtcdStatus | null;
  /** Member name in the `leader` key, or null (static mode, missing key, etcd lost). */
  readonly leader_key: string | null;
  /** The confirmed primary: leader-key holder whose probe says primary. null = fail closed. */
  readonly primary: string | null;
  /** Why `primary` is what it is, e.g. "leader key node2 confirmed by /primary". */
  readonly primary_reason: string;
  /** Sorted by name. */
  readonly members: readonly MemberView[];
  /** Patroni's pending switchover (`failover` key); null or absent when none. Null while etcd is unreachable. */
  readonly switchover?: SwitchoverIntent | null;
}

/** Key of a replica check in MemberView.replica_checks: the lag limit in bytes, or "any". */
export function replicaCheckKey(maxLagBytes: number | null): string {
  return maxLagBytes === null ? 'any' : String(maxLagBytes);
}

/** The empty view consumers start from before discovery published anything. */
export function emptyView(scope: string, mode: 'etcd' | 'static'): ClusterView {
  return Object.freeze({
    generation: 0,
    at: 0,
    mode,
    scope,
    etcd: mode === 'etcd' ? Object.freeze({ connected: false, last_resync_at: null, revision: null, error: null }) : null,
    leader_key: null,
    primary: null,
    primary_reason: 'no view yet',
    members: Object.freeze([]),
    switchover: null,
  });
}
