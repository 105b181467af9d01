// What the HTTP surface (/stats, /stats.json, /health*, /ready, admin API, `pgrouter status`)
// defines: RouterControl, what it needs from the router, and the replies it renders. Plain
// JSON-serializable data. The traffic shapes inside them belong to the data path
// (sessions/types.ts); the HTTP surface only shows them.
import type { ClusterView, EtcdStatus, SwitchoverIntent } from '../view/cluster-view.js';
import type { ConfigIssue, ListenerRole } from '../config/types.js';
import type { AdminState } from '../routing/eligible.js';
import type { ListenerPause, PausedListeners } from '../routing/pause.js';
import type { BackendTraffic, ListenerTraffic, RelayReport, SessionInfo } from '../sessions/types.js';

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
  /**
   * Issue 13, only on a change that ends a switchover pgrouter held new RW sessions for: ms from
   * the moment the outgoing leader stopped taking them until this confirmation (it covers
   * outage_ms), and how many clients were held meanwhile (workers: 1 exact; cluster mode from the
   * workers' reports, at most 1 s old). An abandoned switchover ends with the leader it started
   * from taking new sessions again: an entry with from === to, or its confirmation after an outage.
   */
  readonly held_ms?: number;
  readonly held_clients?: number;
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
  /** Issue 13: a drain with a deadline closes the member's remaining sessions at this epoch ms. */
  readonly drain_deadline_at?: number | null;
}

export interface ListenerRow {
  readonly name: string;
  readonly bind: string;
  readonly role: ListenerRole;
  /** True while this listener has at least one backend to route a new session to (and is not paused). */
  readonly can_route: boolean;
  /** Issue 13: paused by the operator (new clients held, /health/<listener> 503); null when not. */
  readonly paused: ListenerPause | null;
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
  /** The relay engine per data-path process id (native or js; each process picks its own). */
  readonly relay: Readonly<Record<string, RelayReport>>;
  /**
   * Issue 13: Patroni's pending switchover, and since when (epoch ms) new RW sessions are held
   * for it (null: scheduled for later, or not holding). Null when none.
   */
  readonly switchover: (SwitchoverIntent & { readonly holding_since: number | null }) | null;
}

/** What the HTTP server needs from the router. Implemented by the Router (router/router.ts). */
export interface RouterControl {
  view(): ClusterView;
  snapshot(): StatsSnapshot;
  metricsText(): Promise<string>;
  metricsContentType(): string;
  /** `timeoutMs` (drain only, issue 13): close the member's remaining sessions after it; a later state change cancels it. */
  setAdminState(member: string, state: AdminState, opts?: { readonly timeoutMs?: number }): void;
  adminStates(): Readonly<Record<string, AdminState>>;
  /** Epoch ms when each member's drain deadline closes its remaining sessions. */
  drainDeadlines(): Readonly<Record<string, number>>;
  /** Issue 13: hold new clients of this (configured) listener up to `holdMs` (default timeouts.connect_wait). */
  pauseListener(name: string, holdMs?: number): ListenerPause;
  /** Releases its held clients; returns the pause that ended, or null if it was not paused. */
  resumeListener(name: string): ListenerPause | null;
  pausedListeners(): PausedListeners;
  /** Names of the configured listeners (the admin API checks a name before pausing). */
  listenerNames(): readonly string[];
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
