// `pgrouter run` with workers: 2 (real worker processes from dist/: `npm run build` first) in
// front of fake Patroni APIs and fake PostgreSQL backends, driven by signals as an init system
// or an operator would.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultWorkerModule } from '../../../src/cluster/supervisor-options.js';
import { findFreePort } from '../../harness/ports.js';
import { FakePatroni } from '../discovery/fake-patroni.js';
import { FakeBackend } from '../proxy/helpers/fake-backend.js';
import { connectionRefused, readySession, type RawClient } from '../proxy/helpers/raw-client.js';
import { waitFor } from '../proxy/helpers/wait-for.js';

const BIN = fileURLToPath(new URL('../../../bin/pgrouter', import.meta.url));

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

beforeAll(() => {
  if (!existsSync(defaultWorkerModule())) throw new Error(`${defaultWorkerModule()} is missing: run "npm run build" first`);
});

/** A router process with workers: 2 over one fake primary n1; resolves once rw routes. */
async function runRouter(workers = 2, extra: string[] = []): Promise<{ child: ChildProcess; rw: number; output: () => string; exited: Promise<number | null> }> {
  const patroni = await FakePatroni.start('master');
  const backend = await FakeBackend.start('n1');
  cleanup.push(() => patroni.close(), () => backend.close());
  const [rw, http] = [await findFreePort(), await findFreePort()];
  const dir = mkdtempSync(join(tmpdir(), 'pgr-signals-'));
  const file = join(dir, 'pgrouter.yaml');
  writeFileSync(
    file,
    [
      `cluster: { scope: signals, members: [{ name: n1, host: 127.0.0.1, port: ${backend.port}, api: "${patroni.url}" }] }`,
      'checks: { interval: 200ms, timeout: 500ms, fall: 1, rise: 1, fast_interval: 50ms }',
      `listeners: [{ name: rw, bind: "127.0.0.1:${rw}", role: primary }]`,
      'timeouts: { connect: 1s, startup: 2s, connect_wait: 3s, shutdown_grace: 60s }',
      `http: { bind: "127.0.0.1:${http}" }`,
      `workers: ${workers}`,
      ...extra,
    ].join('\n'),
  );
  const child = spawn(process.execPath, [BIN, 'run', '--config', file, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  cleanup.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitFor(
    async () => {
      const s = await readySession(rw).catch(() => null);
      s?.raw.destroy();
      return s !== null;
    },
    { timeoutMs: 20_000, what: `the router to route (output:\n${out})` },
  );
  return { child, rw, output: () => out, exited };
}


describe('pgrouter run with workers: 2, stopped by signals', () => {
  // Issue 10, defect 5: the log said "closing all sessions now" but the workers kept their
  // sessions until the first signal's grace (here 60 s) was over.
  it('closes every session at once on a second SIGTERM, in every worker, and exits 0', async () => {
    const r = await runRouter();
    const sessions: RawClient[] = [];
    // Round robin: two sessions land on two workers.
    for (let i = 0; i < 2; i++) sessions.push((await readySession(r.rw)).raw);
    r.child.kill('SIGTERM');
    await waitFor(() => connectionRefused(r.rw), { timeoutMs: 10_000, what: 'new connections refused after the first SIGTERM' });
    expect(sessions.map((s) => s.closed)).toEqual([false, false]);
    r.child.kill('SIGTERM');
    await waitFor(() => sessions.every((s) => s.closed), { timeoutMs: 15_000, what: `sessions closed by the second SIGTERM (output:\n${r.output()})` });
    expect(await r.exited).toBe(0);
    expect(r.output()).toContain('second signal: closing all sessions now');
  }, 60_000);

  it('does the same in one process (workers: 1)', async () => {
    const r = await runRouter(1);
    const s = (await readySession(r.rw)).raw;
    r.child.kill('SIGTERM');
    await waitFor(() => connectionRefused(r.rw), { timeoutMs: 10_000, what: 'new connections refused' });
    expect(s.closed).toBe(false);
    r.child.kill('SIGTERM');
    await waitFor(() => s.closed, { timeoutMs: 15_000, what: 'the session closed by the second SIGTERM' });
    expect(await r.exited).toBe(0);
  }, 60_000);

  it('does the same on SIGTERM then SIGINT (Ctrl-C)', async () => {
    const r = await runRouter();
    const s = (await readySession(r.rw)).raw;
    r.child.kill('SIGTERM');
    await waitFor(() => connectionRefused(r.rw), { timeoutMs: 10_000, what: 'new connections refused' });
    r.child.kill('SIGINT');
    await waitFor(() => s.closed, { timeoutMs: 15_000, what: 'the session closed by SIGINT' });
    expect(await r.exited).toBe(0);
  }, 60_000);
});
