// What the HTTP surface (/stats, /stats.json, /health*, /ready, admin API, `pgrouter status`)
// defines: RouterControl, what it needs from the router, and the replies it renders. Plain
// JSON-serializable data. The traffic shapes inside them belong to the data path
// (sessions/types.ts); the HTTP surface only shows them.
import type { ClusterView, EtcdStatus } from '../view/cluster-view.js';
import type { ConfigIssue } from '../config/types.js';
import type { AdminState } from '../routing/eligible.js';
import type { BackendTraffic, ListenerTraffic, SessionInfo } from '../sessions/types.js';

/** Operator-set state of a member, like HAProxy's `set server state`. Default 'ready'. */
export type { AdminState };

/** Shown per backend per listener, HAProxy-style. */
export type BackendState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT';

/** A change of the confirmed primary. */
export interface LeaderChange {
  readonly at: number;
  readonly from: string | null;
  readonly to: string | null;
  readonly reason: string;
  readonly generation: number;
  /**
   * For a change that ends a period without a confirmed primary (to !== null): how long
   * there was none, in ms (0 when the primary moved directly). null for a loss (to === null),
   * and for the first confirmation after the router started (no outage ended there).
   */
  readonly outage_ms: number | null;
}

export interface BackendRow {
  readonly name: string;
  readonly address: string;
  readonly role: string;
  readonly state: BackendState;
  readonly admin_state: AdminState;
  /** Why the state is what it is ("check passed", "503", "lagging", "admin maint", ...). */
  readonly reason: string;
  readonly lag_bytes: number | null;
  readonly traffic: BackendTraffic;
  /** Epoch ms of the last state change seen for this backend on this listener. */
  readonly last_change_at: number | null;
}

export interface ListenerRow {
  readonly name: string;
  readonly bind: string;
  readonly role: 'primary' | 'replica';
  /** True while this listener has at least one backend to route a new session to. */
  readonly can_route: boolean;
  readonly traffic: ListenerTraffic;
  readonly backends: readonly BackendRow[];
}

export interface StatsSnapshot {
  readonly at: number;
  readonly version: string;
  readonly started_at: number;
  readonly scope: string;
  readonly mode: 'etcd' | 'static';
  readonly generation: number;
  readonly primary: string | null;
  readonly primary_reason: string;
  readonly leader_key: string | null;
  readonly etcd: EtcdStatus | null;
  readonly listeners: readonly ListenerRow[];
  /** Newest first, at most 20. */
  readonly leader_history: readonly LeaderChange[];
  /** Total ms without a confirmed primary since start (after the first confirmation). */
  readonly no_primary_ms_total: number;
  /** Sessions per worker process id (one entry when workers = 1). */
  readonly workers: Readonly<Record<string, number>>;
}

/** What the HTTP server needs from the router. Implemented by the Router (router/router.ts). */
export interface RouterControl {
  view(): ClusterView;
  snapshot(): StatsSnapshot;
  metricsText(): Promise<string>;
  metricsContentType(): string;
  setAdminState(member: string, state: AdminState): void;
  adminStates(): Readonly<Record<string, AdminState>>;
  /** Closes every session on that member (all listeners, every worker); resolves with how many. */
  killBackendSessions(member: string): Promise<number>;
  sessions(): Promise<readonly SessionInfo[]>;
}

/**
 * POST /admin/reload's answer: the outcome of the reload use case (the same one SIGHUP runs),
 * in the HTTP surface's terms. The Router hands the use case to the HTTP server as a function
 * (HttpServerOptions.reload), so the surface never imports the planes that run it.
 */
export type ReloadReply =
  | { readonly ok: true; readonly changes: string; readonly restartNeeded: readonly string[] }
  | { readonly ok: false; readonly reason: 'invalid'; readonly issues: readonly ConfigIssue[] }
  | { readonly ok: false; readonly reason: 'apply_failed'; readonly error: string };
