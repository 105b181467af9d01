// The local cluster harness itself: real etcd 3.4, three Patroni 3.0.2 / PostgreSQL 15 nodes.
// The steps build on each other (switchover, crash, rejoin, etcd outage, teardown), so they
// share one cluster and run in order.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, findFreePort, waitFor } from '../harness/cluster.js';
import { isPidAlive } from '../harness/process.js';

const run = promisify(execFile);

/** Pids whose command line names the base dir (etcd, Patroni, postmasters) or the scope (backends, via cluster_name). */
function processesOf(cluster: LocalCluster): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch (err) {
      // Processes come and go while we scan; a vanished one is simply not ours any more.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') continue;
      throw err;
    }
    if (cmdline.includes(`${cluster.baseDir}/`) || cmdline.includes(`${cluster.scope}:`)) found.push(Number(entry));
  }
  return found.filter(isPidAlive);
}

describe('local cluster harness', () => {
  let cluster: LocalCluster;
  let crashed = '';
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const started = Date.now();
    cluster = await LocalCluster.start();
    timings.startMs = Date.now() - started;
  });

  afterAll(async () => {
    await cluster?.stop();
    console.log(`[harness timings] ${JSON.stringify(timings)}`);
  });

  it('hands out distinct free loopback ports and names what it waited for on timeout', async () => {
    const ports = await Promise.all([findFreePort(), findFreePort(), findFreePort()]);
    expect(new Set(ports).size).toBe(3);
    expect(ports.every((p) => p > 1024 && ![5432, 5433, 8404, 2379, 2380, 8008].includes(p))).toBe(true);
    await expect(waitFor(() => false, { timeoutMs: 50, intervalMs: 10, what: 'pigs to fly' })).rejects.toThrow(/pigs to fly/);
  });

  it('starts one leader and two streaming replicas within 30 s', async () => {
    expect(timings.startMs).toBeLessThan(30_000);
    expect(await cluster.leader()).toBe('node1');
    const members = await cluster.members();
    expect(members.map((m) => [m.name, m.role, m.state])).toEqual([
      ['node1', 'leader', 'running'],
      ['node2', 'replica', 'running'],
      ['node3', 'replica', 'running'],
    ]);
    expect(await cluster.psql('node1', 'select pg_is_in_recovery()')).toBe('f');
    expect(await cluster.psql('node2', 'select pg_is_in_recovery()')).toBe('t');
    expect(await cluster.psql('node3', 'select pg_is_in_recovery()')).toBe('t');
    const senders = await cluster.psql('node1', "select application_name from pg_stat_replication where state = 'streaming' order by 1");
    expect(senders.split('\n')).toEqual(['node2', 'node3']);
    expect(await cluster.psql('node1', 'show max_connections')).toBe('200');
  });

  it('keeps Patroni keys in the etcd v3 keyspace under <namespace><scope>/', async () => {
    const prefix = `${cluster.namespace}${cluster.scope}/`;
    // Ask the real etcdctl (v3 API) too, so the layout is not just what our own client thinks.
    const { stdout } = await run('etcdctl', [`--endpoints=${cluster.etcdHost}:${cluster.etcdPort}`, 'get', '--prefix', '--keys-only', prefix], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const keys = stdout.split('\n').filter(Boolean).map((k) => k.slice(prefix.length));
    expect(keys).toEqual(expect.arrayContaining(['config', 'initialize', 'leader', 'members/node1', 'members/node2', 'members/node3']));
    const kv = new Map((await cluster.etcdKeys()).map((e) => [e.key.slice(prefix.length), e.value]));
    expect(kv.get('leader')).toBe('node1');
    expect(JSON.parse(kv.get('members/node1') ?? '{}')).toMatchObject({ role: 'master', state: 'running' });
    expect(JSON.parse(kv.get('config') ?? '{}')).toMatchObject({ ttl: 10, loop_wait: 1, retry_timeout: 4 });
  });

  it('switches over to a chosen replica', async () => {
    const started = Date.now();
    const result = await cluster.switchover('node2');
    timings.switchoverMs = Date.now() - started;
    expect(result).toEqual({ from: 'node1', to: 'node2' });
    expect(await cluster.leader()).toBe('node2');
    expect(await cluster.psql('node2', 'select pg_is_in_recovery()')).toBe('f');
    // The old leader rejoins as a replica after the switchover returns; wait for it, or a crash
    // of the new leader could promote a replica that never followed it (see switchover()).
    await cluster.waitForHealthy({ timeoutMs: 60_000 });
    timings.switchoverHealthyMs = Date.now() - started;
    // The new leader records the timeline switch in `history` on one of its next HA cycles.
    const history = `${cluster.namespace}${cluster.scope}/history`;
    await waitFor(async () => (await cluster.etcdKeys()).some((e) => e.key === history), { timeoutMs: 15_000, what: history });
  }, 120_000);

  it('elects a new leader when the leader crashes', async () => {
    const old = await cluster.leader();
    crashed = old;
    const started = Date.now();
    await cluster.crash(old);
    const next = await cluster.waitForLeader((name) => name !== old, 60_000);
    timings.crashFailoverMs = Date.now() - started;
    expect(next).not.toBe(old);
    expect(await cluster.psql(next, 'select pg_is_in_recovery()')).toBe('f');
    expect(cluster.pids()).toHaveLength(5); // 2 × (Patroni + postmaster) + etcd
  }, 90_000);

  it('rejoins the crashed node as a streaming replica after a restart', async () => {
    expect(crashed).toBe('node2');
    const started = Date.now();
    await cluster.restart(crashed);
    await cluster.waitForHealthy({ timeoutMs: 90_000 });
    timings.rejoinMs = Date.now() - started;
    expect(await cluster.psql(crashed, 'select pg_is_in_recovery()')).toBe('t');
  }, 120_000);

  it('stops a replica cleanly (member state "stopped") and brings it back with restart()', async () => {
    const leader = await cluster.leader();
    const replica = cluster.nodes.map((n) => n.name).find((name) => name !== leader) ?? '';
    const memberKey = `${cluster.namespace}${cluster.scope}/members/${replica}`;
    await cluster.stopNode(replica);
    // Patroni 3.0.2 writes state "stopped" into its member key on a clean shutdown and leaves
    // the key to expire with its lease (a crash leaves the last "running" state instead).
    const member = (await cluster.etcdKeys()).find((e) => e.key === memberKey);
    expect(JSON.parse(member?.value ?? '{}')).toMatchObject({ state: 'stopped' });
    expect(cluster.pids()).toHaveLength(5);
    await cluster.waitForHealthy({ timeoutMs: 30_000, replicas: 1 });
    await cluster.restart(replica);
    await cluster.waitForHealthy({ timeoutMs: 60_000 });
    expect(await cluster.psql(replica, 'select pg_is_in_recovery()')).toBe('t');
  }, 120_000);

  it('pauses and resumes automatic failover', async () => {
    await cluster.pause();
    expect((await cluster.patronictl(['list'])).toLowerCase()).toContain('maintenance mode');
    await cluster.resume();
    expect((await cluster.patronictl(['list'])).toLowerCase()).not.toContain('maintenance mode');
  });

  it('demotes the leader while etcd is down and elects one again once etcd is back', async () => {
    const before = await cluster.leader();
    const stopped = Date.now();
    await cluster.stopEtcd();
    await expect(cluster.etcdKeys()).rejects.toThrow();
    // Without the DCS the leader cannot renew its lock; Patroni (no failsafe_mode) demotes it.
    await waitFor(async () => (await cluster.psql(before, 'select pg_is_in_recovery()')) === 't', {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: `${before} to demote itself while etcd is down`,
    });
    timings.etcdOutageDemoteMs = Date.now() - stopped;
    const started = Date.now();
    await cluster.startEtcd();
    const leader = await cluster.waitForLeader(() => true, 60_000);
    timings.etcdBackLeaderMs = Date.now() - started;
    await cluster.waitForHealthy({ timeoutMs: 60_000 });
    timings.etcdBackHealthyMs = Date.now() - started;
    expect(await cluster.psql(leader, 'select pg_is_in_recovery()')).toBe('f');
  }, 150_000);

  it('stop() leaves no process and no base dir behind, and is idempotent', async () => {
    const pids = cluster.pids();
    expect(pids).toHaveLength(7); // 3 × (Patroni + postmaster) + etcd
    expect(processesOf(cluster).length).toBeGreaterThan(pids.length); // backends, walsenders, ...
    const started = Date.now();
    await cluster.stop();
    timings.stopMs = Date.now() - started;
    expect(pids.filter(isPidAlive)).toEqual([]);
    await waitFor(() => processesOf(cluster).length === 0, { timeoutMs: 5000, what: 'every cluster process to exit' });
    expect(fs.existsSync(cluster.baseDir)).toBe(false);
    await cluster.stop();
  });
});
