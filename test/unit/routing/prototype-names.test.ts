// Patroni member names come from outside (etcd, the operator's static list). A member named like
// a key of Object.prototype ("constructor", "toString", "__proto__") must be routed, shown and
// counted like any other: every lookup keyed by a member name uses a Map or a null-prototype
// object, or asks for an own property (issue 10, defect 6).
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { mergeTraffic, retiredTraffic } from '../../../src/cluster/aggregate.js';
import { parseToWorker } from '../../../src/cluster/ipc-messages.js';
import type { Config } from '../../../src/config/types.js';
import { silentLogger } from '../../../src/log.js';
import { backendStates, backendStatus, buildStatsSnapshot } from '../../../src/metrics/stats-snapshot.js';
import { INITIAL_LEADER_HISTORY } from '../../../src/metrics/leader-history.js';
import { Router } from '../../../src/router/router.js';
import { adminStateOf, cancelTargets, eligibleBackends, type AdminStates } from '../../../src/routing/eligible.js';
import { TrafficCounter } from '../../../src/sessions/traffic.js';
import { waitFor } from '../../harness/wait.js';
import { parsePrometheusText, valueOf } from '../../helpers/prom-text.js';
import { FakePatroni } from '../discovery/fake-patroni.js';
import { listenerConfig, testConfig } from '../proxy/helpers/config.js';
import { FakeBackend } from '../proxy/helpers/fake-backend.js';
import { member, view } from '../proxy/helpers/view.js';

const NAMES = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'] as const;
const rw = listenerConfig({ name: 'rw', role: 'primary' });
const ro = listenerConfig({ name: 'ro', role: 'replica' });

/** Admin states as they arrive over IPC or HTTP: parsed JSON, a plain object. */
const fromJson = (text: string): AdminStates => JSON.parse(text) as AdminStates;

describe.each(NAMES)('a member named %s', (name) => {
  const asPrimary = view(1, [member({ name }), member({ name: 'n2' })], name);
  const asReplica = view(1, [member({ name: 'n1' }), member({ name })], 'n1');

  it('is the primary listener\'s backend when it is the confirmed primary', () => {
    expect(eligibleBackends(asPrimary, rw, {}).members.map((m) => m.name)).toEqual([name]);
    expect(eligibleBackends(asPrimary, rw, fromJson('{"n2":"drain"}')).members.map((m) => m.name)).toEqual([name]);
  });

  it('takes replica sessions and gets cancels when it is a fit replica', () => {
    expect(eligibleBackends(asReplica, ro, {}).members.map((m) => m.name)).toEqual([name]);
    expect(cancelTargets(asReplica, ro).map((m) => m.name)).toContain(name);
  });

  it('is ready unless an admin state names it, also when the states came as JSON', () => {
    expect(adminStateOf({}, name)).toBe('ready');
    expect(adminStateOf(fromJson(`{${JSON.stringify(name)}:"drain"}`), name)).toBe('drain');
    expect(eligibleBackends(asReplica, ro, fromJson(`{${JSON.stringify(name)}:"maint"}`)).members).toEqual([]);
  });

  it('is UP with admin state ready and zero traffic on the stats snapshot', () => {
    expect(backendStatus(asReplica, ro, member({ name }), {}).state).toBe('UP');
    expect(backendStates(asReplica, [ro], {})[`ro/${name}`]).toBe('UP');
    const snap = buildStatsSnapshot({
      now: 1, version: 'test', startedAt: 0, listeners: [ro], binds: {}, view: asReplica, etcd: null,
      traffic: {}, adminStates: {}, history: INITIAL_LEADER_HISTORY, lastChanges: {}, workers: {},
    });
    const row = snap.listeners[0]?.backends.find((b) => b.name === name);
    expect(row).toMatchObject({ state: 'UP', admin_state: 'ready', traffic: { current: 0, total: 0 } });
  });

  it('keeps its own traffic counters, through the workers\' JSON reports and their sum', () => {
    const t = new TrafficCounter();
    const s = { backend: name, bytesIn: 3, bytesOut: 4 };
    t.relayStarted(s);
    const snap = t.snapshot({ current: 1, queued: 0, held: 0 });
    expect(Object.hasOwn(snap.backends, name)).toBe(true);
    expect(snap.backends[name]).toMatchObject({ current: 1, total: 1, bytes_in: 3 });
    const report = JSON.parse(JSON.stringify({ ro: snap })) as Record<string, typeof snap>;
    const merged = mergeTraffic([report, report, retiredTraffic(report)]);
    expect(Object.hasOwn(merged['ro']?.backends ?? {}, name)).toBe(true);
    expect(merged['ro']?.backends[name]).toMatchObject({ total: 3, current: 2 });
  });

  it('crosses IPC as an admin state', () => {
    const parsed = parseToWorker(JSON.parse(`{"pgr":1,"type":"admin_states","states":{${JSON.stringify(name)}:"drain"}}`));
    expect(parsed.kind).toBe('message');
  });
});

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('a Router whose members are named constructor and __proto__', () => {
  it('routes RW to one and RO to the other, drains and readies them, and exports them', async () => {
    const patroni = { primary: await FakePatroni.start('master'), replica: await FakePatroni.start('replica') };
    const backends = { primary: await FakeBackend.start('constructor'), replica: await FakeBackend.start('__proto__') };
    cleanup.push(async () => {
      await Promise.all([...Object.values(patroni), ...Object.values(backends)].map((x) => x.close()));
    });
    const base = testConfig({ timeouts: { connect_wait: 3_000, shutdown_grace: 0 } });
    const config: Config = {
      ...base,
      cluster: {
        ...base.cluster,
        members: [
          { name: 'constructor', host: '127.0.0.1', port: backends.primary.port, api: patroni.primary.url },
          { name: '__proto__', host: '127.0.0.1', port: backends.replica.port, api: patroni.replica.url },
        ],
      },
      checks: { ...base.checks, interval: 50, timeout: 500, fast_interval: 20, fastinter: 50 },
    };
    const router = new Router(config, silentLogger(), { processMetrics: false });
    cleanup.push(() => router.close({ graceMs: 0 }));
    await router.start();
    await waitFor(() => router.view().primary === 'constructor' && router.snapshot().listeners[1]?.can_route === true, {
      timeoutMs: 5_000,
      what: 'constructor primary, __proto__ a fit replica',
    });
    const where = async (listener: string): Promise<string> => {
      const c = new pg.Client({ host: '127.0.0.1', port: router.dataPath.addresses()[listener]?.port, user: 'app', database: 'db' });
      await c.connect();
      try {
        return (await c.query<{ backend: string }>('select backend')).rows[0]?.backend ?? '?';
      } finally {
        await c.end();
      }
    };
    expect(await where('rw')).toBe('constructor');
    expect(await where('ro')).toBe('__proto__');

    router.setAdminState('__proto__', 'drain');
    expect(Object.hasOwn(router.adminStates(), '__proto__')).toBe(true);
    expect(router.snapshot().listeners[1]?.backends.find((b) => b.name === '__proto__')?.state).toBe('DRAIN');
    router.setAdminState('__proto__', 'ready');
    expect(router.adminStates()).toEqual({});
    expect(router.snapshot().listeners[1]?.backends.find((b) => b.name === '__proto__')?.state).toBe('UP');

    const metrics = parsePrometheusText(await router.metricsText());
    expect(valueOf(metrics, 'pgrouter_backend_up', { listener: 'rw', backend: 'constructor' })).toBe(1);
    expect(valueOf(metrics, 'pgrouter_backend_up', { listener: 'ro', backend: '__proto__' })).toBe(1);
    expect(valueOf(metrics, 'pgrouter_backend_sessions_total', { listener: 'ro', backend: '__proto__' })).toBe(1);
  });
});
