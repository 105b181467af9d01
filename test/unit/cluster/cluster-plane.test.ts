// ClusterPlane with two real workers (the compiled dist/src/cluster/worker-main.js: run
// `npm run build` first) in front of fake Patroni APIs and fake PostgreSQL backends.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterPlane } from '../../../src/cluster/cluster-plane.js';
import { defaultWorkerModule } from '../../../src/cluster/supervisor-options.js';
import { loadConfigText } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';
import { silentLogger } from '../../../src/log.js';
import { RouterMetrics } from '../../../src/metrics/router-metrics.js';
import { available } from '../../../src/relay/native-relay.js';
import { parsePrometheusText, valueOf } from '../../helpers/prom-text.js';
import { findFreePort } from '../../harness/ports.js';
import { makePki } from '../../harness/pki.js';
import { FakePatroni } from '../discovery/fake-patroni.js';
import { FakeBackend } from '../proxy/helpers/fake-backend.js';
import { cancelsOf } from '../proxy/helpers/fixture.js';
import { cancelPacket, queryPacket, sslRequest, startupPacket } from '../proxy/helpers/packets.js';
import { RawClient, readySession } from '../proxy/helpers/raw-client.js';
import { waitFor } from '../proxy/helpers/wait-for.js';
import { decodeRewrittenPid } from '../../../src/protocol/cancel-key.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

beforeAll(() => {
  if (!existsSync(defaultWorkerModule())) throw new Error(`${defaultWorkerModule()} is missing: run "npm run build" first`);
});

interface Cluster {
  patroni: Record<'n1' | 'n2' | 'n3', FakePatroni>;
  backends: Record<'n1' | 'n2' | 'n3', FakeBackend>;
}

async function fakeCluster(): Promise<Cluster> {
  const patroni = { n1: await FakePatroni.start('master'), n2: await FakePatroni.start('replica'), n3: await FakePatroni.start('replica') };
  const backends = { n1: await FakeBackend.start('n1'), n2: await FakeBackend.start('n2'), n3: await FakeBackend.start('n3') };
  cleanup.push(async () => {
    await Promise.all([...Object.values(patroni), ...Object.values(backends)].map((x) => x.close()));
  });
  return { patroni, backends };
}

function config(c: Cluster, listeners: string[], extra: string[] = []): Config {
  const members = (['n1', 'n2', 'n3'] as const).map((n) => `{ name: ${n}, host: 127.0.0.1, port: ${c.backends[n].port}, api: "${c.patroni[n].url}" }`);
  const text = [
    `cluster: { scope: cluster-test, members: [${members.join(', ')}] }`,
    'checks: { interval: 200ms, timeout: 500ms, fall: 1, rise: 1, fast_interval: 50ms }',
    'listeners:',
    ...listeners.map((l) => `  - ${l}`),
    'timeouts: { connect: 1s, startup: 2s, connect_wait: 3s, shutdown_grace: 0 }',
    'workers: 2',
    ...extra,
  ].join('\n');
  const r = loadConfigText(text, { env: {} });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

async function startRouter(cfg: Config): Promise<ClusterPlane> {
  const level = process.env.PGROUTER_TEST_LOG ?? 'silent';
  const router = new ClusterPlane(cfg, silentLogger(), { pollIntervalMs: 0, log: { level, format: 'json' } });
  cleanup.push(() => router.close({ graceMs: 0 }));
  await router.start();
  const replicas = cfg.listeners.some((l) => l.role === 'replica') ? 2 : 0;
  await waitFor(() => router.view().primary === 'n1' && router.view().members.filter((m) => m.replica_checks['any']?.up).length === replicas, {
    timeoutMs: 5_000,
    what: `n1 primary and ${replicas} fit replicas`,
  });
  return router;
}

/** A raw session through `port`; resolves after ReadyForQuery with its BackendKeyData. */
async function session(port: number): Promise<{ raw: RawClient; pid: number; key: Buffer }> {
  const s = await readySession(port);
  cleanup.push(async () => {
    s.raw.socket.destroy();
  });
  return s;
}


async function sessionsPerWorker(router: ClusterPlane): Promise<number[]> {
  await router.supervisor.refresh();
  return Object.values(router.supervisor.workerSessions()).sort();
}

describe('ClusterPlane with two workers', () => {
  it('spreads sessions over both workers and sends every cancel to the one replica that owns the key', async () => {
    const c = await fakeCluster();
    const [rw, ro] = [await findFreePort(), await findFreePort()];
    const router = await startRouter(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`, `{ name: ro, bind: "127.0.0.1:${ro}", role: replica }`]));
    // One after the other: node:cluster's round robin hands each new connection to the next worker.
    const rwSessions: Array<Awaited<ReturnType<typeof session>>> = [];
    for (let i = 0; i < 4; i++) rwSessions.push(await session(rw));
    expect(await sessionsPerWorker(router)).toEqual([2, 2]);
    expect(c.backends.n1.sessions).toBe(4);

    for (let i = 0; i < 4; i++) {
      const s = await session(ro);
      const before = s.raw.received.length;
      s.raw.write(queryPacket('sleep 5'));
      const owner = await waitFor(() => (c.backends.n2.conns.size + c.backends.n3.conns.size > 0 ? ([c.backends.n2, c.backends.n3].find((b) => [...b.conns].some((x) => x.pid === s.pid)) ?? null) : null), { what: 'owner' });
      await waitFor(() => owner.queries.includes('sleep 5') && [...owner.conns].some((x) => x.pid === s.pid && x.held), { what: 'query held' });
      const cancel = await RawClient.connect(ro);
      cancel.write(cancelPacket(s.pid, s.key));
      await waitFor(() => s.raw.received.length > before, { what: 'cancelled query to answer' });
      owner.queries.length = 0;
      cancel.socket.destroy();
      s.raw.socket.destroy();
    }
    // Exact every time: a broadcast would have sent each cancel to both replicas.
    const cancels = c.backends.n2.cancels.length + c.backends.n3.cancels.length;
    expect(cancels).toBe(4);
    expect(router.supervisor.stats().cancelLookups.found).toBeGreaterThanOrEqual(1);
    await router.supervisor.refresh();
    expect(cancelsOf(router.supervisor)).toMatchObject({ exact: 4 });
    expect(cancelsOf(router.supervisor)['broadcast']).toBeUndefined();
    for (const s of rwSessions) s.raw.socket.destroy();
  });

  it('with rewritten cancel keys, cancels through another worker reach the owner with the real key', async () => {
    const c = await fakeCluster();
    const ro = await findFreePort();
    const router = await startRouter(config(c, [`{ name: ro, bind: "127.0.0.1:${ro}", role: replica }`], ['cancel: { rewrite_keys: true, instance_id: 3 }']));
    for (let i = 0; i < 4; i++) {
      const s = await session(ro);
      expect(decodeRewrittenPid(s.pid)?.instance).toBe(3);
      const before = s.raw.received.length;
      s.raw.write(queryPacket('sleep 5'));
      const owner = await waitFor(() => [c.backends.n2, c.backends.n3].find((b) => [...b.conns].some((x) => x.held)) ?? null, { what: 'the held query' });
      const real = [...owner.conns].find((x) => x.held);
      const cancel = await RawClient.connect(ro);
      cancel.write(cancelPacket(s.pid, s.key));
      await waitFor(() => s.raw.received.length > before, { what: 'cancelled query to answer' });
      expect(owner.cancels.at(-1)).toEqual({ pid: real?.pid, key: real?.key });
      cancel.socket.destroy();
      s.raw.socket.destroy();
    }
    expect(c.backends.n2.cancels.length + c.backends.n3.cancels.length).toBe(4);
    // Round robin put some cancels on the worker that does not relay the session.
    expect(router.supervisor.stats().cancelLookups.found).toBeGreaterThanOrEqual(1);
    await router.supervisor.refresh();
    expect(cancelsOf(router.supervisor)).toEqual({ exact: 4 });
  });

  it('terminates TLS in every worker, and the certificate expiry the workers report reaches the primary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgr-cluster-tls-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const pki = makePki(dir, [{ name: 'router', kind: 'server', sans: ['127.0.0.1'] }]);
    const leaf = pki.leaves['router'];
    if (!leaf) throw new Error('no leaf');
    const c = await fakeCluster();
    const rw = await findFreePort();
    const router = await startRouter(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary, ssl: terminate, tls: { cert: ${leaf.cert}, key: ${leaf.key} } }`]));
    for (let i = 0; i < 2; i++) {
      const raw = await RawClient.connect(rw);
      raw.write(sslRequest());
      expect((await raw.waitBytes(1)).toString()).toBe('S');
      raw.socket.removeAllListeners('data');
      const secure = RawClient.of(tls.connect({ socket: raw.socket, ca: readFileSync(pki.ca), host: '127.0.0.1' }));
      cleanup.push(async () => {
        secure.socket.destroy();
      });
      secure.write(startupPacket({ user: 'app' }));
      await waitFor(() => secure.received.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])), { what: 'a login through TLS' });
    }
    expect(await sessionsPerWorker(router)).toEqual([1, 1]);
    const notAfter = Math.floor(Date.parse(new X509Certificate(readFileSync(leaf.cert)).validTo) / 1000);
    expect(router.tlsCertExpiry()).toEqual({ rw: notAfter });
  });

  it('closes RW sessions on the old primary in every worker after a switchover', async () => {
    const c = await fakeCluster();
    const rw = await findFreePort();
    const router = await startRouter(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`]));
    const sessions: Array<Awaited<ReturnType<typeof session>>> = [];
    for (let i = 0; i < 4; i++) sessions.push(await session(rw));
    expect(await sessionsPerWorker(router)).toEqual([2, 2]);
    c.patroni.n1.role = 'replica';
    c.patroni.n2.role = 'master';
    await waitFor(() => router.view().primary === 'n2', { timeoutMs: 5_000, what: 'n2 primary' });
    await waitFor(() => sessions.every((s) => s.raw.closed), { what: 'old RW sessions closed' });
    const next = await session(rw);
    expect(c.backends.n2.startups.length).toBe(1);
    expect(await sessionsPerWorker(router)).toEqual([0, 1]);
    next.raw.socket.destroy();
  });

  it('reloads: a new listener serves, a removed one stops accepting, and a session opened before keeps working', async () => {
    const c = await fakeCluster();
    const [rw, ro, ro2] = [await findFreePort(), await findFreePort(), await findFreePort()];
    const first = config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`, `{ name: ro, bind: "127.0.0.1:${ro}", role: replica }`]);
    const router = await startRouter(first);
    const old = await session(rw);
    const oldRo = await session(ro);
    const result = await router.reload(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary, maxconn: 10 }`, `{ name: ro2, bind: "127.0.0.1:${ro2}", role: replica }`]));
    expect(result).toMatchObject({ ok: true, plan: { listenersAdded: ['ro2'], listenersRemoved: ['ro'], discovery: false } });
    expect(router.supervisor.stats()).toMatchObject({ generation: 2, workers: 2 });
    expect(router.supervisor.stats().draining).toBeGreaterThanOrEqual(1);

    // The old sessions still relay, through the draining generation, on a kept and a removed listener.
    for (const s of [old, oldRo]) {
      const before = s.raw.received.length;
      s.raw.write(queryPacket('select 1'));
      await waitFor(() => s.raw.received.length > before, { what: 'old session to answer' });
    }
    // New listener serves; the removed one refuses once no worker listens on it any more.
    const fresh = await session(ro2);
    expect(fresh.pid).toBeGreaterThan(0);
    await expect(RawClient.connect(ro)).rejects.toThrow(/ECONNREFUSED/);
    // The unchanged listener keeps accepting, in the new generation.
    const again = await session(rw);
    await router.supervisor.refresh();
    const gens = router.supervisor.workers().map((w) => [w.generation, w.report?.sessions ?? 0]);
    expect(gens.filter(([g]) => g === 2).reduce((n, [, s]) => n + (s ?? 0), 0)).toBe(2);

    // The old generation exits when its last session ends.
    old.raw.socket.destroy();
    oldRo.raw.socket.destroy();
    await waitFor(() => router.supervisor.stats().draining === 0, { timeoutMs: 5_000, what: 'old generation to exit' });
    expect(router.supervisor.generations()).toEqual(new Set([2]));
    again.raw.socket.destroy();
    fresh.raw.socket.destroy();
  });

  // Issue 10, guard: a reload's old workers lived as long as their longest pooled session.
  it('closes what the old generation still relays at timeouts.reload_drain, and it exits', async () => {
    const c = await fakeCluster();
    const [rw, ro2] = [await findFreePort(), await findFreePort()];
    const router = await startRouter(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`]));
    const old = await session(rw);
    const next = config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`, `{ name: ro2, bind: "127.0.0.1:${ro2}", role: replica }`]);
    const result = await router.reload({ ...next, timeouts: { ...next.timeouts, reload_drain: 300 } });
    expect(result).toMatchObject({ ok: true });
    await waitFor(() => old.raw.closed, { timeoutMs: 10_000, what: 'the old session closed at the drain deadline' });
    await waitFor(() => router.supervisor.stats().draining === 0, { timeoutMs: 10_000, what: 'the old generation to exit' });
    expect(router.supervisor.generations()).toEqual(new Set([2]));
    const fresh = await session(rw);
    expect(fresh.pid).toBeGreaterThan(0);
    fresh.raw.socket.destroy();
  });

  it('pauses a listener in every worker, starts a reloaded generation paused, and releases every held client on resume', async () => {
    const c = await fakeCluster();
    const rw = await findFreePort();
    const router = await startRouter(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`]));
    router.setPausedListeners({ rw: { since: Date.now(), hold_ms: 20_000 } });
    const heldPerWorker = async (): Promise<number[]> => {
      await router.supervisor.refresh();
      return router.supervisor.workers().map((w) => w.report?.traffic['rw']?.held ?? 0);
    };
    const total = async (): Promise<number> => (await heldPerWorker()).reduce((n, x) => n + x, 0);
    // A client that sent its StartupMessage and waits as long as it is held (readySession gives up after 5 s).
    const held: RawClient[] = [];
    const hold = async (): Promise<void> => {
      const raw = await RawClient.connect(rw);
      cleanup.push(async () => {
        raw.socket.destroy();
      });
      raw.write(startupPacket({ user: 'app' }));
      held.push(raw);
    };
    // One after the other: round robin then alternates between the workers (clients opened all
    // at once may land unevenly), so each worker holds two.
    for (let i = 1; i <= 4; i++) {
      await hold();
      await waitFor(async () => (await total()) === i, { timeoutMs: 10_000, what: `${i} clients held` });
    }
    expect(await heldPerWorker()).toEqual([2, 2]);
    expect(c.backends.n1.sessions).toBe(0);

    // A new generation of workers (reload) starts paused too: its first client is held as well.
    expect(await router.reload(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary, maxconn: 50 }`]))).toMatchObject({ ok: true });
    await hold();
    await waitFor(async () => (await total()) === 5, { timeoutMs: 10_000, what: 'the new generation\'s client held' });
    expect(c.backends.n1.sessions).toBe(0);

    router.setPausedListeners({});
    const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
    await waitFor(() => held.every((raw) => raw.received.includes(ready)), { timeoutMs: 10_000, what: 'every held client to reach ReadyForQuery' });
    expect(c.backends.n1.sessions).toBe(5);
  });

  it('exports the workers\' traffic through the primary\'s metrics, summed, with their process metrics', async () => {
    const c = await fakeCluster();
    const rw = await findFreePort();
    const cfg = config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`]);
    const router = await startRouter(cfg);
    const metrics = new RouterMetrics({ version: 'test' });
    metrics.bind({
      listeners: () => ['rw'],
      traffic: () => router.supervisor.traffic(),
      etcd: () => null,
      workerRespawns: () => router.workerRespawns(),
      relayEngines: () => router.supervisor.relayEngines(),
    });
    const sessions: Array<Awaited<ReturnType<typeof session>>> = [];
    for (let i = 0; i < 3; i++) sessions.push(await session(rw));
    const f = parsePrometheusText(await router.supervisor.metricsText(metrics.register));
    expect(valueOf(f, 'pgrouter_listener_sessions_total', { listener: 'rw' })).toBe(3);
    expect(valueOf(f, 'pgrouter_backend_current_sessions', { listener: 'rw', backend: 'n1' })).toBe(3);
    // One relay engine per worker (relay: auto, native where the addon is built).
    const engines = Object.values(router.supervisor.relayEngines()).map((r) => r.engine);
    expect(engines).toEqual(available() ? ['native', 'native'] : ['js', 'js']);
    expect(valueOf(f, 'pgrouter_relay_engine', { engine: engines[0] ?? 'js' })).toBe(2);
    // Primary + 2 workers: resident memory is the sum of three processes.
    const rss = valueOf(f, 'process_resident_memory_bytes', {}) ?? 0;
    expect(rss).toBeGreaterThan(process.memoryUsage().rss);

    // A worker that dies keeps its counted sessions in the totals.
    const victim = router.supervisor.workers()[0];
    expect(valueOf(parsePrometheusText(await router.supervisor.metricsText(metrics.register)), 'pgrouter_worker_respawns_total', {})).toBe(0);
    process.kill(victim?.pid ?? 0, 'SIGKILL');
    await waitFor(() => router.supervisor.workers().every((w) => w.id !== victim?.id), { what: 'worker exit' });
    const after = parsePrometheusText(await router.supervisor.metricsText(metrics.register));
    // The crash is counted for the respawn-rate alert (deploy/prometheus).
    expect(valueOf(after, 'pgrouter_worker_respawns_total', {})).toBe(1);
    expect(valueOf(after, 'pgrouter_listener_sessions_total', { listener: 'rw' })).toBe(3);
    expect(valueOf(after, 'pgrouter_backend_current_sessions', { listener: 'rw', backend: 'n1' })).toBeLessThan(3);
    for (const s of sessions) s.raw.socket.destroy();
  });

  it('numbers a reloaded Discovery\'s views after the old one\'s, so metrics and leader history keep taking them', async () => {
    const c = await fakeCluster();
    const rw = await findFreePort();
    const listeners = [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`];
    const seen: number[] = [];
    const router = new ClusterPlane(config(c, listeners), silentLogger(), { pollIntervalMs: 0, onView: (v) => seen.push(v.generation) });
    cleanup.push(() => router.close({ graceMs: 0 }));
    await router.start();
    await waitFor(() => router.view().primary === 'n1', { timeoutMs: 5_000, what: 'n1 primary' });
    const before = router.view().generation;
    const faster = config(c, listeners).checks;
    const result = await router.reload({ ...config(c, listeners), checks: { ...faster, interval: 300 } });
    expect(result).toMatchObject({ ok: true, plan: { discovery: true } });
    expect(router.view().generation).toBeGreaterThan(before);
    // The metrics take the new Discovery's view at once, not at its next change.
    expect(seen.at(-1)).toBe(router.view().generation);
    // Every view handed to onView (what feeds RouterMetrics) is newer than the one before.
    c.patroni.n2.role = 'master';
    c.patroni.n1.role = 'replica';
    await waitFor(() => router.view().primary === 'n2', { timeoutMs: 5_000, what: 'n2 primary after the reload' });
    expect(seen.at(-1)).toBe(router.view().generation);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1] ?? 0);
  });

  it('refuses a reload whose new Discovery never confirms the running primary, and keeps every RW session', async () => {
    const c = await fakeCluster();
    const rw = await findFreePort();
    const router = await startRouter(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`]));
    const s = await session(rw);
    const dead = await FakePatroni.start('master');
    const deadUrl = dead.url;
    await dead.close();
    const next = config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`]);
    const members = next.cluster.members?.map((m) => (m.name === 'n1' ? { ...m, api: deadUrl } : m)) ?? null;
    const result = await router.reload({ ...next, cluster: { ...next.cluster, members } });
    expect(result).toMatchObject({ ok: false, error: expect.stringContaining('did not agree') });
    expect(router.supervisor.stats()).toMatchObject({ generation: 1, draining: 0 });
    expect(router.view().primary).toBe('n1');
    const before = s.raw.received.length;
    s.raw.write(queryPacket('select 1'));
    await waitFor(() => s.raw.received.length > before, { what: 'the RW session to answer' });
    expect(s.raw.closed).toBe(false);
    s.raw.socket.destroy();
  });

  it('keeps the old workers when a reload cannot bind a new listener', async () => {
    const c = await fakeCluster();
    const rw = await findFreePort();
    const router = await startRouter(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`]));
    const taken = await FakeBackend.start('taken');
    cleanup.push(() => taken.close());
    const result = await router.reload(config(c, [`{ name: rw, bind: "127.0.0.1:${rw}", role: primary }`, `{ name: ro, bind: "127.0.0.1:${taken.port}", role: replica }`]));
    expect(result).toMatchObject({ ok: false, error: expect.stringContaining('EADDRINUSE') });
    expect(router.supervisor.stats()).toMatchObject({ generation: 1, workers: 2, draining: 0 });
    const s = await session(rw);
    expect(s.pid).toBeGreaterThan(0);
    s.raw.socket.destroy();
  });
});
