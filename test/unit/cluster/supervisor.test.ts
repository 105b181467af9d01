// The supervisor's process handling, with a stand-in worker (fixtures/fake-worker.mjs): views and
// admin states reach every worker, crashes are respawned with backoff, malformed messages are
// dropped, a failed reload keeps the running generation.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerSupervisor } from '../../../src/cluster/supervisor.js';
import { resolveWorkerCount, type SupervisorOptions } from '../../../src/cluster/supervisor-options.js';
import { workerConfig } from '../../../src/cluster/worker-cohort.js';
import { testConfig } from '../proxy/helpers/config.js';
import { member, view } from '../proxy/helpers/view.js';
import { waitFor } from '../proxy/helpers/wait-for.js';
import { captureLog } from '../../helpers/capture-log.js';

const FAKE = fileURLToPath(new URL('./fixtures/fake-worker.mjs', import.meta.url));
const ENV = ['FAKE_WORKER_GARBAGE', 'FAKE_CRASH_SLOT', 'FAKE_CRASH_AFTER_MS', 'FAKE_FAIL_GENERATION'];

let supervisor: WorkerSupervisor | null = null;
afterEach(async () => {
  await supervisor?.close({ graceMs: 0 });
  supervisor = null;
  for (const k of ENV) delete process.env[k];
});


async function start(opts: Partial<SupervisorOptions> = {}) {
  const { logger, lines } = captureLog();
  supervisor = new WorkerSupervisor({ config: testConfig(), logger, workers: 2, workerModule: FAKE, pollIntervalMs: 0, ...opts });
  await supervisor.start(view(3, [member({ name: 'n1' })], 'n1'));
  return { s: supervisor, lines };
}

type Report = { pid: number; sessions: number; stats: { view: number; admin: Record<string, string>; heartbeats: number } };
async function reports(s: WorkerSupervisor): Promise<Report[]> {
  return (await s.query('stats')).map((a) => a.data as Report);
}

describe('WorkerSupervisor', () => {
  it('starts the workers with the current view, then sends every newer view and the admin states to all of them', async () => {
    const { s } = await start();
    expect((await reports(s)).map((r) => r.stats.view)).toEqual([3, 3]);
    s.updateView(view(4, [member({ name: 'n1' })], 'n1'));
    s.updateView(view(2, [member({ name: 'n1' })], 'n1'));
    s.setAdminStates({ n2: 'drain' });
    const rs = await reports(s);
    expect(rs.map((r) => [r.stats.view, r.stats.admin])).toEqual([
      [4, { n2: 'drain' }],
      [4, { n2: 'drain' }],
    ]);
    expect(await s.killBackendSessions('n1')).toBe(4);
    await s.refresh();
    expect(Object.values(s.workerSessions()).sort()).toEqual([1, 2]);
  });

  it('sends every worker a heartbeat naming its newest view, every heartbeat interval', async () => {
    const { s } = await start({ heartbeat: { intervalMs: 20, missed: 5 } });
    s.updateView(view(5, [member({ name: 'n1' })], 'n1'));
    // The fake worker counts only heartbeats that name the view it has (5).
    await waitFor(async () => (await reports(s)).every((r) => r.stats.heartbeats >= 3), { timeoutMs: 5_000, what: 'three heartbeats in each worker' });
  });

  it("exports the earliest certificate expiry its workers report per listener (one not yet rotated is the one to alert on)", async () => {
    const { s } = await start();
    await s.refresh();
    expect(s.tlsCertExpiry()).toEqual({ rw: 2_000_000_000 - 1 });
  });

  it('respawns a crashing worker with a growing delay and a log line per crash, and leaves the other worker alone', async () => {
    process.env.FAKE_CRASH_SLOT = '1';
    const { s, lines } = await start();
    const slot0 = (await reports(s)).find((r) => r.sessions === 1)?.pid;
    await waitFor(() => lines.filter((l) => l['event'] === 'worker_crashed').length >= 3, { timeoutMs: 10_000, what: 'three crashes' });
    const crashes = lines.filter((l) => l['event'] === 'worker_crashed');
    expect(crashes.slice(0, 3).map((c) => c['restart_in_ms'])).toEqual([100, 200, 400]);
    expect(crashes[0]).toMatchObject({ level: 50, slot: 1, code: 1, crashes_in_a_row: 1 });
    expect(s.stats().crashes).toBeGreaterThanOrEqual(3);
    expect((await reports(s)).find((r) => r.sessions === 1)?.pid).toBe(slot0);
  });

  it('logs and drops malformed messages from a worker and keeps serving it', async () => {
    process.env.FAKE_WORKER_GARBAGE = '1';
    const { s, lines } = await start();
    await waitFor(() => s.stats().invalidMessages === 4, { what: 'four invalid messages' });
    const invalid = lines.filter((l) => l['event'] === 'ipc_invalid').map((l) => l['reason']);
    expect(invalid).toContain('IPC version 99, expected 1');
    expect(invalid.some((r) => String(r).startsWith('malformed cancel_key message'))).toBe(true);
    expect(await reports(s)).toHaveLength(2);
  });

  it('keeps the running generation when the new one cannot start', async () => {
    process.env.FAKE_FAIL_GENERATION = '2';
    const { s, lines } = await start();
    const before = (await reports(s)).map((r) => r.pid).sort();
    const result = await s.reload(testConfig({ timeouts: { connect: 5 } }), view(3, [], null));
    expect(result).toMatchObject({ ok: false, error: expect.stringContaining('EACCES') });
    expect(lines.find((l) => l['event'] === 'reload_failed')).toBeDefined();
    expect((await reports(s)).map((r) => r.pid).sort()).toEqual(before);
    expect(s.stats().generation).toBe(1);
  });

  it('replaces every worker on a successful reload and retires the old generation', async () => {
    const retired: number[] = [];
    const { s } = await start({ onRetired: (g) => retired.push(g) });
    const before = (await reports(s)).map((r) => r.pid);
    expect(await s.reload(testConfig({ timeouts: { connect: 5 } }), view(3, [], null))).toEqual({ ok: true, generation: 2 });
    await waitFor(() => retired.includes(1), { what: 'generation 1 retired' });
    const after = (await reports(s)).map((r) => r.pid);
    expect(after).toHaveLength(2);
    expect(after.some((p) => before.includes(p))).toBe(false);
    expect(s.config.timeouts.connect).toBe(5);
  });

  it('keeps the relay engine of the first generation: a reload does not change it (restartNeeded)', async () => {
    const { s } = await start();
    expect(await s.reload(testConfig({ relay: 'js', timeouts: { connect: 5 } }), view(3, [], null))).toEqual({ ok: true, generation: 2 });
    expect(s.config.timeouts.connect).toBe(5);
    expect(s.config.relay).toBe('auto');
  });
});

describe('worker settings', () => {
  it('resolves workers: auto to the CPUs available, and never below 1', () => {
    expect(resolveWorkerCount('auto', 8)).toBe(8);
    expect(resolveWorkerCount('auto', 0)).toBe(1);
    expect(resolveWorkerCount(3)).toBe(3);
  });

  it('keeps the etcd password, TLS material and admin token in the primary', () => {
    const base = testConfig();
    const config = {
      ...base,
      cluster: { ...base.cluster, etcd: { hosts: [{ host: 'e', port: 2379 }], protocol: 'https' as const, tls: { ca: 'CA', cert: 'C', key: 'K' }, username: 'u', password: 'secret', dial_timeout: 1, resync_interval: 1 } },
      admin: { ...base.admin, token: 'a-long-admin-token' },
    };
    const w = workerConfig(config);
    expect(JSON.stringify(w)).not.toMatch(/secret|a-long-admin-token|"K"/);
    expect(w.cluster.etcd).toMatchObject({ username: 'u', password: null, tls: null });
    expect(w.listeners).toBe(config.listeners);
  });
});
