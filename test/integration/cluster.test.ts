// Cluster mode against a real cluster (etcd 3.4 + 3 × Patroni 3.0.2 / PostgreSQL 15): a
// ClusterPlane with two data-path workers (the compiled dist/ build: `npm run build` first),
// real clients (node-postgres, psycopg2), kill -9, switchover, reload, and the CLI's drain.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterPlane } from '../../src/cluster/cluster-plane.js';
import { reloadFromFile } from '../../src/plane/reload.js';
import { loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import type { SessionInfo } from '../../src/sessions/types.js';
import { LocalCluster, findFreePort, waitFor, within } from '../harness/cluster.js';
import { cancelsOf } from '../unit/proxy/helpers/fixture.js';
import { freeRouterPorts, pgClient, portOf, startRouter, whereAmI, type RouterPorts } from './router-fixture.js';
import { captureLog } from '../helpers/capture-log.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const cancelScript = fileURLToPath(new URL('./cancel-client.py', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/pgrouter', import.meta.url));

type Ports = RouterPorts;

function yaml(cluster: LocalCluster, ports: Ports, extraListeners: string[] = [], extra: string[] = []): string {
  return [
    'cluster:',
    `  scope: ${cluster.scope}`,
    `  namespace: ${cluster.namespace}`,
    `  etcd: { hosts: ["${cluster.etcdHost}:${cluster.etcdPort}"], resync_interval: 10s }`,
    'checks: { interval: 3s, timeout: 2s, fall: 3, rise: 2, fast_interval: 100ms }',
    'listeners:',
    `  - { name: rw, bind: "127.0.0.1:${ports.rw}", role: primary }`,
    `  - { name: ro, bind: "127.0.0.1:${ports.ro}", role: replica, max_lag: 1MB, balance: roundrobin, fallback: primary }`,
    ...extraListeners,
    'timeouts: { connect: 2s, startup: 2s, connect_wait: 15s, shutdown_grace: 10s }',
    `http: { bind: "127.0.0.1:${ports.http}" }`,
    'workers: 2',
    ...extra,
  ].join('\n');
}

function load(text: string): Config {
  const r = loadConfigText(text, { env: {} });
  if (!r.ok) throw new Error(`test config invalid: ${JSON.stringify(r.issues)}`);
  return r.config;
}


function ended(c: pg.Client): Promise<void> {
  return new Promise((resolve) => {
    c.on('error', () => resolve());
    c.on('end', () => resolve());
  });
}

/** Worker id → its sessions' client ports (from the admin API's session list). */
async function sessionsByWorker(router: ClusterPlane): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for (const a of await router.supervisor.query('sessions')) {
    const ports = (a.data as SessionInfo[]).map((s) => Number(s.client_address.split(':').pop()));
    out.set(a.worker, ports);
  }
  return out;
}

/** Waits until `c`'s backend is inside pg_sleep (seen in pg_stat_activity on its node). */
async function sleepingOnServer(cluster: LocalCluster, c: pg.Client, serverPort: number): Promise<void> {
  const node = cluster.nodes.find((n) => n.pgPort === serverPort);
  if (!node) throw new Error(`no node on port ${serverPort}`);
  const pid = (c as unknown as { processID: number }).processID;
  const sql = `select count(*) from pg_stat_activity where pid = ${pid} and wait_event = 'PgSleep'`;
  await waitFor(async () => (await cluster.psql(node.name, sql)) === '1', { timeoutMs: 5_000, what: `backend ${pid} in pg_sleep` });
}

/** A CancelRequest (PostgreSQL "Message Flow: Canceling Requests") to any port. */
function sendCancel(port: number, pid: number, key: number): Promise<void> {
  const packet = Buffer.alloc(16);
  packet.writeUInt32BE(16, 0);
  packet.writeUInt32BE(80877102, 4);
  packet.writeUInt32BE(pid >>> 0, 8);
  packet.writeUInt32BE(key >>> 0, 12);
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(packet));
    s.on('error', reject);
    s.on('close', () => resolve());
    s.resume();
  });
}

describe('cluster mode (2 workers) in front of a real Patroni cluster', () => {
  let cluster: LocalCluster;
  let router: ClusterPlane;
  let ports: Ports;
  const log = captureLog();

  beforeAll(async () => {
    cluster = await LocalCluster.start();
    ports = await freeRouterPorts();
    router = new ClusterPlane(load(yaml(cluster, ports)), log.logger, { log: { level: process.env.PGROUTER_TEST_LOG ?? 'warn', format: 'json' } });
    await router.start();
    const leader = await cluster.leader();
    await waitFor(() => router.view().primary === leader, { timeoutMs: 15_000, what: 'router to confirm the leader' });
    await waitFor(() => router.view().members.filter((m) => Object.values(m.replica_checks).some((c) => c.up)).length === 2, {
      timeoutMs: 20_000,
      what: 'router to see two fit replicas',
    });
  });

  afterAll(async () => {
    await router?.close({ graceMs: 0 });
    await cluster?.stop();
  });

  it('spreads sessions over both workers, each routed to the leader', async () => {
    const leader = await cluster.leader();
    const clients: pg.Client[] = [];
    for (let i = 0; i < 4; i++) clients.push(await pgClient(ports.rw));
    await router.supervisor.refresh();
    expect(Object.values(router.supervisor.workerSessions()).sort()).toEqual([2, 2]);
    expect(router.supervisor.traffic()['rw']?.backends[leader]?.current).toBe(4);
    for (const c of clients) await c.end();
    expect(await whereAmI(ports.rw)).toEqual({ serverPort: portOf(cluster, leader), inRecovery: false });
  });

  it('cancels pg_sleep(5) through the RO port with two replicas 10 of 10 times', async () => {
    const { stdout } = await run(PYTHON, [cancelScript, String(ports.ro), '10', ...cluster.nodes.map((n) => String(n.pgPort))], { timeout: 120_000 });
    const result = JSON.parse(stdout) as { ok: number; results: unknown[] };
    expect(result.ok, JSON.stringify(result.results)).toBe(10);
    await router.supervisor.refresh();
    // Every cancel reached its replica exactly: locally or through the primary's key map.
    expect(cancelsOf(router.supervisor)['broadcast'] ?? 0).toBe(0);
    expect(router.supervisor.stats().cancelLookups.found).toBeGreaterThan(0);
  });

  it('respawns a worker killed with SIGKILL within 5 s; the other worker\'s sessions keep running and new clients connect', async () => {
    const a = await pgClient(ports.rw);
    const b = await pgClient(ports.rw);
    const aEnded = ended(a);
    const byWorker = await sessionsByWorker(router);
    const portA = (a as unknown as { connection: { stream: net.Socket } }).connection.stream.localPort;
    const victim = [...byWorker.entries()].find(([, p]) => p.includes(portA ?? -1))?.[0];
    const info = router.supervisor.workers().find((w) => w.id === victim);
    expect(info?.pid).toBeGreaterThan(0);
    const killedAt = Date.now();
    process.kill(info?.pid ?? 0, 'SIGKILL');
    await aEnded;
    expect((await b.query<{ one: number }>('select 1 as one')).rows[0]?.one).toBe(1);
    expect(await whereAmI(ports.rw)).toMatchObject({ inRecovery: false });
    await waitFor(() => router.supervisor.workers().filter((w) => w.state === 'ready' && w.generation === 1).length === 2, { timeoutMs: 5_000, what: 'respawned worker ready' });
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(log.lines.filter((l) => l['event'] === 'worker_crashed')).toMatchObject([{ signal: 'SIGKILL', restart_in_ms: 100 }]);
    expect(router.supervisor.stats().crashes).toBe(1);
    await b.end();
  });

  it('after a switchover closes RW sessions on the old leader in every worker', async () => {
    const clients: pg.Client[] = [];
    for (let i = 0; i < 4; i++) clients.push(await pgClient(ports.rw));
    expect([...(await sessionsByWorker(router)).values()].map((p) => p.length).sort()).toEqual([2, 2]);
    const closed = clients.map(ended);
    const { to } = await cluster.switchover();
    await waitFor(() => router.view().primary === to, { timeoutMs: 10_000, what: 'router to confirm the new leader' });
    await Promise.all(closed);
    expect(await whereAmI(ports.rw)).toEqual({ serverPort: portOf(cluster, to), inRecovery: false });
    await cluster.waitForHealthy({ timeoutMs: 60_000 });
    await waitFor(() => router.view().members.filter((m) => Object.values(m.replica_checks).some((c) => c.up)).length === 2, { timeoutMs: 30_000, what: 'two fit replicas again' });
  });

  it('routes like a second router instance, which cancels a query running through the first (broadcast)', async () => {
    const otherPorts = await freeRouterPorts();
    const other = await startRouter(load(yaml(cluster, otherPorts).replace('workers: 2', 'workers: 1')));
    try {
      const leader = await cluster.leader();
      await waitFor(() => other.discovery.current().primary === leader, { timeoutMs: 15_000, what: 'second router to confirm the leader' });
      expect(await whereAmI(otherPorts.rw)).toEqual(await whereAmI(ports.rw));
      for (const port of [ports.ro, otherPorts.ro]) expect((await whereAmI(port)).inRecovery).toBe(true);

      for (const [via, cancelAt] of [
        [ports.rw, otherPorts.rw],
        [ports.ro, otherPorts.ro],
      ] as const) {
        const c = await pgClient(via);
        const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
        const serverPort = (await c.query<{ port: number }>('select inet_server_port() as port')).rows[0]?.port ?? 0;
        const started = Date.now();
        const sleeping = c.query('select pg_sleep(5)').then(
          () => 'finished',
          (e: { code?: string }) => e.code ?? 'error',
        );
        await sleepingOnServer(cluster, c, serverPort);
        await sendCancel(cancelAt, processID, secretKey);
        expect(await sleeping).toBe('57014');
        expect(Date.now() - started).toBeLessThan(2_000);
        await c.end();
      }
    } finally {
      await other.close({ graceMs: 0 });
    }
  });

  it('reloads: a new listener serves while a session opened before survives; an invalid file changes nothing', async () => {
    const before = await pgClient(ports.rw);
    const beforeEnded = ended(before);
    const ro2 = await findFreePort();
    const dir = mkdtempSync(join(tmpdir(), 'pgr-cluster-reload-'));
    const file = join(dir, 'pgrouter.yaml');

    writeFileSync(file, yaml(cluster, ports).replace('balance: roundrobin', 'balance: sideways').replace('connect: 2s', 'conect: 2s'));
    const config = router.config;
    const generation = router.supervisor.stats().generation;
    const invalid = await reloadFromFile(router, file, {}, log.logger);
    expect(invalid).toMatchObject({ ok: false, reason: 'invalid' });
    expect(router.config).toBe(config);
    expect(router.supervisor.stats().generation).toBe(generation);
    const issues = log.lines.filter((l) => l['event'] === 'reload_config_issue').map((l) => l['path']);
    expect(issues).toEqual(['listeners[1].balance', 'timeouts.conect']);

    writeFileSync(file, yaml(cluster, ports, [`  - { name: ro2, bind: "127.0.0.1:${ro2}", role: replica }`]));
    const applied = await reloadFromFile(router, file, {}, log.logger);
    // ro2 has no max_lag: a new /replica check, so a new Discovery feeds the new generation.
    expect(applied).toMatchObject({ ok: true, plan: { listenersAdded: ['ro2'], dataPath: true, discovery: true } });
    expect(router.supervisor.stats().generation).toBe(generation + 1);
    expect((await whereAmI(ro2)).inRecovery).toBe(true);
    expect((await before.query<{ rec: boolean }>('select pg_is_in_recovery() as rec')).rows[0]?.rec).toBe(false);
    await before.end();
    await beforeEnded;
    await waitFor(() => router.supervisor.stats().draining === 0, { timeoutMs: 10_000, what: 'old generation to drain' });
  });
});

describe('pgrouter run with workers: 2 (needs cli.ts wired to cluster mode)', () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await LocalCluster.start();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('reloads on SIGHUP, then drains on SIGTERM: a running pg_sleep(2) finishes, a new connection is refused, exit code 0', async () => {
    const ports = await freeRouterPorts();
    const dir = mkdtempSync(join(tmpdir(), 'pgr-cluster-cli-'));
    const file = join(dir, 'pgrouter.yaml');
    writeFileSync(file, yaml(cluster, ports));
    const child = spawn(process.execPath, [BIN, 'run', '--config', file, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Every step is bounded and a failure carries the router's log: a hang names its step.
    const step = <T>(what: string, p: Promise<T>, ms = 15_000): Promise<T> => within(p, ms, () => `${what} (router output:\n${output})`);
    try {
      const leader = await step('the leader', cluster.leader());
      await waitFor(async () => (await step('a session on rw', whereAmI(ports.rw), 5_000)).serverPort === portOf(cluster, leader), {
        timeoutMs: 30_000,
        what: `pgrouter to route (output: ${output})`,
      });
      // Cluster mode: the primary runs two worker processes.
      const { stdout } = await run('pgrep', ['-P', String(child.pid)]);
      expect(stdout.trim().split('\n')).toHaveLength(2);

      // SIGHUP with one more listener: it serves once the new generation is up.
      const ro2 = await findFreePort();
      writeFileSync(file, yaml(cluster, ports, [`  - { name: ro2, bind: "127.0.0.1:${ro2}", role: replica, max_lag: 1MB }`]));
      child.kill('SIGHUP');
      await waitFor(async () => (await step('a session on ro2', whereAmI(ro2), 5_000)).inRecovery, { timeoutMs: 15_000, what: `ro2 to serve after SIGHUP (output: ${output})` });

      const c = await step('a client on rw', pgClient(ports.rw));
      const sleeping = c.query('select pg_sleep(2) as slept').then(
        () => 'finished',
        (e: unknown) => String(e),
      );
      await sleepingOnServer(cluster, c, portOf(cluster, leader));
      child.kill('SIGTERM');
      await waitFor(
        () =>
          new Promise<boolean>((resolve) => {
            const s = net.connect(ports.rw, '127.0.0.1');
            s.on('connect', () => (s.destroy(), resolve(false)));
            s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
          }),
        { timeoutMs: 1_500, what: 'new connections refused' },
      );
      expect(await step('pg_sleep(2) to end', sleeping)).toBe('finished');
      await step('the client to close', c.end());
      expect(await step('the router to exit', exited)).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    // Above the sum of the steps' bounds, so a slow step fails with its name, not this limit.
  }, 150_000);
});
