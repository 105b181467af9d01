// The stats page's data (PURE): one StatsSnapshot from the view, the traffic counters, the
// operator's admin states and the leader history. Each backend gets an HAProxy-style state per
// listener, with the reason an operator needs to act on it.
import type { ListenerConfig } from '../config/types.js';
import { hostPort } from '../config/units.js';
import { replicaCheckKey, type CheckStatus, type ClusterView, type EtcdStatus, type MemberView } from '../view/cluster-view.js';
import type { BackendRow, BackendState, ListenerRow, StatsSnapshot } from '../http/types.js';
import type { BackendTraffic, ListenerTraffic, RelayReport } from '../sessions/types.js';
import { adminStateOf, eligibleBackends, type AdminStates } from '../routing/eligible.js';
import { NO_PAUSES, pauseOf, type PausedListeners } from '../routing/pause.js';
import { switchoverDueSince, switchoverHold } from '../routing/switchover.js';
import { noPrimaryMsTotal, type LeaderHistoryState } from './leader-history.js';
import { holdsForSwitchovers } from './switchover-history.js';

export interface BackendStatus {
  readonly state: BackendState;
  readonly reason: string;
}

const ZERO_TRAFFIC: BackendTraffic = Object.freeze({ current: 0, max: 0, total: 0, bytes_in: 0, bytes_out: 0, connect_errors: 0, killed: Object.freeze({}) });

/** Key of one backend on one listener in `lastChanges` maps. */
export function backendKey(listener: string, backend: string): string {
  return `${listener}/${backend}`;
}

/** The check that decides a non-primary member on this listener, and its path for reasons. */
function roleCheck(listener: ListenerConfig, m: MemberView): { check: CheckStatus | undefined; path: string } {
  const key = replicaCheckKey(listener.max_lag);
  if (listener.role === 'sync') return { check: m.sync_checks?.[key], path: '/sync' };
  if (listener.role === 'read_only') return { check: m.read_only_checks?.[key], path: '/read-only' };
  return { check: m.replica_checks[key], path: '/replica' };
}

function downReason(view: ClusterView, listener: ListenerConfig, m: MemberView): string {
  if (listener.role === 'primary') {
    if (m.leader_key) return m.primary_check.up ? 'leader key holder, not confirmed' : `leader key holder, /primary ${m.primary_check.error ?? 'not up yet'}`;
    return `not the primary (${m.role})`;
  }
  if (m.name === view.primary) return listener.fallback === 'primary' ? 'primary (fallback only when no replica is fit)' : 'is the primary';
  if (m.noloadbalance) return 'tagged noloadbalance';
  if (listener.role === 'sync' && view.mode === 'etcd' && m.sync_standby !== true) return 'not a synchronous standby';
  const { check, path } = roleCheck(listener, m);
  if (!check) return 'not probed yet';
  if (check.stale) return 'probe result stale';
  if (check.lagging) return 'lagging';
  return `${path} ${check.error ?? 'not up yet'}`;
}

/** HAProxy-style state of `m` for new sessions of `listener`, and why. `now` (default view.at) decides a switchover's hold. */
export function backendStatus(
  view: ClusterView,
  listener: ListenerConfig,
  m: MemberView,
  adminStates: AdminStates,
  eligible?: readonly string[],
  now: number = view.at,
): BackendStatus {
  const admin = adminStateOf(adminStates, m.name);
  if (admin === 'maint') return { state: 'MAINT', reason: 'admin maint' };
  if (admin === 'drain') return { state: 'DRAIN', reason: 'admin drain' };
  if (listener.role !== 'primary' && listener.on_lag === 'drain' && m.name !== view.primary) {
    const { check } = roleCheck(listener, m);
    if (check?.lagging === true && !check.up) return { state: 'DRAIN', reason: m.lag_bytes === null ? 'lagging' : `lagging (${m.lag_bytes} bytes)` };
  }
  if (listener.role === 'primary' && listener.on_switchover === 'hold' && switchoverHold(view, now)?.member === m.name) {
    const to = view.switchover?.to ?? null;
    return { state: 'DRAIN', reason: `switchover${to === null ? '' : ` to ${to}`} announced: new sessions wait for the new leader` };
  }
  const names = eligible ?? eligibleBackends(view, listener, adminStates, now).members.map((e) => e.name);
  if (names.includes(m.name)) {
    if (listener.role === 'primary') return { state: 'UP', reason: view.primary_reason };
    if (m.name === view.primary) return { state: 'UP', reason: listener.role === 'read_only' ? 'primary (serves reads too)' : 'fallback to the primary: no replica is fit' };
    return { state: 'UP', reason: listener.role === 'replica' ? 'replica check passed' : `${roleCheck(listener, m).path} check passed` };
  }
  return { state: 'DOWN', reason: downReason(view, listener, m) };
}

/** State of every (listener, member) pair, keyed by backendKey(). */
export function backendStates(view: ClusterView, listeners: readonly ListenerConfig[], adminStates: AdminStates, now: number = view.at): Record<string, BackendState> {
  const out = Object.create(null) as Record<string, BackendState>;
  for (const l of listeners) {
    const eligible = eligibleBackends(view, l, adminStates, now).members.map((e) => e.name);
    for (const m of view.members) out[backendKey(l.name, m.name)] = backendStatus(view, l, m, adminStates, eligible, now).state;
  }
  return out;
}

export interface SnapshotInput {
  readonly now: number;
  readonly version: string;
  readonly startedAt: number;
  readonly listeners: readonly ListenerConfig[];
  /** Actually bound "host:port" by listener name (falls back to the configured bind). */
  readonly binds: Readonly<Record<string, string>>;
  readonly view: ClusterView;
  /** The live etcd status (fresher than the view's, which is only republished on real changes). */
  readonly etcd: EtcdStatus | null;
  readonly traffic: Readonly<Record<string, ListenerTraffic>>;
  readonly adminStates: AdminStates;
  readonly history: LeaderHistoryState;
  /** Epoch ms of each backend's last state change, keyed by backendKey(). */
  readonly lastChanges: Readonly<Record<string, number>>;
  /** Sessions per worker process id. */
  readonly workers: Readonly<Record<string, number>>;
  /** The relay engine per data-path process id (absent: none reported). */
  readonly relay?: Readonly<Record<string, RelayReport>>;
  /** Issue 13: the operator's paused listeners, and the members whose drain has a deadline (epoch ms). */
  readonly paused?: PausedListeners;
  readonly drainDeadlines?: Readonly<Record<string, number>>;
}

/** `record[key]` when it is an own property: names come from outside (member names, issue 10). */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function emptyListenerTraffic(): ListenerTraffic {
  return { current: 0, total: 0, queued: 0, held: 0, bytes_in: 0, bytes_out: 0, refusals: {}, closed: {}, backends: {} };
}

function listenerRow(input: SnapshotInput, l: ListenerConfig): ListenerRow {
  const { view, adminStates } = input;
  const traffic = own(input.traffic, l.name) ?? emptyListenerTraffic();
  const paused = pauseOf(input.paused ?? NO_PAUSES, l.name);
  const eligible = eligibleBackends(view, l, adminStates, input.now).members.map((e) => e.name);
  const deadlines = input.drainDeadlines ?? {};
  const rows: BackendRow[] = view.members.map((m) => {
    const status = backendStatus(view, l, m, adminStates, eligible, input.now);
    return {
      name: m.name,
      address: hostPort(m.host, m.port),
      role: m.role,
      state: status.state,
      admin_state: adminStateOf(adminStates, m.name),
      reason: status.reason,
      lag_bytes: m.lag_bytes,
      traffic: own(traffic.backends, m.name) ?? ZERO_TRAFFIC,
      last_change_at: own(input.lastChanges, backendKey(l.name, m.name)) ?? null,
      drain_deadline_at: own(deadlines, m.name) ?? null,
    };
  });
  // A member that left the view while sessions still run on it stays visible until they end.
  for (const [name, t] of Object.entries(traffic.backends)) {
    if (t.current === 0 || view.members.some((m) => m.name === name)) continue;
    rows.push({
      name,
      address: '',
      role: 'unknown',
      state: adminStateOf(adminStates, name) === 'maint' ? 'MAINT' : 'DOWN',
      admin_state: adminStateOf(adminStates, name),
      reason: 'not in the cluster view',
      lag_bytes: null,
      traffic: t,
      last_change_at: own(input.lastChanges, backendKey(l.name, name)) ?? null,
    });
  }
  return {
    name: l.name,
    bind: own(input.binds, l.name) ?? hostPort(l.bind.host, l.bind.port),
    role: l.role,
    can_route: eligible.length > 0 && paused === null,
    paused,
    traffic,
    backends: rows,
  };
}

/** The pending switchover, and since when new RW sessions are held for it (never when no listener holds). */
function switchoverRow(view: ClusterView, now: number, holds: boolean): StatsSnapshot['switchover'] {
  const intent = view.switchover ?? null;
  if (intent === null) return null;
  const holding = holds && (switchoverHold(view, now) !== null || (view.primary === null && switchoverDueSince(intent, now) !== null));
  return { ...intent, holding_since: holding ? switchoverDueSince(intent, now) : null };
}

export function buildStatsSnapshot(input: SnapshotInput): StatsSnapshot {
  const { view } = input;
  return {
    at: input.now,
    version: input.version,
    started_at: input.startedAt,
    scope: view.scope,
    mode: view.mode,
    generation: view.generation,
    primary: view.primary,
    primary_reason: view.primary_reason,
    leader_key: view.leader_key,
    etcd: input.etcd,
    listeners: input.listeners.map((l) => listenerRow(input, l)),
    leader_history: input.history.changes,
    no_primary_ms_total: noPrimaryMsTotal(input.history, input.now),
    workers: input.workers,
    relay: input.relay ?? {},
    switchover: switchoverRow(view, input.now, holdsForSwitchovers(input.listeners)),
  };
}
