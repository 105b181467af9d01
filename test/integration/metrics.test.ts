// The Prometheus exporter and the stats snapshot against a real cluster: etcd 3.4 + 3 × Patroni
// 3.0.2 / PostgreSQL 15. Every scrape goes through a strict text-format parser.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Router } from '../../src/router/router.js';
import { LocalCluster, waitFor } from '../harness/cluster.js';
import { parsePrometheusText, sumOf, valueOf, type Family } from '../helpers/prom-text.js';
import { freeRouterPorts, pgClient, routerConfig, startRouter, type RouterPorts } from './router-fixture.js';

describe('pgrouter metrics in front of a real Patroni cluster', () => {
  let cluster: LocalCluster;
  let router: Router;
  let ports: RouterPorts;

  const scrape = async (): Promise<Map<string, Family>> => parsePrometheusText(await router.metricsText());

  beforeAll(async () => {
    cluster = await LocalCluster.start();
    ports = await freeRouterPorts();
    router = await startRouter(routerConfig(cluster, ports));
    const leader = await cluster.leader();
    await waitFor(() => router.view().primary === leader, { timeoutMs: 15_000, what: 'router to confirm the leader' });
    await waitFor(() => router.snapshot().listeners.find((l) => l.name === 'ro')?.backends.filter((b) => b.state === 'UP').length === 2, {
      timeoutMs: 20_000,
      what: 'router to see two fit replicas',
    });
  });

  afterAll(async () => {
    await router?.close({ graceMs: 0 });
    await cluster?.stop();
  });

  it('exports the cluster as discovery sees it: backends up per listener, roles, probes, etcd', async () => {
    const leader = await cluster.leader();
    const f = await scrape();
    const replicas = cluster.nodes.map((n) => n.name).filter((n) => n !== leader);
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'rw', backend: leader })).toBe(1);
    expect(sumOf(f, 'pgrouter_backend_up', { listener: 'rw' })).toBe(1);
    for (const r of replicas) {
      expect(valueOf(f, 'pgrouter_backend_up', { listener: 'ro', backend: r })).toBe(1);
      expect(valueOf(f, 'pgrouter_backend_role', { backend: r, role: 'replica' })).toBe(1);
    }
    expect(valueOf(f, 'pgrouter_backend_role', { backend: leader, role: 'primary' })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_probe_duration_seconds_count', { backend: leader, check: 'primary' })).toBeGreaterThan(0);
    expect(valueOf(f, 'pgrouter_cluster_primary_confirmed')).toBe(1);
    expect(valueOf(f, 'pgrouter_cluster_view_generation')).toBe(router.view().generation);
    expect(valueOf(f, 'pgrouter_etcd_connected')).toBe(1);
    expect(Date.now() / 1000 - valueOf(f, 'pgrouter_etcd_last_resync_timestamp_seconds')).toBeLessThan(60);
    expect(valueOf(f, 'pgrouter_cluster_no_primary_seconds_total')).toBe(0);
    expect(f.has('process_cpu_seconds_total')).toBe(true);
  });

  it('moves the listener and backend session gauges as pg sessions open and close, and grows the bytes counters', async () => {
    const leader = await cluster.leader();
    const rw = { listener: 'rw' };
    const onLeader = { listener: 'rw', backend: leader };
    const before = await scrape();
    const sessionsBefore = valueOf(before, 'pgrouter_listener_sessions_total', rw);
    const inBefore = valueOf(before, 'pgrouter_listener_in_bytes_total', rw);
    const outBefore = valueOf(before, 'pgrouter_listener_out_bytes_total', rw);

    const clients: pg.Client[] = [await pgClient(ports.rw), await pgClient(ports.rw), await pgClient(ports.ro)];
    for (const c of clients) await c.query("select repeat('x', 10000)");
    const during = await scrape();
    expect(valueOf(during, 'pgrouter_listener_current_sessions', rw)).toBe(2);
    expect(valueOf(during, 'pgrouter_listener_current_sessions', { listener: 'ro' })).toBe(1);
    expect(valueOf(during, 'pgrouter_backend_current_sessions', onLeader)).toBe(2);
    expect(sumOf(during, 'pgrouter_backend_current_sessions', { listener: 'ro' })).toBe(1);
    expect(valueOf(during, 'pgrouter_listener_sessions_total', rw)).toBe(sessionsBefore + 2);
    // Bytes of sessions still open count already: 10,000 'x' per query came back to each client.
    expect(valueOf(during, 'pgrouter_listener_out_bytes_total', rw)).toBeGreaterThan(outBefore + 20_000);
    expect(valueOf(during, 'pgrouter_listener_in_bytes_total', rw)).toBeGreaterThan(inBefore);
    expect(valueOf(during, 'pgrouter_backend_out_bytes_total', onLeader)).toBeGreaterThan(20_000);

    await Promise.all(clients.map((c) => c.end()));
    const after = await waitFor(
      async () => {
        const f = await scrape();
        return valueOf(f, 'pgrouter_listener_current_sessions', rw) === 0 && valueOf(f, 'pgrouter_listener_current_sessions', { listener: 'ro' }) === 0 ? f : undefined;
      },
      { timeoutMs: 10_000, what: 'session gauges to fall back to 0' },
    );
    expect(valueOf(after, 'pgrouter_backend_current_sessions', onLeader)).toBe(0);
    expect(valueOf(after, 'pgrouter_backend_max_sessions', onLeader)).toBeGreaterThanOrEqual(2);
    // Counters never go down when the sessions that carried the bytes end.
    expect(valueOf(after, 'pgrouter_listener_out_bytes_total', rw)).toBeGreaterThanOrEqual(valueOf(during, 'pgrouter_listener_out_bytes_total', rw));
    expect(valueOf(after, 'pgrouter_listener_in_bytes_total', rw)).toBeGreaterThan(valueOf(during, 'pgrouter_listener_in_bytes_total', rw));
  });

  it('names the leader in the snapshot and shows its sessions', async () => {
    const leader = await cluster.leader();
    const c = await pgClient(ports.rw);
    try {
      const snap = router.snapshot();
      expect(snap).toMatchObject({ primary: leader, leader_key: leader, mode: 'etcd', scope: cluster.scope });
      expect(snap.etcd?.connected).toBe(true);
      const rwRow = snap.listeners.find((l) => l.name === 'rw');
      expect(rwRow?.can_route).toBe(true);
      expect(rwRow?.traffic.current).toBe(1);
      expect(rwRow?.backends.find((b) => b.name === leader)).toMatchObject({ state: 'UP', role: 'primary', traffic: { current: 1 } });
      expect(rwRow?.backends.filter((b) => b.name !== leader).map((b) => b.state)).toEqual(['DOWN', 'DOWN']);
      expect(snap.leader_history[0]).toMatchObject({ to: leader });
      expect(Object.values(snap.workers)).toEqual([1]);
      expect(await router.sessions()).toMatchObject([{ listener: 'rw', backend: leader, backend_address: `127.0.0.1:${cluster.node(leader).pgPort}` }]);
    } finally {
      await c.end();
    }
  });

  it('counts a switchover as one leader change with one outage sample, and records it in the snapshot', async () => {
    const before = await scrape();
    const changes = valueOf(before, 'pgrouter_cluster_leader_changes_total');
    const outages = valueOf(before, 'pgrouter_cluster_outage_duration_seconds_count');

    const { from, to } = await cluster.switchover();
    await waitFor(() => router.view().primary === to, { timeoutMs: 15_000, what: 'router to confirm the new leader' });

    const f = await scrape();
    expect(valueOf(f, 'pgrouter_cluster_leader_changes_total')).toBe(changes + 1);
    expect(valueOf(f, 'pgrouter_cluster_outage_duration_seconds_count')).toBe(outages + 1);
    const outageSeconds = valueOf(f, 'pgrouter_cluster_outage_duration_seconds_sum');
    expect(outageSeconds).toBeLessThan(30);
    expect(valueOf(f, 'pgrouter_cluster_no_primary_seconds_total')).toBeCloseTo(outageSeconds, 6);
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'rw', backend: to })).toBe(1);
    expect(valueOf(f, 'pgrouter_backend_up', { listener: 'rw', backend: from })).toBe(0);

    const history = router.snapshot().leader_history;
    expect(history[0]).toMatchObject({ to, outage_ms: expect.any(Number) });
    // Usually a loss (from → none) then a gain; a direct move (from → to) is one entry.
    const left = history.findIndex((c) => c.from === from);
    expect(left === 0 || left === 1).toBe(true);
    if (left === 1) expect(history[1]).toMatchObject({ from, to: null, outage_ms: null });
    await cluster.waitForHealthy({ timeoutMs: 60_000 });
  });
});
