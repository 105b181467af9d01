// The core router against a real cluster: etcd 3.4 + 3 × Patroni 3.0.2 / PostgreSQL 15,
// with real clients (node-postgres, psql, pgbench, psycopg2).
import { execFile, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, LocalCluster, waitFor } from '../harness/cluster.js';
import { sslRequest, startupPacket } from '../unit/proxy/helpers/packets.js';
import type { Router } from '../../src/router/router.js';
import { freeRouterPorts, pgClient, portOf, psql, rawClientClosed, routerConfig, startRouter, whereAmI, type RouterPorts } from './router-fixture.js';

const run = promisify(execFile);
// Debian's python3 has python3-psycopg2; a pyenv/venv python3 earlier on PATH may not.
const PYTHON = '/usr/bin/python3';
const cancelScript = fileURLToPath(new URL('./cancel-client.py', import.meta.url));

describe('pgrouter in front of a real Patroni cluster', () => {
  let cluster: LocalCluster;
  let router: Router;
  let ports: RouterPorts;

  beforeAll(async () => {
    cluster = await LocalCluster.start();
    ports = await freeRouterPorts();
    router = await startRouter(routerConfig(cluster, ports));
    const leader = await cluster.leader();
    await waitFor(() => router.discovery.current().primary === leader, { timeoutMs: 15_000, what: 'router to confirm the leader' });
    await waitFor(() => router.discovery.current().members.filter((m) => Object.values(m.replica_checks).some((c) => c.up)).length === 2, {
      timeoutMs: 20_000,
      what: 'router to see two fit replicas',
    });
  });

  afterAll(async () => {
    await router?.close({ graceMs: 0 });
    await cluster?.stop();
  });

  it('routes RW sessions to the leader and RO sessions to both replicas, never the leader', async () => {
    const leader = await cluster.leader();
    const rw = await whereAmI(ports.rw);
    expect(rw).toEqual({ serverPort: portOf(cluster, leader), inRecovery: false });

    const roPorts = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const ro = await whereAmI(ports.ro);
      expect(ro.inRecovery).toBe(true);
      roPorts.add(ro.serverPort);
    }
    const replicaPorts = cluster.nodes.filter((n) => n.name !== leader).map((n) => n.pgPort);
    expect([...roPorts].sort()).toEqual(replicaPorts.sort());
    expect(await psql(ports.rw, 'select pg_is_in_recovery()')).toBe('f');
  });

  it('cancels pg_sleep(5) through the RO port with two replicas 10 of 10 times within 1 s', async () => {
    const { stdout } = await run(PYTHON, [cancelScript, String(ports.ro), '10', ...cluster.nodes.map((n) => String(n.pgPort))], { timeout: 120_000 });
    const result = JSON.parse(stdout) as { ok: number; results: unknown[] };
    expect(result.ok, JSON.stringify(result.results)).toBe(10);
  });

  it('cancels pg_sleep(5) through the RW port too', async () => {
    const { stdout } = await run(PYTHON, [cancelScript, String(ports.rw), '3', ...cluster.nodes.map((n) => String(n.pgPort))], { timeout: 60_000 });
    const result = JSON.parse(stdout) as { ok: number; results: unknown[] };
    expect(result.ok, JSON.stringify(result.results)).toBe(3);
  });

  it('closes and counts bad clients while a concurrent pgbench runs without a single error', async () => {
    await run('pgbench', ['-i', '-q', '-s', '1', '-h', '127.0.0.1', '-p', String(ports.rw), '-U', 'postgres', 'postgres']);
    const before = router.dataPath.traffic()['rw']?.refusals ?? {};
    const bench = spawn('pgbench', ['-S', '-c', '4', '-j', '2', '-T', '8', '-h', '127.0.0.1', '-p', String(ports.rw), '-U', 'postgres', 'postgres']);
    let out = '';
    bench.stdout.on('data', (d: Buffer) => (out += d.toString()));
    bench.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const benchDone = new Promise<number | null>((resolve) => bench.on('exit', resolve));

    const random = Buffer.alloc(64);
    for (let i = 0; i < random.length; i++) random[i] = (i * 37 + 11) & 0xff;
    const oversized = startupPacket({ user: 'postgres', database: 'x'.repeat(11_000) });
    const sslThenBytes = Buffer.concat([sslRequest(), startupPacket({ user: 'postgres' })]);
    const results = await Promise.all([
      rawClientClosed(ports.rw, random, 5_000),
      rawClientClosed(ports.rw, oversized, 5_000),
      rawClientClosed(ports.rw, sslThenBytes, 5_000),
      rawClientClosed(ports.rw, null, 10_000), // says nothing: closed after timeouts.startup (2 s)
    ]);
    expect(results.map((r) => r.closed)).toEqual([true, true, true, true]);
    // The pipelined plaintext after the SSLRequest never reached a server: no 'S'/'N' answer.
    expect(results[2]?.received.length).toBe(0);

    const code = await benchDone;
    expect(code, out).toBe(0);
    expect(out).toMatch(/number of failed transactions: 0/);
    const after = router.dataPath.traffic()['rw']?.refusals ?? {};
    const delta = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    expect(Object.keys(after).reduce((n, k) => n + delta(k), 0)).toBe(4);
    expect(delta('startup_timeout')).toBe(1);
    expect(delta('ssl_pipelined')).toBe(1);
  });

  it('after a switchover closes RW sessions on the old leader, sends new ones to the new leader, and holds clients that connect meanwhile', async () => {
    const oldLeader = await cluster.leader();
    const before = await pgClient(ports.rw);
    const beforeClosed = new Promise<void>((resolve) => {
      before.on('error', () => resolve());
      before.on('end', () => resolve());
    });

    // New clients keep arriving through the whole switchover, each as soon as the one before
    // it has settled (held ones included); every one must connect.
    // A client that connected to the old leader just before it shut down may be killed while
    // ending (57P01): that is the old leader's sessions being closed, not a failed connect.
    let arriving = true;
    let killedAfterConnect = 0;
    const attempts: Array<string | null> = [];
    const arrivals = (async () => {
      while (arriving) {
        attempts.push(
          await pgClient(ports.rw, { connectionTimeoutMillis: 30_000 }).then(
            async (c) => {
              c.on('error', () => killedAfterConnect++);
              await c.end();
              return null;
            },
            (e: unknown) => String(e),
          ),
        );
      }
    })();

    const { to } = await cluster.switchover();
    expect(to).not.toBe(oldLeader);
    await waitFor(() => router.discovery.current().primary === to, { timeoutMs: 10_000, what: 'router to confirm the new leader' });
    arriving = false;
    await arrivals;
    const errors = attempts.filter((e) => e !== null);
    expect(errors, errors.join('\n')).toEqual([]);
    expect(attempts.length).toBeGreaterThan(5);
    expect(killedAfterConnect).toBeLessThanOrEqual(attempts.length);

    await beforeClosed;
    expect(await whereAmI(ports.rw)).toEqual({ serverPort: portOf(cluster, to), inRecovery: false });
    await cluster.waitForHealthy({ timeoutMs: 60_000 });
  });

  it('follows the new leader after the leader crashes', async () => {
    const oldLeader = await cluster.leader();
    await cluster.crash(oldLeader);
    const next = await waitFor(
      () => {
        const p = router.discovery.current().primary;
        return p !== null && p !== oldLeader ? p : undefined;
      },
      { timeoutMs: 60_000, what: 'router to confirm a new leader after the crash' },
    );
    expect(await whereAmI(ports.rw)).toEqual({ serverPort: portOf(cluster, next), inRecovery: false });
    await cluster.restart(oldLeader);
    await cluster.waitForHealthy({ timeoutMs: 90_000 });
  });

  it('reloads in one process (workers: 1): a new listener serves while a session opened before keeps running', async () => {
    const before = await pgClient(ports.rw);
    const extra = await findFreePort();
    const next = routerConfig(cluster, ports, { extraListeners: [`  - { name: ro2, bind: "127.0.0.1:${extra}", role: replica, balance: leastconn }`] });
    expect(await router.reload(next)).toEqual({ ok: true });
    expect((await whereAmI(extra)).inRecovery).toBe(true);
    const r = await before.query<{ one: number }>('select 1 as one');
    expect(r.rows[0]?.one).toBe(1);
    await before.end();
    // And back: the removed listener stops accepting, the kept ones never did.
    expect(await router.reload(routerConfig(cluster, ports))).toEqual({ ok: true });
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(extra, '127.0.0.1', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect((await whereAmI(ports.rw)).inRecovery).toBe(false);
  });

  it('refuses a client with SQLSTATE 57P03 after connect_wait when there is no primary', async () => {
    const shortPorts = await freeRouterPorts();
    const short = await startRouter(routerConfig(cluster, shortPorts, { connectWait: '1s' }));
    try {
      const leader = await cluster.leader();
      await cluster.pause();
      await cluster.crash(leader);
      await waitFor(() => short.discovery.current().primary === null, { timeoutMs: 60_000, what: 'no confirmed primary' });
      const started = Date.now();
      const err = await pgClient(shortPorts.rw).then(
        () => null,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(err?.code).toBe('57P03');
      expect(err?.message).toContain('no primary available for listener rw');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      await cluster.resume();
      await cluster.restart(leader);
      await cluster.waitForHealthy({ timeoutMs: 90_000 });
    } finally {
      await short.close({ graceMs: 0 });
    }
  });
});
