// Discovery against real etcd 3.4 and a real Patroni 3.0.2 + PostgreSQL 15 cluster.
// Part 1 drives EtcdSource against a bare etcd (events, lease expiry, outage, watchdog).
// Part 2 follows a 3-node cluster through a switchover, a leader crash and an etcd outage, and
// measures how long after Patroni's `leader` PUT the view names the new primary.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config, EtcdConfig } from '../../src/config/types.js';
import { Discovery } from '../../src/discovery/discovery.js';
import type { ProbeEvent } from '../../src/discovery/prober.js';
import { EtcdSource, type EtcdSnapshot } from '../../src/discovery/etcd-source.js';
import { createLogger } from '../../src/log.js';
import { LocalCluster, findFreePort, waitFor } from '../harness/cluster.js';
import { EtcdServer } from '../harness/etcd.js';
import { runAsIdentity } from '../harness/process.js';

const LOG_LEVEL = process.env.PGR_TEST_LOG ?? 'silent';

function etcdConfig(host: string, port: number, over: Partial<EtcdConfig> = {}): EtcdConfig {
  return {
    hosts: [{ host, port }],
    protocol: 'http',
    tls: null,
    username: null,
    password: null,
    dial_timeout: 1_000,
    resync_interval: 5_000,
    ...over,
  };
}

/** A Config by hand (the loader is tested elsewhere): checks 3s/fall 3/rise 2/fast 100ms. */
function routerConfig(c: LocalCluster): Config {
  const common = {
    ...({ balance: 'roundrobin', ssl: 'passthrough', maxconn: 0, on_marked_down: 'shutdown', on_lag: 'drain', on_switchover: 'hold', proxy_protocol: null, allow: null } as const),
    ...({ tls: null, server_tls: { mode: 'disable', ca: null, cert: null, key: null } } as const),
  };
  return {
    cluster: { scope: c.scope, namespace: c.namespace, etcd: etcdConfig(c.etcdHost, c.etcdPort), members: null, on_etcd_loss: 'follow_probes' },
    checks: { interval: 3_000, timeout: 1_000, fall: 3, rise: 2, fast_interval: 100, fastinter: 3_000, tls: null },
    listeners: [
      { name: 'rw', bind: { host: '127.0.0.1', port: 0 }, role: 'primary', max_lag: null, fallback: 'none', ...common },
      { name: 'ro', bind: { host: '127.0.0.1', port: 0 }, role: 'replica', max_lag: 1_048_576, fallback: 'primary', ...common },
    ],
    timeouts: { connect: 1_000, client: 0, server: 0, startup: 5_000, connect_wait: 5_000, queue: 5_000, keepalive: 60_000, shutdown_grace: 1_000, server_hello: 1_000, reload_drain: 300_000 },
    http: { bind: { host: '127.0.0.1', port: 0 }, stats_refresh: 10_000, ready: 'primary' },
    admin: { bind: { host: '127.0.0.1', port: 0 }, token: null, quitquitquit: false },
    log: { level: 'info', format: 'json' },
    workers: 1,
    cancel: { max_inflight: 64, max_inflight_per_client: 8, rewrite_keys: false, instance_id: 0, peers: [] },
    relay: 'auto',
  };
}

describe('EtcdSource against a bare etcd', () => {
  let server: EtcdServer;
  let dir: string;
  let client: Etcd3;
  let source: EtcdSource;
  const prefix = '/service/bare/';
  const changes: { snap: EtcdSnapshot; changed: readonly string[] }[] = [];
  const last = () => changes[changes.length - 1]?.snap;

  beforeAll(async () => {
    const runAs = runAsIdentity();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-etcd-source-'));
    if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid);
    server = new EtcdServer({ dir: path.join(dir, 'etcd'), clientPort: await findFreePort(), peerPort: await findFreePort(), name: 'pgr-etcd-source', runAs, log: () => undefined });
    await server.start();
    client = new Etcd3({ hosts: server.clientUrl });
    await client.put(`${prefix}leader`).value('node1');
    await client.put(`${prefix}members/node1`).value('{"role":"master"}');
    await client.put('/service/other/leader').value('x');
    source = new EtcdSource({
      etcd: etcdConfig(server.host, server.clientPort, { resync_interval: 1_000 }),
      prefix,
      log: createLogger({ level: LOG_LEVEL }),
      onChange: (snap, changed) => changes.push({ snap, changed }),
      backoff: { initialMs: 50, maxMs: 500 },
    });
    source.start();
  });

  afterAll(async () => {
    await source?.close();
    client?.close();
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads the prefix, then applies put and delete events with the keys they changed', async () => {
    await waitFor(() => last()?.connected, { timeoutMs: 10_000, what: 'first read' });
    expect([...(last()?.keys ?? [])]).toEqual([['leader', 'node1'], ['members/node1', '{"role":"master"}']]);
    await client.put(`${prefix}leader`).value('node2');
    await waitFor(() => last()?.keys.get('leader') === 'node2', { timeoutMs: 5_000, what: 'leader put event' });
    expect(changes[changes.length - 1]?.changed).toEqual(['leader']);
    await client.delete().key(`${prefix}members/node1`);
    await waitFor(() => !last()?.keys.has('members/node1'), { timeoutMs: 5_000, what: 'member delete event' });
    expect(changes[changes.length - 1]?.changed).toEqual(['members/node1']);
  });

  it('sees a key deleted by lease expiry at once', async () => {
    const lease = client.lease(1, { autoKeepAlive: false });
    await lease.put(`${prefix}members/node9`).value('{}');
    await waitFor(() => last()?.keys.has('members/node9'), { timeoutMs: 5_000, what: 'leased key' });
    const revoked = Date.now();
    await lease.revoke();
    await waitFor(() => !last()?.keys.has('members/node9'), { timeoutMs: 5_000, what: 'delete on lease revoke' });
    expect(Date.now() - revoked).toBeLessThan(1_000);
  });

  it('re-reads the prefix on the watchdog timer', async () => {
    const before = last()?.lastResyncAt ?? 0;
    await waitFor(() => (last()?.lastResyncAt ?? 0) > before, { timeoutMs: 5_000, what: 'a watchdog resync' });
    expect(last()?.connected).toBe(true);
  });

  it('notices a frozen etcd through the watchdog although the watch reports nothing', async () => {
    // SIGSTOP keeps the TCP connections open: the watch just goes quiet (etcd3 npm #72/#78).
    const pid = server.pid;
    if (pid === undefined) throw new Error('etcd is not running');
    process.kill(pid, 'SIGSTOP');
    const frozenAt = Date.now();
    try {
      await waitFor(() => last()?.connected === false, { timeoutMs: 10_000, what: 'disconnected while etcd is frozen' });
      // resync_interval (1 s) + dial_timeout (1 s), plus scheduling slack.
      expect(Date.now() - frozenAt).toBeLessThan(3_500);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(() => last()?.connected === true, { timeoutMs: 10_000, what: 'reconnected after SIGCONT' });
    await client.put(`${prefix}leader`).value('node4');
    await waitFor(() => last()?.keys.get('leader') === 'node4', { timeoutMs: 5_000, what: 'event after the thaw' });
  });

  it('reports etcd unreachable while it is down and resyncs when it is back', async () => {
    await server.stop();
    await waitFor(() => last()?.connected === false, { timeoutMs: 10_000, what: 'disconnected' });
    expect(last()?.error).toMatch(/range read .* failed/);
    const downAt = Date.now();
    await server.start();
    await waitFor(() => last()?.connected === true && (last()?.lastResyncAt ?? 0) > downAt, { timeoutMs: 10_000, what: 'reconnected' });
    // The re-created watch works: a new event arrives.
    await client.put(`${prefix}leader`).value('node3');
    await waitFor(() => last()?.keys.get('leader') === 'node3', { timeoutMs: 5_000, what: 'event after reconnect' });
  });
});

describe('Discovery following a real Patroni cluster', () => {
  let cluster: LocalCluster;
  let discovery: Discovery;
  let watcherClient: Etcd3;
  /** Times a separate etcd client saw `leader` written or deleted. */
  const leaderEvents: { at: number; type: 'put' | 'delete'; value: string }[] = [];
  const watchErrors: string[] = [];
  const figures: Record<string, number> = {};
  const probes: (ProbeEvent & { at: number })[] = [];

  async function watchLeader(): Promise<void> {
    const w = await watcherClient.watch().key(`${cluster.namespace}${cluster.scope}/leader`).create();
    w.on('put', (kv) => leaderEvents.push({ at: Date.now(), type: 'put', value: kv.value.toString() }));
    w.on('delete', () => leaderEvents.push({ at: Date.now(), type: 'delete', value: '' }));
    // An 'error' without a listener would throw; the etcd outage step may cancel this watch.
    w.on('error', (err) => watchErrors.push(String(err)));
  }

  /** ms from the `leader` PUT naming `to` (seen by the test's own watcher) to the view naming it. */
  function putToView(to: string, after: number): { put: number; seen: number; view: number } {
    const put = leaderEvents.find((e) => e.type === 'put' && e.value === to && e.at >= after);
    const seen = discovery.timeline().find((t) => t.kind === 'leader_key' && t.to === to && t.at >= after);
    const view = discovery.timeline().find((t) => t.kind === 'primary' && t.to === to && t.at >= after);
    if (!put || !seen || !view) throw new Error(`missing events: put=${!!put} seen=${!!seen} view=${!!view}`);
    return { put: put.at, seen: seen.at - put.at, view: view.at - put.at };
  }

  beforeAll(async () => {
    cluster = await LocalCluster.start();
    watcherClient = new Etcd3({ hosts: `http://${cluster.etcdHost}:${cluster.etcdPort}` });
    await watchLeader();
    discovery = new Discovery({
      config: routerConfig(cluster),
      logger: createLogger({ level: LOG_LEVEL }),
      onProbe: (e) => probes.push({ ...e, at: Date.now() }),
    });
    await discovery.start();
  });

  afterAll(async () => {
    await discovery?.close();
    watcherClient?.close();
    await cluster?.stop();
    const ms = probes.filter((p) => p.status !== null).map((p) => p.ms).sort((a, b) => a - b);
    figures.probes = ms.length;
    figures.probeP50 = Math.round((ms[Math.floor(ms.length / 2)] ?? 0) * 10) / 10;
    figures.probeP99 = Math.round((ms[Math.floor(ms.length * 0.99)] ?? 0) * 10) / 10;
    console.log(`[discovery figures, ms] ${JSON.stringify(figures)}${watchErrors.length ? ` watch errors: ${watchErrors.join('; ')}` : ''}`);
  });

  it('names the leader and every member with its address', async () => {
    const leader = await cluster.leader();
    await waitFor(() => discovery.current().primary === leader, { timeoutMs: 15_000, what: `view to name ${leader}` });
    const v = discovery.current();
    expect(v.leader_key).toBe(leader);
    expect(v.primary_reason).toBe(`leader key ${leader} confirmed by /primary`);
    expect(v.members.map((m) => [m.name, m.host, m.port, m.api])).toEqual(cluster.nodes.map((n) => [n.name, n.host, n.pgPort, n.apiUrl]));
    expect(v.etcd?.connected).toBe(true);
    await waitFor(() => discovery.current().members.filter((m) => m.replica_checks['1048576']?.up).length === 2, {
      timeoutMs: 15_000,
      what: 'both replicas up on /replica?lag=1MB',
    });
    expect(discovery.current().members.find((m) => m.name === leader)?.role).toBe('primary');
  });

  it('names the new leader within 1 s of Patroni writing the leader key after a switchover', async () => {
    const started = Date.now();
    const { from, to } = await cluster.switchover();
    await waitFor(() => discovery.current().primary === to, { timeoutMs: 10_000, what: `view to name ${to}` });
    const t = putToView(to, started);
    figures.switchoverKeySeen = t.seen;
    figures.switchoverPutToView = t.view;
    // Patroni 3.0.2 answers /primary 200 from the moment it holds the key; until promotion ends
    // the body says role replica, which the prober counts as a failure.
    figures.switchoverNotPromotedProbes = probes.filter((p) => p.member === to && p.at >= t.put && /not promoted/.test(p.error ?? '')).length;
    figures.switchoverProbesBeforeConfirm = probes.filter((p) => p.member === to && p.check === 'primary' && p.at >= t.put && p.at <= t.put + t.view).length;
    expect(t.view).toBeLessThan(1_000);
    expect(discovery.current().members.find((m) => m.name === from)?.leader_key).toBe(false);
    // The old primary was never named primary again after the key left it.
    const after = discovery.timeline().filter((e) => e.kind === 'primary' && e.at >= started);
    expect(after.map((e) => e.to)).toEqual([null, to]);
  });

  it('follows the new leader after the leader crashes', async () => {
    const leader = await cluster.leader();
    const started = Date.now();
    await cluster.crash(leader);
    const next = await cluster.waitForLeader((n) => n !== leader, 60_000);
    await waitFor(() => discovery.current().primary === next, { timeoutMs: 10_000, what: `view to name ${next}` });
    const t = putToView(next, started);
    figures.crashPutToView = t.view;
    figures.crashToView = t.put + t.view - started;
    expect(t.view).toBeLessThan(1_000);
    // The crashed member's lease expired: its members/ key went, so it left the view.
    await waitFor(() => !discovery.current().members.some((m) => m.name === leader), { timeoutMs: 20_000, what: `${leader} to leave the view` });
  });

  it('keeps the probed leader while etcd is down (follow_probes) and resyncs when etcd is back', async () => {
    const leader = discovery.current().primary;
    expect(leader).not.toBeNull();
    const resyncBefore = discovery.current().etcd?.last_resync_at ?? 0;
    await cluster.stopEtcd();
    await waitFor(() => discovery.current().etcd?.connected === false, { timeoutMs: 10_000, what: 'etcd disconnected in the view' });
    const down = discovery.current();
    expect(down.primary).toBe(leader);
    expect(down.primary_reason).toMatch(/^etcd unreachable .*following probes/);
    await cluster.startEtcd();
    await waitFor(() => discovery.current().etcd?.connected === true, { timeoutMs: 15_000, what: 'etcd reconnected in the view' });
    expect(discovery.current().etcd?.last_resync_at ?? 0).toBeGreaterThan(resyncBefore);
    const now = await cluster.waitForLeader(() => true, 60_000);
    await waitFor(() => discovery.current().primary === now && discovery.current().leader_key === now, {
      timeoutMs: 15_000,
      what: `view to name ${now} from etcd again`,
    });
  });
});
