// The Router's RouterControl surface in static mode, in front of fake Patroni REST APIs and fake
// PostgreSQL backends: what the HTTP server (stats page, admin API, /metrics) will call.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { Router } from '../../../src/router/router.js';
import type { Config, ListenerConfig } from '../../../src/config/types.js';
import { waitFor } from '../../harness/wait.js';
import { parsePrometheusText, samples, valueOf } from '../../helpers/prom-text.js';
import { FakePatroni } from '../discovery/fake-patroni.js';
import { testConfig } from '../proxy/helpers/config.js';
import { FakeBackend } from '../proxy/helpers/fake-backend.js';
import { captureLog } from '../../helpers/capture-log.js';

/** The data-path test config (kept current with the Config type) in static mode over `members`. */
function config(members: { name: string; port: number; api: string }[]): Config {
  const base = testConfig({ timeouts: { connect_wait: 3_000, shutdown_grace: 0 } });
  return {
    ...base,
    cluster: { ...base.cluster, scope: 'control-test', etcd: null, members: members.map((m) => ({ ...m, host: '127.0.0.1' })) },
    checks: { interval: 50, timeout: 500, fall: 1, rise: 1, fast_interval: 20, fastinter: 20, tls: null },
  };
}


let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function start(): Promise<{ router: Router; patroni: { n1: FakePatroni; n2: FakePatroni }; lines: Record<string, unknown>[] }> {
  const patroni = { n1: await FakePatroni.start('master'), n2: await FakePatroni.start('replica') };
  const backends = { n1: await FakeBackend.start('n1'), n2: await FakeBackend.start('n2') };
  cleanup.push(async () => {
    await Promise.all([...Object.values(patroni), ...Object.values(backends)].map((x) => x.close()));
  });
  const { logger, lines } = captureLog();
  const router = new Router(
    config([
      { name: 'n1', port: backends.n1.port, api: patroni.n1.url },
      { name: 'n2', port: backends.n2.port, api: patroni.n2.url },
    ]),
    logger,
    { processMetrics: false },
  );
  cleanup.push(() => router.close({ graceMs: 0 }));
  await router.start();
  await waitFor(() => router.view().primary === 'n1' && router.snapshot().listeners[1]?.can_route === true, { timeoutMs: 5_000, what: 'n1 primary, n2 fit replica' });
  return { router, patroni, lines };
}

async function client(router: Router, listener: string): Promise<pg.Client> {
  const port = router.dataPath.addresses()[listener]?.port;
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'app', database: 'db' });
  await c.connect();
  return c;
}

describe('Router as RouterControl', () => {
  it('names the primary, its sessions and backend states in the snapshot, and the same numbers in /metrics', async () => {
    const { router } = await start();
    const c = await client(router, 'rw');
    await c.query('select backend');
    const snap = router.snapshot();
    expect(snap).toMatchObject({ scope: 'control-test', mode: 'static', primary: 'n1', etcd: null, workers: { [String(process.pid)]: 1 } });
    expect(snap.leader_history[0]).toMatchObject({ from: null, to: 'n1', outage_ms: null });
    const rw = snap.listeners[0];
    expect(rw?.bind).toBe(`127.0.0.1:${router.dataPath.addresses()['rw']?.port ?? 0}`);
    expect(rw?.backends.map((b) => [b.name, b.state, b.traffic.current])).toEqual([
      ['n1', 'UP', 1],
      ['n2', 'DOWN', 0],
    ]);
    expect(rw?.backends[0]?.last_change_at).toEqual(expect.any(Number));
    expect(await router.sessions()).toMatchObject([{ listener: 'rw', backend: 'n1' }]);

    const f = parsePrometheusText(await router.metricsText());
    expect(router.metricsContentType()).toMatch(/^text\/plain/);
    expect(valueOf(f, 'pgrouter_backend_current_sessions', { listener: 'rw', backend: 'n1' })).toBe(1);
    expect(valueOf(f, 'pgrouter_listener_in_bytes_total', { listener: 'rw' })).toBe(rw?.traffic.bytes_in);
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'ro', backend: 'n2' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_probe_duration_seconds_count', { backend: 'n1', check: 'primary' })).toBeGreaterThan(0);
    expect(f.has('pgrouter_etcd_connected')).toBe(false);
    await c.end();
  });

  it('applies admin states to every listener, logs each change once, and kills sessions on request', async () => {
    const { router, lines } = await start();
    const ro = await client(router, 'ro');
    const roEnded = new Promise<void>((resolve) => {
      ro.on('error', () => resolve());
      ro.on('end', () => resolve());
    });
    router.setAdminState('n2', 'drain');
    router.setAdminState('n2', 'drain');
    expect(router.adminStates()).toEqual({ n2: 'drain' });
    expect(lines.filter((l) => l['event'] === 'admin_state')).toMatchObject([{ member: 'n2', from: 'ready', to: 'drain' }]);
    const snap = router.snapshot();
    expect(snap.listeners[1]?.backends.find((b) => b.name === 'n2')).toMatchObject({ state: 'DRAIN', admin_state: 'drain', reason: 'admin drain', traffic: { current: 1 } });
    expect(snap.listeners[1]?.can_route).toBe(false);
    let f = parsePrometheusText(await router.metricsText());
    expect(valueOf(f, 'pgrouter_backend_state', { listener: 'ro', backend: 'n2', state: 'DRAIN' })).toBe(1);

    expect(await router.killBackendSessions('n2')).toBe(1);
    await roEnded;
    await waitFor(async () => (await router.sessions()).length === 0, { timeoutMs: 5_000, what: 'killed session to go' });
    expect(lines.some((l) => l['event'] === 'admin_kill' && l['member'] === 'n2' && l['sessions'] === 1)).toBe(true);
    f = parsePrometheusText(await router.metricsText());
    expect(valueOf(f, 'pgrouter_backend_killed_sessions_total', { listener: 'ro', backend: 'n2', reason: 'admin' })).toBe(1);

    router.setAdminState('n2', 'ready');
    expect(router.adminStates()).toEqual({});
    expect(router.snapshot().listeners[1]?.can_route).toBe(true);
    expect(() => router.setAdminState('n2', 'off' as never)).toThrow(TypeError);
  });

  it('exports the backend series of a listener added by a reload, and drops a removed one\'s', async () => {
    const { router } = await start();
    const before = router.config;
    const ro = before.listeners[1];
    if (!ro) throw new Error('no ro listener');
    const next: Config = {
      ...before,
      listeners: [before.listeners[0] as ListenerConfig, { ...ro, name: 'ro2', bind: { host: '127.0.0.1', port: 0 } }],
    };
    expect(await router.reload(next)).toMatchObject({ ok: true });
    const f = parsePrometheusText(await router.metricsText());
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'ro2', backend: 'n2' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_state', { listener: 'ro2', backend: 'n1', state: 'DOWN' })).toBe(1);
    expect(valueOf(f, 'pgrouter_listener_sessions_total', { listener: 'ro2' })).toBe(0);
    expect(samples(f, 'pgrouter_backend_up', { listener: 'ro' })).toEqual([]);
    expect(router.snapshot().listeners.map((l) => l.name)).toEqual(['rw', 'ro2']);
  });

  it('counts a change of primary in the leader history and the leader changes counter', async () => {
    const { router, patroni } = await start();
    patroni.n1.role = 'replica';
    patroni.n2.role = 'master';
    await waitFor(() => router.view().primary === 'n2', { timeoutMs: 5_000, what: 'n2 to be primary' });
    const f = parsePrometheusText(await router.metricsText());
    expect(valueOf(f, 'pgrouter_cluster_leader_changes_total')).toBe(1);
    expect(valueOf(f, 'pgrouter_cluster_outage_duration_seconds_count')).toBe(1);
    expect(router.snapshot().leader_history[0]).toMatchObject({ to: 'n2', outage_ms: expect.any(Number) });
  });
});

describe('Router: planned maintenance (issue 13)', () => {
  it('closes what is left on a drained member when its deadline passes, logging why', async () => {
    const { router, lines } = await start();
    const ro = await client(router, 'ro');
    const roEnded = new Promise<void>((resolve) => {
      ro.on('error', () => resolve());
      ro.on('end', () => resolve());
    });
    router.setAdminState('n2', 'drain', { timeoutMs: 50 });
    expect(router.drainDeadlines()).toEqual({ n2: expect.any(Number) });
    await roEnded;
    await waitFor(() => lines.some((l) => l['event'] === 'drain_timeout'), { timeoutMs: 5_000, what: 'the drain_timeout line' });
    expect(lines.find((l) => l['event'] === 'drain_timeout')).toMatchObject({ member: 'n2', sessions: 1 });
    expect(router.drainDeadlines()).toEqual({});
    expect(router.adminStates()).toEqual({ n2: 'drain' });
    await waitFor(() => router.dataPath.traffic()['ro']?.closed['killed_drain_timeout'] === 1, { timeoutMs: 5_000, what: 'the relay to count its end' });
    const f = parsePrometheusText(await router.metricsText());
    expect(valueOf(f, 'pgrouter_backend_killed_sessions_total', { listener: 'ro', backend: 'n2', reason: 'drain_timeout' })).toBe(1);
    expect(valueOf(f, 'pgrouter_listener_closed_sessions_total', { listener: 'ro', reason: 'killed_drain_timeout' })).toBe(1);
  });

  it('cancels a drain deadline on the next state change, and refuses a timeout on another state', async () => {
    const { router, lines } = await start();
    const ro = await client(router, 'ro');
    router.setAdminState('n2', 'drain', { timeoutMs: 60_000 });
    router.setAdminState('n2', 'ready');
    expect(router.drainDeadlines()).toEqual({});
    expect(lines.some((l) => l['event'] === 'drain_deadline_cancelled' && l['member'] === 'n2')).toBe(true);
    expect((await ro.query<{ backend: string }>('select backend')).rows).toEqual([{ backend: 'n2' }]);
    expect(() => router.setAdminState('n2', 'maint', { timeoutMs: 1_000 })).toThrow(TypeError);
    await ro.end();
  });

  it('pauses and resumes a listener: held clients, the stats, /metrics and the log say so', async () => {
    const { router, lines } = await start();
    const pause = router.pauseListener('rw', 5_000);
    expect(pause).toEqual({ since: expect.any(Number), hold_ms: 5_000 });
    expect(router.pausedListeners()).toEqual({ rw: pause });
    expect(router.snapshot().listeners[0]).toMatchObject({ name: 'rw', can_route: false, paused: pause });
    let f = parsePrometheusText(await router.metricsText());
    expect([valueOf(f, 'pgrouter_listener_paused', { listener: 'rw' }), valueOf(f, 'pgrouter_listener_paused', { listener: 'ro' })]).toEqual([1, 0]);

    const held = client(router, 'rw');
    await waitFor(() => router.dataPath.traffic()['rw']?.held === 1, { timeoutMs: 5_000, what: 'the client held' });
    expect(router.resumeListener('rw')).toEqual(pause);
    const c = await held;
    expect((await c.query<{ backend: string }>('select backend')).rows).toEqual([{ backend: 'n1' }]);
    await c.end();
    expect(router.resumeListener('rw')).toBeNull();
    f = parsePrometheusText(await router.metricsText());
    expect(valueOf(f, 'pgrouter_listener_paused', { listener: 'rw' })).toBe(0);
    expect(valueOf(f, 'pgrouter_listener_held_sessions_total', { listener: 'rw' })).toBe(1);
    expect(lines.filter((l) => l['event'] === 'listener_paused' || l['event'] === 'listener_resumed').map((l) => l['event'])).toEqual(['listener_paused', 'listener_resumed']);
    expect(() => router.pauseListener('nope')).toThrow(TypeError);
  });

  it('forgets the pause of a listener a reload removes', async () => {
    const { router } = await start();
    router.pauseListener('ro');
    const before = router.config;
    expect(await router.reload({ ...before, listeners: before.listeners.slice(0, 1) })).toMatchObject({ ok: true });
    expect(router.pausedListeners()).toEqual({});
  });
});
