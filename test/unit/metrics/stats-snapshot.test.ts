import { describe, expect, it } from 'vitest';
import type { ListenerConfig } from '../../../src/config/types.js';
import type { ListenerTraffic } from '../../../src/sessions/types.js';
import { INITIAL_LEADER_HISTORY, nextLeaderHistory } from '../../../src/metrics/leader-history.js';
import { backendKey, backendStates, buildStatsSnapshot, type SnapshotInput } from '../../../src/metrics/stats-snapshot.js';
import type { AdminStates } from '../../../src/routing/eligible.js';
import { listenerConfig } from '../proxy/helpers/config.js';
import { check, member, view } from '../proxy/helpers/view.js';

const rw = listenerConfig({ name: 'rw', role: 'primary' });
const ro = listenerConfig({ name: 'ro', role: 'replica', on_lag: 'drain' });

const lagging = { ...member({ name: 'n3', replica: { any: check(false, { lagging: true, error: 'lagging' }) } }), lag_bytes: 5_000_000 };
const cluster = view(7, [member({ name: 'n1' }), member({ name: 'n2' }), lagging], 'n1');

function input(over: Partial<SnapshotInput> = {}): SnapshotInput {
  return {
    now: 50_000,
    version: '1.2.3',
    startedAt: 1_000,
    listeners: [rw, ro],
    binds: { rw: '127.0.0.1:6432', ro: '127.0.0.1:6433' },
    view: cluster,
    etcd: null,
    traffic: {},
    adminStates: {},
    history: INITIAL_LEADER_HISTORY,
    lastChanges: {},
    workers: { '42': 0 },
    relay: { '42': { engine: 'native', native_sessions: 0, js_fallbacks: {} } },
    ...over,
  };
}

function states(listener: string, admin: AdminStates = {}, listeners: ListenerConfig[] = [rw, ro]): Record<string, string> {
  const snap = buildStatsSnapshot(input({ adminStates: admin, listeners }));
  const row = snap.listeners.find((l) => l.name === listener);
  return Object.fromEntries((row?.backends ?? []).map((b) => [b.name, `${b.state}: ${b.reason}`]));
}

describe('buildStatsSnapshot backend states', () => {
  it('shows the confirmed primary UP on the RW listener and every other member DOWN', () => {
    expect(states('rw')).toEqual({
      n1: 'UP: n1 confirmed',
      n2: 'DOWN: not the primary (replica)',
      n3: 'DOWN: not the primary (replica)',
    });
  });

  it('shows fit replicas UP, the primary DOWN and a lagging replica DRAIN on an RO listener with on_lag: drain', () => {
    expect(states('ro')).toEqual({
      n1: 'DOWN: is the primary',
      n2: 'UP: replica check passed',
      n3: 'DRAIN: lagging (5000000 bytes)',
    });
  });

  it('shows a lagging replica DOWN when the listener shuts lagging replicas down', () => {
    const roShutdown = listenerConfig({ name: 'ro', role: 'replica', on_lag: 'shutdown' });
    expect(states('ro', {}, [rw, roShutdown])['n3']).toBe('DOWN: lagging');
  });

  it('shows admin maint as MAINT and admin drain as DRAIN on every listener, whatever the checks say', () => {
    const admin: AdminStates = { n1: 'maint', n2: 'drain' };
    expect(states('rw', admin)).toMatchObject({ n1: 'MAINT: admin maint', n2: 'DRAIN: admin drain' });
    expect(states('ro', admin)).toMatchObject({ n1: 'MAINT: admin maint', n2: 'DRAIN: admin drain' });
    const snap = buildStatsSnapshot(input({ adminStates: admin }));
    expect(snap.listeners[0]?.backends.find((b) => b.name === 'n1')?.admin_state).toBe('maint');
    expect(snap.listeners[0]?.backends.find((b) => b.name === 'n3')?.admin_state).toBe('ready');
  });

  it('says can_route only while the listener has a backend for a new session', () => {
    expect(buildStatsSnapshot(input()).listeners.map((l) => [l.name, l.can_route])).toEqual([
      ['rw', true],
      ['ro', true],
    ]);
    const drained = buildStatsSnapshot(input({ adminStates: { n1: 'drain', n2: 'maint' } }));
    expect(drained.listeners.map((l) => [l.name, l.can_route])).toEqual([
      ['rw', false],
      ['ro', false],
    ]);
    const none = buildStatsSnapshot(input({ view: view(8, cluster.members.slice(), null) }));
    expect(none.listeners[0]?.can_route).toBe(false);
    expect(none.primary).toBeNull();
  });

  it('shows the primary UP on a replica listener with fallback: primary once no replica is fit', () => {
    const roFallback = listenerConfig({ name: 'ro', role: 'replica', fallback: 'primary' });
    const noReplica = view(9, [member({ name: 'n1' }), member({ name: 'n2', replica: { any: check(false) } })], 'n1');
    const snap = buildStatsSnapshot(input({ listeners: [roFallback], view: noReplica }));
    expect(snap.listeners[0]?.backends.map((b) => [b.name, b.state, b.reason])).toEqual([
      ['n1', 'UP', 'fallback to the primary: no replica is fit'],
      ['n2', 'DOWN', '/replica 503'],
    ]);
  });
});

describe('buildStatsSnapshot', () => {
  it('carries the view, the traffic, the leader history, the no-primary time and the last state changes', () => {
    const traffic: Record<string, ListenerTraffic> = {
      rw: {
        current: 3,
        total: 10,
        queued: 1,
        held: 0,
        bytes_in: 100,
        bytes_out: 900,
        refusals: { no_backend: 2 },
        closed: { killed_not_primary: 1 },
        backends: { n1: { current: 2, max: 4, total: 9, bytes_in: 100, bytes_out: 900, connect_errors: 1, killed: { not_primary: 1 } } },
      },
    };
    let history = nextLeaderHistory(INITIAL_LEADER_HISTORY, view(1, cluster.members.slice(), 'n2'), 10_000);
    history = nextLeaderHistory(history, view(2, cluster.members.slice(), null), 20_000);
    history = nextLeaderHistory(history, { ...cluster, generation: 3 }, 21_500);
    const snap = buildStatsSnapshot(input({ traffic, history, lastChanges: { [backendKey('rw', 'n1')]: 21_500 }, view: { ...cluster, generation: 3 } }));
    expect(snap).toMatchObject({ at: 50_000, version: '1.2.3', started_at: 1_000, scope: 'test', mode: 'static', generation: 3, primary: 'n1', no_primary_ms_total: 1_500 });
    expect(snap.leader_history.map((c) => c.to)).toEqual(['n1', null, 'n2']);
    const rwRow = snap.listeners[0];
    expect(rwRow).toMatchObject({ name: 'rw', bind: '127.0.0.1:6432', role: 'primary', traffic: traffic['rw'] });
    expect(rwRow?.backends[0]).toMatchObject({ name: 'n1', address: '127.0.0.1:1', role: 'primary', lag_bytes: 0, last_change_at: 21_500, traffic: traffic['rw']?.backends['n1'] });
    expect(rwRow?.backends[1]).toMatchObject({ name: 'n2', last_change_at: null, traffic: { current: 0, total: 0 } });
    expect(snap.listeners[1]?.traffic).toEqual({ current: 0, total: 0, queued: 0, held: 0, bytes_in: 0, bytes_out: 0, refusals: {}, closed: {}, backends: {} });
    expect(snap.workers).toEqual({ '42': 0 });
  });

  it('keeps a member that left the view visible on a listener while sessions still run on it', () => {
    const t = { current: 1, max: 1, total: 1, bytes_in: 0, bytes_out: 0, connect_errors: 0, killed: {} };
    const traffic: Record<string, ListenerTraffic> = {
      ro: { current: 1, total: 1, queued: 0, held: 0, bytes_in: 0, bytes_out: 0, refusals: {}, closed: {}, backends: { gone: t, n2: { ...t, current: 0 } } },
    };
    const row = buildStatsSnapshot(input({ traffic })).listeners[1];
    expect(row?.backends.map((b) => [b.name, b.state, b.reason])).toContainEqual(['gone', 'DOWN', 'not in the cluster view']);
  });

  it('lists every (listener, member) state for change tracking', () => {
    expect(backendStates(cluster, [rw, ro], { n2: 'drain' })).toEqual({
      'rw/n1': 'UP',
      'rw/n2': 'DRAIN',
      'rw/n3': 'DOWN',
      'ro/n1': 'DOWN',
      'ro/n2': 'DRAIN',
      'ro/n3': 'DRAIN',
    });
  });
});

describe('buildStatsSnapshot and planned maintenance (issue 13)', () => {
  const sync = listenerConfig({ name: 'sync', role: 'sync', fallback: 'none' });
  const all = listenerConfig({ name: 'all', role: 'read_only' });
  const syncView = {
    ...view(8, [member({ name: 'n1' }), { ...member({ name: 'n2' }), sync_standby: true, sync_checks: { any: check(true) }, read_only_checks: { any: check(true) } }, { ...member({ name: 'n3' }), sync_standby: false, sync_checks: { any: check(false) }, read_only_checks: { any: check(false) } }], 'n1'),
    mode: 'etcd' as const,
  };

  it('shows a paused listener as paused and unable to route, with its hold limit, and the others as before', () => {
    const snap = buildStatsSnapshot(input({ paused: { rw: { since: 40_000, hold_ms: 30_000 } } }));
    expect(snap.listeners.map((l) => [l.name, l.can_route, l.paused])).toEqual([
      ['rw', false, { since: 40_000, hold_ms: 30_000 }],
      ['ro', true, null],
    ]);
    // The backends keep their states: the pause is the listener's, not the members'.
    expect(snap.listeners[0]?.backends[0]?.state).toBe('UP');
  });

  it('shows the leader DRAIN on the RW listener while a switchover holds new sessions, and the switchover itself', () => {
    const v = { ...cluster, mode: 'etcd' as const, switchover: { from: 'n1', to: 'n2', scheduled_at: null, announced_at: 49_000 } };
    const snap = buildStatsSnapshot(input({ view: v }));
    expect(snap.listeners[0]?.backends[0]).toMatchObject({ name: 'n1', state: 'DRAIN', reason: 'switchover to n2 announced: new sessions wait for the new leader' });
    expect(snap.listeners[0]?.can_route).toBe(false);
    expect(snap.switchover).toEqual({ from: 'n1', to: 'n2', scheduled_at: null, announced_at: 49_000, holding_since: 49_000 });
    const later = buildStatsSnapshot(input({ view: { ...v, switchover: { ...v.switchover, scheduled_at: 90_000 } } }));
    expect([later.listeners[0]?.backends[0]?.state, later.switchover?.holding_since]).toEqual(['UP', null]);
  });

  it('shows the leader UP on a listener with on_switchover: route during a switchover, and nothing held', () => {
    const routeRw = listenerConfig({ name: 'rw', role: 'primary', on_switchover: 'route' });
    const v = { ...cluster, mode: 'etcd' as const, switchover: { from: 'n1', to: 'n2', scheduled_at: null, announced_at: 49_000 } };
    const snap = buildStatsSnapshot(input({ view: v, listeners: [routeRw, ro] }));
    expect(snap.listeners[0]?.backends[0]).toMatchObject({ name: 'n1', state: 'UP', reason: 'n1 confirmed' });
    expect(snap.listeners[0]?.can_route).toBe(true);
    expect(snap.switchover?.holding_since).toBeNull();
    // The same state feeds pgrouter_backend_state and pgrouter_backend_up.
    expect(backendStates(v, [routeRw], {}, 50_000)['rw/n1']).toBe('UP');
  });

  it('explains every member on a sync and a read_only listener', () => {
    const snap = buildStatsSnapshot(input({ view: syncView, listeners: [sync, all] }));
    const rows = (name: string) => Object.fromEntries((snap.listeners.find((l) => l.name === name)?.backends ?? []).map((b) => [b.name, `${b.state}: ${b.reason}`]));
    expect(rows('sync')).toEqual({ n1: 'DOWN: is the primary', n2: 'UP: /sync check passed', n3: 'DOWN: not a synchronous standby' });
    expect(rows('all')).toEqual({ n1: 'UP: primary (serves reads too)', n2: 'UP: /read-only check passed', n3: 'DOWN: /read-only 503' });
  });

  it('shows a drain deadline on the member\'s rows', () => {
    const snap = buildStatsSnapshot(input({ adminStates: { n2: 'drain' }, drainDeadlines: { n2: 99_000 } }));
    expect(snap.listeners[1]?.backends.find((b) => b.name === 'n2')).toMatchObject({ state: 'DRAIN', drain_deadline_at: 99_000 });
    expect(snap.listeners[1]?.backends.find((b) => b.name === 'n3')?.drain_deadline_at).toBeNull();
  });
});
