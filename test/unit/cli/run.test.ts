// `pgrouter run` in-process: signals are emitted on `process`, which runs the CLI's handlers
// without delivering a real signal to the test runner.
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { findFreePort } from '../../harness/ports.js';
import { waitFor } from '../../harness/wait.js';
import { FakePatroni } from '../discovery/fake-patroni.js';
import { FakeBackend } from '../proxy/helpers/fake-backend.js';

const SIGNALS = ['SIGHUP', 'SIGTERM', 'SIGINT'] as const;
const TOKEN = 'cli-run-admin-token-0123';
const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  // main() installs process-wide handlers; drop only the ones it added.
  for (const s of SIGNALS) for (const l of process.listeners(s)) if (!before.get(s)?.has(l)) process.removeListener(s, l);
  for (const c of cleanups.splice(0).reverse()) await c();
});

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * A fake member (PostgreSQL backend + Patroni API) and a config file for it; `write` puts the
 * given listener lines (and extra top-level lines) into the file, as an operator edits it.
 */
async function fakeSetup(): Promise<{ file: string; write: (listeners: string[], extra?: string[]) => void; http: number }> {
  const backend = await FakeBackend.start('n1');
  const patroni = await FakePatroni.start('master');
  cleanups.push(() => patroni.close(), () => backend.close());
  const http = await findFreePort();
  const file = join(mkdtempSync(join(tmpdir(), 'pgr-cli-run-')), 'pgrouter.yaml');
  const write = (listeners: string[], extra: string[] = []): void =>
    writeFileSync(
      file,
      [
        'cluster:',
        '  scope: t',
        `  members: [ { name: n1, host: 127.0.0.1, port: ${backend.port}, api: "${patroni.url}" } ]`,
        'listeners:',
        ...listeners,
        `http: { bind: "127.0.0.1:${http}" }`,
        'timeouts: { shutdown_grace: 1s }',
        'log: { level: fatal }',
        ...extra,
      ].join('\n'),
    );
  return { file, write, http };
}

describe('pgrouter run', () => {
  it('applies a SIGHUP that arrives while it is still starting, instead of dying of it', async () => {
    const { file, write } = await fakeSetup();
    const [rw, extra] = [await findFreePort(), await findFreePort()];
    write([`  - { name: rw, bind: "127.0.0.1:${rw}", role: primary }`]);
    const running = main(['run', '--config', file, '--log-format', 'json']);
    // The operator edits the file and sends SIGHUP before startup has finished.
    write([`  - { name: rw, bind: "127.0.0.1:${rw}", role: primary }`, `  - { name: rw2, bind: "127.0.0.1:${extra}", role: primary }`]);
    process.emit('SIGHUP');
    await waitFor(() => accepts(extra), { timeoutMs: 10_000, what: 'the listener added by the early SIGHUP' });
    expect(await accepts(rw)).toBe(true);
    process.emit('SIGTERM');
    expect(await running).toBe(0);
  });

  it('reloads through POST /admin/reload: a new listener serves, an invalid file is refused with its issues', async () => {
    const { file, write, http } = await fakeSetup();
    const [rw, extra, admin] = [await findFreePort(), await findFreePort(), await findFreePort()];
    const adminLine = `admin: { bind: "127.0.0.1:${admin}", token: "${TOKEN}" }`;
    const rwListener = `  - { name: rw, bind: "127.0.0.1:${rw}", role: primary }`;
    write([rwListener], [adminLine]);
    const running = main(['run', '--config', file, '--log-format', 'json']);
    try {
      const reload = (): Promise<Response> => fetch(`http://127.0.0.1:${admin}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      await waitFor(async () => (await fetch(`http://127.0.0.1:${http}/health`)).ok, { timeoutMs: 10_000, what: 'the HTTP surface' });

      write([rwListener, `  - { name: rw2, bind: "127.0.0.1:${extra}", role: primary }`], [adminLine]);
      const ok = await reload();
      expect([ok.status, await ok.json()]).toEqual([200, { ok: true, changes: 'listeners added: rw2; data path updated', restart_needed: [] }]);
      expect(await accepts(extra)).toBe(true);

      write([rwListener, `  - { name: rw2, bind: "127.0.0.1:${extra}", role: primery }`], [adminLine]);
      const bad = await reload();
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { issues: { path: string; line: number }[] }).issues).toMatchObject([{ path: 'listeners[1].role', line: 6 }]);
      expect(await accepts(extra)).toBe(true);
    } finally {
      process.emit('SIGTERM');
    }
    expect(await running).toBe(0);
  });
});

describe('pgrouter run with admin.quitquitquit', () => {
  it('drains and exits 0 on POST /quitquitquit from loopback, as on SIGTERM', async () => {
    const { file, write, http } = await fakeSetup();
    const [rw, admin] = [await findFreePort(), await findFreePort()];
    write([`  - { name: rw, bind: "127.0.0.1:${rw}", role: primary }`], [`admin: { bind: "127.0.0.1:${admin}", quitquitquit: true }`]);
    const running = main(['run', '--config', file, '--log-format', 'json']);
    let exited = false;
    void running.then(() => (exited = true));
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${http}/health`).catch(() => null))?.ok === true, { timeoutMs: 10_000, what: 'the HTTP surface' });
      const res = await fetch(`http://127.0.0.1:${admin}/quitquitquit`, { method: 'POST' });
      expect(res.status).toBe(200);
      expect(await running).toBe(0);
      expect(await accepts(rw)).toBe(false);
    } finally {
      if (!exited) process.emit('SIGTERM');
    }
  });
});
