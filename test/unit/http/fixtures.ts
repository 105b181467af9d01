// A fake RouterControl and snapshot builders for the HTTP unit tests.
import type { ClusterView, MemberView } from '../../../src/view/cluster-view.js';
import type { AdminState, BackendRow, ListenerRow, RouterControl, StatsSnapshot } from '../../../src/http/types.js';
import type { ListenerPause, PausedListeners } from '../../../src/routing/pause.js';
import type { BackendTraffic, ListenerTraffic, SessionInfo } from '../../../src/sessions/types.js';

export const NOW = Date.UTC(2025, 2, 1, 12, 0, 0);

export function traffic(over: Partial<BackendTraffic> = {}): BackendTraffic {
  return { current: 0, max: 0, total: 0, bytes_in: 0, bytes_out: 0, connect_errors: 0, killed: {}, ...over };
}

export function backend(name: string, over: Partial<BackendRow> = {}): BackendRow {
  return {
    name,
    address: `10.0.0.${name.replace(/\D/g, '') || '9'}:5432`,
    role: 'replica',
    state: 'UP',
    admin_state: 'ready',
    reason: 'check passed',
    lag_bytes: 0,
    traffic: traffic(),
    last_change_at: NOW - 65_000,
    ...over,
  };
}

export function listener(name: string, role: ListenerRow['role'], backends: BackendRow[], over: Partial<ListenerRow> = {}): ListenerRow {
  const t: ListenerTraffic = { current: 0, total: 0, queued: 0, held: 0, bytes_in: 0, bytes_out: 0, refusals: {}, closed: {}, backends: {} };
  return { name, bind: role === 'primary' ? ':5432' : ':5433', role, can_route: backends.some((b) => b.state === 'UP'), paused: null, traffic: t, backends, ...over };
}

/** node1 primary, node2 and node3 fit replicas; rw and ro listeners. */
export function snapshot(over: Partial<StatsSnapshot> = {}): StatsSnapshot {
  return {
    at: NOW,
    version: '0.1.0',
    started_at: NOW - 3_600_000,
    scope: 'demo',
    mode: 'etcd',
    generation: 42,
    primary: 'node1',
    primary_reason: 'leader key node1 confirmed by /primary',
    leader_key: 'node1',
    etcd: { connected: true, last_resync_at: NOW - 5_000, revision: '1234', error: null },
    listeners: [
      listener('rw', 'primary', [
        backend('node1', { role: 'primary', lag_bytes: null, traffic: traffic({ current: 3, max: 7, total: 120, bytes_in: 2048, bytes_out: 1_572_864 }) }),
        backend('node2', { state: 'DOWN', reason: 'not the primary' }),
        backend('node3', { state: 'DOWN', reason: 'not the primary' }),
      ]),
      listener('ro', 'replica', [
        backend('node1', { role: 'primary', state: 'DOWN', reason: 'fallback only', lag_bytes: null }),
        backend('node2', { traffic: traffic({ current: 2, max: 4, total: 50 }) }),
        backend('node3', { lag_bytes: 3 * 1024 * 1024, traffic: traffic({ current: 1, max: 2, total: 20 }) }),
      ]),
    ],
    leader_history: [
      { at: NOW - 600_000, from: null, to: 'node1', reason: 'leader key node1 confirmed by /primary', generation: 12, outage_ms: 1350 },
      { at: NOW - 601_350, from: 'node3', to: null, reason: 'leader key deleted', generation: 11, outage_ms: null },
    ],
    no_primary_ms_total: 1350,
    workers: { '4242': 6 },
    switchover: null,
    ...over,
  };
}

function member(name: string): MemberView {
  const check = { up: true, lastOk: true, lastStatus: 200, lastAt: NOW, stale: false, lagging: false, error: null };
  return {
    name,
    host: '10.0.0.1',
    port: 5432,
    api: null,
    role: 'replica',
    state: 'streaming',
    timeline: 1,
    lag_bytes: 0,
    tags: {},
    noloadbalance: false,
    in_dcs: true,
    leader_key: false,
    primary_check: check,
    replica_checks: {},
  };
}

export class FakeControl implements RouterControl {
  snap: StatsSnapshot = snapshot();
  states: Record<string, AdminState> = {};
  readonly calls: string[] = [];
  sessionList: SessionInfo[] = [];
  members = ['node1', 'node2', 'node3'];
  snapshotError: Error | null = null;

  view(): ClusterView {
    return { generation: 42, at: NOW, mode: 'etcd', scope: 'demo', etcd: null, leader_key: 'node1', primary: 'node1', primary_reason: '', members: this.members.map(member) };
  }

  snapshot(): StatsSnapshot {
    if (this.snapshotError) throw this.snapshotError;
    return this.snap;
  }

  metricsText(): Promise<string> {
    return Promise.resolve('# HELP pgrouter_up 1 while running\n# TYPE pgrouter_up gauge\npgrouter_up 1\n');
  }

  metricsContentType(): string {
    return 'text/plain; version=0.0.4; charset=utf-8';
  }

  deadlines: Record<string, number> = {};
  paused: Record<string, ListenerPause> = {};
  listeners = ['rw', 'ro'];

  setAdminState(m: string, state: AdminState, opts: { timeoutMs?: number } = {}): void {
    this.calls.push(`setAdminState ${m} ${state}${opts.timeoutMs === undefined ? '' : ` ${opts.timeoutMs}`}`);
    this.states[m] = state;
    delete this.deadlines[m];
    if (opts.timeoutMs !== undefined) this.deadlines[m] = NOW + opts.timeoutMs;
  }

  drainDeadlines(): Readonly<Record<string, number>> {
    return { ...this.deadlines };
  }

  pauseListener(name: string, holdMs = 15_000): ListenerPause {
    this.calls.push(`pause ${name} ${holdMs}`);
    const pause = { since: NOW, hold_ms: holdMs };
    this.paused[name] = pause;
    return pause;
  }

  resumeListener(name: string): ListenerPause | null {
    this.calls.push(`resume ${name}`);
    const was = this.paused[name] ?? null;
    delete this.paused[name];
    return was;
  }

  pausedListeners(): PausedListeners {
    return { ...this.paused };
  }

  listenerNames(): readonly string[] {
    return this.listeners;
  }

  adminStates(): Readonly<Record<string, AdminState>> {
    return { ...this.states };
  }

  killBackendSessions(m: string): Promise<number> {
    this.calls.push(`kill ${m}`);
    return Promise.resolve(3);
  }

  sessions(): Promise<readonly SessionInfo[]> {
    return Promise.resolve(this.sessionList);
  }
}
