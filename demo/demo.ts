// `npm run demo`: a real local Patroni cluster (etcd 3.4 + 3 × Patroni/PostgreSQL 15) with
// pgrouter in front of it, until Ctrl-C. Installs the Debian packages first when it can.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster, findFreePort, waitFor } from '../test/harness/cluster.js';
import net from 'node:net';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function say(line: string): void {
  process.stdout.write(`[demo] ${line}\n`);
}

/** Prefer the friendly fixed port; fall back to a free one when it is taken. */
async function portOr(preferred: number): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(preferred, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  return free ? preferred : findFreePort();
}

async function main(): Promise<void> {
  const install = spawnSync('bash', [join(root, 'scripts', 'install-deps.sh')], { stdio: 'inherit' });
  if (install.status !== 0) {
    say('cannot continue without the packages above');
    process.exit(1);
  }
  say('starting etcd and three Patroni + PostgreSQL 15 nodes (about 20 s)...');
  const cluster = await LocalCluster.start({ log: (l) => say(l) });
  const rw = await portOr(15432);
  const ro = await portOr(15433);
  const http = await portOr(18404);
  const dir = mkdtempSync(join(tmpdir(), 'pgrouter-demo-'));
  const configFile = join(dir, 'pgrouter.yaml');
  writeFileSync(
    configFile,
    [
      'cluster:',
      `  scope: ${cluster.scope}`,
      `  namespace: ${cluster.namespace}`,
      `  etcd: { hosts: ["${cluster.etcdHost}:${cluster.etcdPort}"] }`,
      'checks: { interval: 3s, timeout: 2s, fall: 3, rise: 2 }',
      'listeners:',
      `  - { name: rw, bind: "127.0.0.1:${rw}", role: primary }`,
      `  - { name: ro, bind: "127.0.0.1:${ro}", role: replica, max_lag: 1MB, balance: roundrobin, fallback: primary }`,
      'timeouts: { connect: 4s, client: 30m, server: 30m, connect_wait: 15s, shutdown_grace: 2s }',
      `http: { bind: "127.0.0.1:${http}" }`,
      '',
    ].join('\n'),
  );
  const router: ChildProcess = spawn(process.execPath, [join(root, 'bin', 'pgrouter'), '--config', configFile, '--log-format', 'pretty'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stopping pgrouter and the cluster...');
    router.kill('SIGTERM');
    await new Promise((r) => (router.exitCode !== null ? r(null) : router.once('exit', r)));
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    say('all cleaned up');
    process.exit(code);
  };
  router.once('exit', (code) => {
    if (!stopping) {
      say(`pgrouter exited with code ${code}`);
      void stop(1);
    }
  });
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(rw, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    { timeoutMs: 20_000, what: 'pgrouter to listen' },
  );
  const leader = await cluster.leader();
  say('');
  say(`cluster "${cluster.scope}" is up; leader is ${leader}; config: ${configFile}`);
  say(`read-write: psql "host=127.0.0.1 port=${rw} user=postgres dbname=postgres"`);
  say(`read-only:  psql "host=127.0.0.1 port=${ro} user=postgres dbname=postgres"`);
  say(`stats:      http://127.0.0.1:${http}/stats (metrics at /metrics)`);
  say(`switchover: ${cluster.switchoverCommand()}`);
  say('Ctrl-C stops everything.');
}

main().catch((e: unknown) => {
  process.stderr.write(`[demo] failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
