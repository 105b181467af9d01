import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ClusterView, EtcdStatus } from '../../../src/view/cluster-view.js';
import type { ListenerTraffic } from '../../../src/sessions/types.js';
import { declareMetrics } from '../../../src/metrics/metrics.js';
import { RouterMetrics, type MetricsSources } from '../../../src/metrics/router-metrics.js';
import { backendStates } from '../../../src/metrics/stats-snapshot.js';
import type { AdminStates } from '../../../src/routing/eligible.js';
import { parsePrometheusText, samples, valueOf, type Family } from '../../helpers/prom-text.js';
import { listenerConfig } from '../proxy/helpers/config.js';
import { member, view } from '../proxy/helpers/view.js';

const listeners = [listenerConfig({ name: 'rw', role: 'primary' }), listenerConfig({ name: 'ro', role: 'replica' })];
const names = listeners.map((l) => l.name);
const members = [member({ name: 'n1' }), member({ name: 'n2' })];

/** What the Router does with each view: the view's gauges, then the backend states it computed. */
function observe(metrics: RouterMetrics, v: ClusterView, at: number, admin: AdminStates = {}): void {
  metrics.observeView(v, at);
  metrics.observeBackendStates(names, v, backendStates(v, listeners, admin));
}

function exporter(now = { t: 0 }): { metrics: RouterMetrics; clock: { t: number } } {
  return { metrics: new RouterMetrics({ version: '9.9.9', processMetrics: false, now: () => now.t }), clock: now };
}

async function scrape(m: RouterMetrics): Promise<Map<string, Family>> {
  return parsePrometheusText(await m.text());
}

function traffic(over: Partial<ListenerTraffic> = {}): ListenerTraffic {
  return { current: 0, total: 0, queued: 0, held: 0, bytes_in: 0, bytes_out: 0, refusals: {}, closed: {}, backends: {}, ...over };
}

describe('declareMetrics', () => {
  it('names every metric pgrouter_<part>_..., counters ending in _total, in the registry it was given', async () => {
    const register = new Registry();
    declareMetrics({ register, version: '1.0.0', processMetrics: false });
    const families = parsePrometheusText(await register.metrics());
    expect(families.size).toBeGreaterThan(20);
    for (const f of families.values()) {
      expect(f.name).toMatch(/^pgrouter_(listener|proxy|backend|cluster|etcd|discovery|worker|relay|build|tls)_[a-z_]+$/);
      if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
      else expect(f.name).not.toMatch(/_total$/);
      expect(f.help.length).toBeGreaterThan(10);
    }
    expect(valueOf(families, 'pgrouter_build_info', { version: '1.0.0' })).toBe(1);
    expect(await new Registry().metrics()).toBe('\n');
  });

  it('adds the process and Node.js metrics unless told not to', async () => {
    const register = new Registry();
    declareMetrics({ register, version: '1.0.0' });
    const families = parsePrometheusText(await register.metrics());
    expect(families.has('process_cpu_seconds_total')).toBe(true);
    expect(families.has('nodejs_heap_size_used_bytes')).toBe(true);
  });
});

describe('RouterMetrics', () => {
  it('exports the data path traffic read at scrape time, per listener and per backend', async () => {
    const { metrics } = exporter();
    let t: Record<string, ListenerTraffic> = {};
    const sources: MetricsSources = { listeners: () => names, traffic: () => t, etcd: () => null, workerRespawns: () => 0, relayEngines: () => ({}) };
    metrics.bind(sources);
    let f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_listener_current_sessions', { listener: 'rw' })).toBe(0);
    expect(valueOf(f, 'pgrouter_listener_refusals_total', { listener: 'ro', reason: 'no_backend' })).toBe(0);

    t = {
      rw: traffic({
        current: 3,
        total: 7,
        queued: 1,
        held: 2,
        bytes_in: 10,
        bytes_out: 20,
        refusals: { no_backend: 4, startup_timeout: 1 },
        closed: { client_closed: 2, killed_not_primary: 3 },
        backends: { n1: { current: 2, max: 5, total: 6, bytes_in: 10, bytes_out: 20, connect_errors: 1, killed: { not_primary: 3 } } },
        cancels: { broadcast: 2, dropped_limit: 1 },
      }),
    };
    f = await scrape(metrics);
    const rw = { listener: 'rw' };
    const n1 = { listener: 'rw', backend: 'n1' };
    expect(valueOf(f, 'pgrouter_listener_current_sessions', rw)).toBe(3);
    expect(valueOf(f, 'pgrouter_listener_sessions_total', rw)).toBe(7);
    expect(valueOf(f, 'pgrouter_listener_queued_sessions', rw)).toBe(1);
    expect(valueOf(f, 'pgrouter_listener_held_sessions', rw)).toBe(2);
    expect(valueOf(f, 'pgrouter_listener_in_bytes_total', rw)).toBe(10);
    expect(valueOf(f, 'pgrouter_listener_out_bytes_total', rw)).toBe(20);
    expect(valueOf(f, 'pgrouter_listener_refusals_total', { ...rw, reason: 'no_backend' })).toBe(4);
    expect(valueOf(f, 'pgrouter_listener_refusals_total', { ...rw, reason: 'startup_timeout' })).toBe(1);
    expect(valueOf(f, 'pgrouter_listener_refusals_total', { ...rw, reason: 'queue_timeout' })).toBe(0);
    expect(valueOf(f, 'pgrouter_listener_closed_sessions_total', { ...rw, reason: 'client_closed' })).toBe(2);
    expect(valueOf(f, 'pgrouter_listener_closed_sessions_total', { ...rw, reason: 'killed_not_primary' })).toBe(3);
    expect(valueOf(f, 'pgrouter_backend_current_sessions', n1)).toBe(2);
    expect(valueOf(f, 'pgrouter_backend_max_sessions', n1)).toBe(5);
    expect(valueOf(f, 'pgrouter_backend_sessions_total', n1)).toBe(6);
    expect(valueOf(f, 'pgrouter_backend_connect_errors_total', n1)).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_in_bytes_total', n1)).toBe(10);
    expect(valueOf(f, 'pgrouter_backend_out_bytes_total', n1)).toBe(20);
    expect(valueOf(f, 'pgrouter_backend_killed_sessions_total', { ...n1, reason: 'not_primary' })).toBe(3);
    expect(valueOf(f, 'pgrouter_proxy_cancel_requests_total', { ...rw, outcome: 'broadcast' })).toBe(2);
    expect(valueOf(f, 'pgrouter_proxy_cancel_requests_total', { ...rw, outcome: 'dropped_limit' })).toBe(1);
    // Listeners without traffic are still exported.
    expect(valueOf(f, 'pgrouter_listener_sessions_total', { listener: 'ro' })).toBe(0);
  });

  it('exports the relay engine in use, counting the data-path processes, the other engine at 0', async () => {
    const { metrics } = exporter();
    const report = (engine: 'native' | 'js') => ({ engine, native_sessions: 0, js_fallbacks: {} });
    let engines: Record<string, ReturnType<typeof report>> = { '100': report('native') };
    metrics.bind({ listeners: () => names, traffic: () => ({}), etcd: () => null, workerRespawns: () => 0, relayEngines: () => engines });
    let f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_relay_engine', { engine: 'native' })).toBe(1);
    expect(valueOf(f, 'pgrouter_relay_engine', { engine: 'js' })).toBe(0);
    engines = { '100': report('native'), '101': report('js'), '102': report('native') };
    f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_relay_engine', { engine: 'native' })).toBe(2);
    expect(valueOf(f, 'pgrouter_relay_engine', { engine: 'js' })).toBe(1);
  });

  it('reads the sources once per scrape, not once per metric', async () => {
    const { metrics } = exporter();
    let reads = 0;
    metrics.bind({
      listeners: () => names,
      traffic: () => {
        reads++;
        return {};
      },
      etcd: () => null,
      workerRespawns: () => 0,
      relayEngines: () => ({}),
    });
    await metrics.text();
    expect(reads).toBe(1);
    await metrics.text();
    expect(reads).toBe(2);
  });

  it('sets member up, state and role gauges from each view, and drops members that left', async () => {
    const { metrics } = exporter();
    observe(metrics, view(1, members, 'n1'), 0);
    let f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'rw', backend: 'n1' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'rw', backend: 'n2' })).toBe(0);
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'ro', backend: 'n2' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_state', { listener: 'ro', backend: 'n1', state: 'DOWN' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_state', { listener: 'ro', backend: 'n1', state: 'UP' })).toBe(0);
    expect(valueOf(f, 'pgrouter_backend_role', { backend: 'n1', role: 'primary' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_role', { backend: 'n2', role: 'replica' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_replication_lag_bytes', { backend: 'n2' })).toBe(0);
    expect(valueOf(f, 'pgrouter_cluster_view_generation')).toBe(1);
    expect(valueOf(f, 'pgrouter_cluster_primary_confirmed')).toBe(1);

    observe(metrics, view(2, [member({ name: 'n1' })], null), 10);
    f = await scrape(metrics);
    expect(samples(f, 'pgrouter_backend_up', { backend: 'n2' })).toEqual([]);
    expect(samples(f, 'pgrouter_backend_role', { backend: 'n1' }).map((s) => s.labels['role'])).toEqual(['replica']);
    expect(valueOf(f, 'pgrouter_cluster_primary_confirmed')).toBe(0);
  });

  it('shows admin states in the member gauges: maint and drain are not up', async () => {
    const { metrics } = exporter();
    observe(metrics, view(1, members, 'n1'), 0, { n1: 'maint', n2: 'drain' });
    const f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'rw', backend: 'n1' })).toBe(0);
    expect(valueOf(f, 'pgrouter_backend_state', { listener: 'rw', backend: 'n1', state: 'MAINT' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'ro', backend: 'n2' })).toBe(0);
    expect(valueOf(f, 'pgrouter_backend_state', { listener: 'ro', backend: 'n2', state: 'DRAIN' })).toBe(1);
  });

  it('counts a switchover as one leader change with one outage sample, and the running time without primary', async () => {
    const { metrics, clock } = exporter();
    metrics.observeView(view(1, members, null), 0);
    metrics.observeView(view(2, members, 'n1'), 1_000);
    metrics.observeView(view(3, members, null), 10_000);
    clock.t = 10_400;
    let f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_cluster_leader_changes_total')).toBe(0);
    expect(valueOf(f, 'pgrouter_cluster_no_primary_seconds_total')).toBeCloseTo(0.4, 6);
    expect(valueOf(f, 'pgrouter_cluster_outage_duration_seconds_count')).toBe(0);

    metrics.observeView(view(4, members, 'n2'), 11_500);
    clock.t = 20_000;
    f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_cluster_leader_changes_total')).toBe(1);
    expect(valueOf(f, 'pgrouter_cluster_no_primary_seconds_total')).toBeCloseTo(1.5, 6);
    expect(valueOf(f, 'pgrouter_cluster_outage_duration_seconds_count')).toBe(1);
    expect(valueOf(f, 'pgrouter_cluster_outage_duration_seconds_sum')).toBeCloseTo(1.5, 6);
    expect(valueOf(f, 'pgrouter_cluster_outage_duration_seconds_bucket', { le: '1' })).toBe(0);
    expect(valueOf(f, 'pgrouter_cluster_outage_duration_seconds_bucket', { le: '2' })).toBe(1);
    expect(metrics.leaderHistory().changes.map((c) => c.to)).toEqual(['n2', null, 'n1']);
  });

  it('feeds the probe latency histogram and counts failed probes per member and check', async () => {
    const { metrics } = exporter();
    metrics.observeProbe({ member: 'n1', check: 'primary', ms: 3, ok: true, status: 200, error: null });
    metrics.observeProbe({ member: 'n1', check: 'primary', ms: 2_000, ok: false, status: null, error: 'timeout' });
    metrics.observeProbe({ member: 'n2', check: 'replica:any', ms: 4, ok: true, status: 200, error: null });
    const f = await scrape(metrics);
    const n1 = { backend: 'n1', check: 'primary' };
    expect(valueOf(f, 'pgrouter_backend_probe_duration_seconds_count', n1)).toBe(2);
    expect(valueOf(f, 'pgrouter_backend_probe_duration_seconds_bucket', { ...n1, le: '0.005' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_probe_duration_seconds_sum', n1)).toBeCloseTo(2.003, 6);
    expect(valueOf(f, 'pgrouter_backend_probe_failures_total', n1)).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_probe_failures_total', { backend: 'n2', check: 'replica:any' })).toBe(0);
  });

  it('exports the etcd connection and last resync time in etcd mode only', async () => {
    const staticMode = new RouterMetrics({ version: '9.9.9', processMetrics: false, etcd: false });
    expect((await scrape(staticMode)).has('pgrouter_etcd_connected')).toBe(false);

    const { metrics } = exporter();
    let etcd: EtcdStatus | null = { connected: false, last_resync_at: null, revision: null, error: 'connecting' };
    metrics.bind({ listeners: () => names, traffic: () => ({}), etcd: () => etcd, workerRespawns: () => 0, relayEngines: () => ({}) });
    let f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_etcd_connected')).toBe(0);
    expect(valueOf(f, 'pgrouter_etcd_last_resync_timestamp_seconds')).toBe(0);
    etcd = { connected: true, last_resync_at: 1_700_000_000_500, revision: '12', error: null };
    f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_etcd_connected')).toBe(1);
    expect(valueOf(f, 'pgrouter_etcd_last_resync_timestamp_seconds')).toBe(1_700_000_000.5);
    etcd = { ...etcd, connected: false };
    f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_etcd_connected')).toBe(0);
  });

  it('serves the Prometheus text content type', () => {
    expect(exporter().metrics.contentType()).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});

describe('RouterMetrics, discovery errors (issue 10)', () => {
  it('exports every guarded discovery callback at 0 and counts each caught exception by where', async () => {
    const { metrics } = exporter();
    let f = await scrape(metrics);
    for (const where of ['derive', 'probe_hook', 'etcd_change', 'probe_round', 'etcd_source']) {
      expect(valueOf(f, 'pgrouter_discovery_errors_total', { where })).toBe(0);
    }
    metrics.observeDiscoveryError('derive');
    metrics.observeDiscoveryError('derive');
    f = await scrape(metrics);
    expect(valueOf(f, 'pgrouter_discovery_errors_total', { where: 'derive' })).toBe(2);
  });
});
