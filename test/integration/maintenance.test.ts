// Planned maintenance (issue 13) against a real cluster: etcd 3.4 + 3 × Patroni 3.0.2 /
// PostgreSQL 15. The order matters: the switchovers run before synchronous_mode is switched on
// (with it, Patroni only switches over to a synchronous standby).
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import pg from 'pg';
import { findFreePort, LocalCluster, waitFor } from '../harness/cluster.js';
import { HttpServer } from '../../src/http/server.js';
import type { StatsSnapshot } from '../../src/http/types.js';
import { silentLogger } from '../../src/log.js';
import { main } from '../../src/cli/main.js';
import type { Router } from '../../src/router/router.js';
import { pgClient, portOf, routerConfig, startRouter } from './router-fixture.js';

const TOKEN = 'maintenance-test-token-0123456789';

interface Ports {
  rw: number;
  ro: number;
  sync: number;
  http: number;
  admin: number;
}

/** One "application request": a new connection, one committed INSERT, close. Resolves with the server port. */
async function writeOnce(port: number): Promise<number> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  // A server that goes away between queries is reported by the query itself; this only keeps
  // the emitter from throwing.
  c.on('error', () => undefined);
  try {
    await c.connect();
    const r = await c.query<{ port: number }>('insert into maint_probe(t) values (now()) returning inet_server_port() as port');
    return r.rows[0]?.port ?? -1;
  } finally {
    await c.end().catch(() => undefined);
  }
}

describe('planned maintenance through pgrouter on a real cluster', () => {
  let cluster: LocalCluster;
  let router: Router;
  let http: HttpServer;
  let ports: Ports;
  let base: string;
  let adminBase: string;

  const snapshot = async (): Promise<StatsSnapshot> => (await fetch(`${base}/stats.json`)).json() as Promise<StatsSnapshot>;
  const admin = (path: string, body?: unknown): Promise<Response> =>
    fetch(`${adminBase}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  /** The router confirms the cluster's leader and sees both replicas fit. */
  const settled = async (): Promise<string> => {
    await cluster.waitForHealthy();
    const leader = await cluster.leader();
    await waitFor(
      () => {
        const v = router.discovery.current();
        return v.primary === leader && v.members.filter((m) => m.replica_checks['1048576']?.up === true).length === 2;
      },
      { timeoutMs: 30_000, what: `router to confirm ${leader} and two fit replicas` },
    );
    return leader;
  };

  beforeAll(async () => {
    cluster = await LocalCluster.start();
    ports = { rw: await findFreePort(), ro: await findFreePort(), sync: await findFreePort(), http: await findFreePort(), admin: await findFreePort() };
    // The rw/ro pair of the other suites, a sync listener that holds rather than fall back, and the admin API.
    const config = routerConfig(cluster, ports, {
      connectWait: '30s',
      extraListeners: [`  - { name: sync, bind: "127.0.0.1:${ports.sync}", role: sync, fallback: none }`],
      extra: [`admin: { bind: "127.0.0.1:${ports.admin}", token: "${TOKEN}" }`],
    });
    router = await startRouter(config);
    http = new HttpServer({ config, control: router, logger: silentLogger() });
    await http.start();
    base = `http://127.0.0.1:${ports.http}`;
    adminBase = `http://127.0.0.1:${ports.admin}`;
    await cluster.psql(await cluster.leader(), 'create table if not exists maint_probe (id bigserial primary key, t timestamptz not null)');
    await settled();
  });

  afterAll(async () => {
    await http?.close();
    await router?.close({ graceMs: 0 });
    await cluster?.stop();
  });

  it('holds the clients that connect during patronictl switchover and lands every one on the new leader without an error', async () => {
    await settled();
    const heldBefore = router.dataPath.traffic()['rw']?.held_total ?? 0;
    const errors: string[] = [];
    const landed: number[] = [];
    let stop = false;
    // A client that opens a connection per write, one after another, as the outage bench does.
    const loop = (async () => {
      while (!stop) {
        try {
          landed.push(await writeOnce(ports.rw));
        } catch (err) {
          errors.push(String(err));
        }
      }
    })();
    try {
      await waitFor(() => landed.length >= 5, { timeoutMs: 20_000, what: 'steady writes before the switchover' });
      const { to } = await cluster.switchover();
      const writesAfter = landed.length;
      await waitFor(() => landed.length >= writesAfter + 5 && landed.at(-1) === portOf(cluster, to), { timeoutMs: 30_000, what: `writes landing on ${to}` });
    } finally {
      stop = true;
      await loop;
    }
    expect(errors).toEqual([]);
    expect(router.dataPath.traffic()['rw']?.held_total ?? 0).toBeGreaterThan(heldBefore);
    // The leader history carries the hold: the change to the new leader says how long and how many.
    const change = (await snapshot()).leader_history[0];
    expect(change?.held_ms).toBeGreaterThan(0);
    expect(change?.held_clients).toBeGreaterThan(0);
    expect(change?.held_ms ?? 0).toBeGreaterThanOrEqual(change?.outage_ms ?? 0);
  });

  it('pause, switchover, resume: the held clients all write on the new leader, with zero errors', async () => {
    const oldLeader = await settled();
    const pause = await admin('/admin/listeners/rw/pause', { timeout: '90s' });
    expect([pause.status, ((await pause.json()) as { hold_ms: number }).hold_ms]).toEqual([200, 90_000]);
    expect((await fetch(`${base}/health/rw`)).status).toBe(503);
    expect((await fetch(`${base}/health/ro`)).status).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('pgrouter_listener_paused{listener="rw"} 1');

    const heldBefore = router.dataPath.traffic()['rw']?.held ?? 0;
    const clients = Array.from({ length: 5 }, () => writeOnce(ports.rw).then((port) => ({ port }), (err: unknown) => ({ error: String(err) })));
    await waitFor(() => (router.dataPath.traffic()['rw']?.held ?? 0) >= heldBefore + 5, { timeoutMs: 10_000, what: 'five clients held by the pause' });

    const { to } = await cluster.switchover();
    expect(to).not.toBe(oldLeader);
    await waitFor(() => router.discovery.current().primary === to, { timeoutMs: 30_000, what: `router to confirm ${to}` });
    // Still paused: nobody went anywhere during the switchover.
    expect(router.dataPath.traffic()['rw']?.held ?? 0).toBeGreaterThanOrEqual(heldBefore + 5);

    // `pgrouter resume rw`, through the admin API, with the token from the environment.
    const saved = process.env.PGROUTER_ADMIN_TOKEN;
    process.env.PGROUTER_ADMIN_TOKEN = TOKEN;
    const out: string[] = [];
    const sink = { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream;
    try {
      expect(await main(['resume', 'rw', '--url', adminBase], sink, sink)).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.PGROUTER_ADMIN_TOKEN;
      else process.env.PGROUTER_ADMIN_TOKEN = saved;
    }
    expect(out.join('')).toContain('listener rw resumed');
    expect(await Promise.all(clients)).toEqual(Array.from({ length: 5 }, () => ({ port: portOf(cluster, to) })));
    expect((await fetch(`${base}/health/rw`)).status).toBe(200);
    expect(router.dataPath.traffic()['rw']?.refusals['paused'] ?? 0).toBe(0);
  });

  it('closes what is left on a drained replica when the drain deadline passes', async () => {
    const leader = await settled();
    const session = await pgClient(ports.ro);
    const ended = new Promise<string>((resolve) => {
      session.on('error', (err) => resolve(`error: ${err.message}`));
      session.on('end', () => resolve('end'));
    });
    const r = await session.query<{ port: number }>('select inet_server_port() as port');
    const member = cluster.nodes.find((n) => n.pgPort === r.rows[0]?.port)?.name ?? '';
    expect(member).not.toBe(leader);
    const before = router.dataPath.traffic()['ro']?.closed['killed_drain_timeout'] ?? 0;

    const drain = await admin(`/admin/backends/${member}/state`, { state: 'drain', timeout: '1s' });
    const body = (await drain.json()) as { deadline_at: number | null };
    expect([drain.status, typeof body.deadline_at]).toEqual([200, 'number']);
    expect((await snapshot()).listeners.find((l) => l.name === 'ro')?.backends.find((b) => b.name === member)?.drain_deadline_at).toBe(body.deadline_at);

    expect(await ended).toMatch(/^(error|end)/);
    await waitFor(() => (router.dataPath.traffic()['ro']?.closed['killed_drain_timeout'] ?? 0) === before + 1, { timeoutMs: 5_000, what: 'the session counted as killed_drain_timeout' });
    expect(router.drainDeadlines()).toEqual({});
    expect((await admin(`/admin/backends/${member}/state`, { state: 'ready' })).status).toBe(200);
  });

  it('sends a sync listener to the synchronous standby once synchronous_mode is on, and follows it when Patroni picks another', async () => {
    const leader = await settled();
    expect((await fetch(`${base}/health/sync`)).status).toBe(503);
    await cluster.patronictl(['edit-config', cluster.scope, '--set', 'synchronous_mode=true', '--force']);
    const syncOf = async (): Promise<string[]> => {
      const key = (await cluster.etcdKeys()).find((k) => k.key.endsWith('/sync'));
      const standby = key ? ((JSON.parse(key.value) as { sync_standby?: string | null }).sync_standby ?? '') : '';
      return standby.split(',').filter((s) => s !== '');
    };
    const first = await waitFor(async () => (await syncOf())[0], { timeoutMs: 30_000, what: 'Patroni to name a synchronous standby' });
    await waitFor(() => router.discovery.current().members.some((m) => m.name === first && m.sync_standby === true && m.sync_checks?.any?.up === true), {
      timeoutMs: 15_000,
      what: `router to see ${first} as the synchronous standby`,
    });
    const session = await pgClient(ports.sync);
    const ended = new Promise<string>((resolve) => {
      session.on('error', (err) => resolve(`error: ${err.message}`));
      session.on('end', () => resolve('end'));
    });
    const r = await session.query<{ port: number }>('select inet_server_port() as port');
    expect(r.rows[0]?.port).toBe(portOf(cluster, first));

    // Tag the standby nosync and reload it: Patroni moves the synchronous role to the other replica.
    const node = cluster.node(first);
    const yaml = parse(fs.readFileSync(node.configFile, 'utf8')) as { tags: Record<string, unknown> };
    yaml.tags.nosync = true;
    fs.writeFileSync(node.configFile, stringify(yaml));
    await cluster.patronictl(['reload', cluster.scope, first, '--force']);
    const second = await waitFor(async () => (await syncOf()).find((n) => n !== first), { timeoutMs: 60_000, what: 'Patroni to pick another synchronous standby' });
    expect(second).not.toBe(leader);

    // The session on the former standby follows on_marked_down (shutdown); new ones go to the new standby.
    expect(await ended).toMatch(/^(error|end)/);
    await waitFor(async () => (await pgClient(ports.sync).then(async (c) => {
      try {
        return (await c.query<{ port: number }>('select inet_server_port() as port')).rows[0]?.port;
      } finally {
        await c.end();
      }
    })) === portOf(cluster, second), { timeoutMs: 30_000, what: `sync sessions on ${second}` });
    // Killed as not_sync when the `sync` key moved first (the usual order), as marked_down when its /sync probe did.
    const closed = router.dataPath.traffic()['sync']?.closed ?? {};
    expect((closed['killed_not_sync'] ?? 0) + (closed['killed_marked_down'] ?? 0)).toBe(1);
  });
});
