// Shared pieces of the benchmarks: where things live, the client environment, child commands,
// the machine description that goes into every result file, and the result file itself.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../../src/errors.js';
import { HarnessError } from '../../test/harness/errors.js';
import { runCommand, type RunResult } from '../../test/harness/process.js';

/**
 * The repository root. Bench code runs from dist/bench/... after `npm run build`, but the
 * Python probe, bin/pgrouter and bench/results live in the source tree, so we walk up to
 * the package.json instead of counting directory levels.
 */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && fs.existsSync(path.join(dir, 'bin', 'pgrouter'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new HarnessError('cannot find the repository root above bench code');
    dir = parent;
  }
}

/**
 * The Debian interpreter, because psycopg2 is the Debian package (python3-psycopg2) and a
 * pyenv shim earlier on PATH would not see it. BENCH_PYTHON overrides.
 */
export const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

/**
 * Environment for libpq clients (psql, pgbench, psycopg2): the harness trusts loopback
 * connections for user postgres. Inherited PG* variables would silently redirect a client
 * (PGHOST, PGPORT, PGSERVICE...), so they are dropped.
 */
export function clientEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('PG')) continue;
    env[key] = value;
  }
  env.PGUSER = 'postgres';
  env.PGDATABASE = 'postgres';
  env.PGAPPNAME = 'pgrouter-bench';
  return env;
}

export type CommandResult = RunResult;

/** Runs a client command to completion (the harness's runCommand, with the clients' env). */
export function run(command: string, args: string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<CommandResult> {
  return runCommand(command, args, { env: opts.env ?? clientEnv(), runAs: undefined, cwd: process.cwd(), timeoutMs: opts.timeoutMs });
}

/** True when something accepts a TCP connection on host:port within `timeoutMs`. */
export function tcpAccepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    // A refused connection is the expected "not yet" answer while the server starts.
    socket.once('error', () => done(false));
  });
}

/** Version line of a tool, or the reason we could not get it (the result file says which). */
async function toolVersion(command: string, args: string[]): Promise<string> {
  try {
    const r = await run(command, args, { timeoutMs: 10_000, env: process.env });
    return (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
  } catch (err) {
    return `unknown (${(err as Error).message.split('\n')[0]})`;
  }
}

export interface MachineInfo {
  host: string;
  cpus: number;
  cpuModel: string;
  memGiB: number;
  kernel: string;
  node: string;
  haproxy: string;
  /** HAProxy's default thread count (`haproxy -vv`: "default=N"); the bench configs set none. */
  haproxyThreads: number | null;
  postgres: string;
  patroni: string;
  etcd: string;
  pgbench: string;
  libpq: string;
}

export async function machineInfo(): Promise<MachineInfo> {
  const cpus = os.cpus();
  const libpq = await toolVersion(PYTHON, ['-c', 'import psycopg2.extensions as e; print("libpq", e.libpq_version())']);
  const vv = await run('haproxy', ['-vv'], { timeoutMs: 10_000, env: process.env }).then(
    (r) => r.stdout,
    (err: unknown) => `unknown (${(err as Error).message})`,
  );
  const threads = /default=(\d+)\)/.exec(vv)?.[1];
  return {
    host: os.hostname(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    haproxy: await toolVersion('haproxy', ['-v']),
    haproxyThreads: threads === undefined ? null : Number(threads),
    postgres: await toolVersion('/usr/lib/postgresql/15/bin/postgres', ['--version']),
    patroni: await toolVersion('patroni', ['--version']),
    etcd: await toolVersion('etcd', ['--version']),
    pgbench: await toolVersion('pgbench', ['--version']),
    libpq,
  };
}

/** A per-run scratch directory for generated configs and logs (kept for post-mortems). */
export function scratchDir(kind: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgrouter-bench-${kind}-`));
  return dir;
}

/** bench/results/<date>-<host><suffix>: where a run's result files go. */
export function resultBase(suffix: string): string {
  const dir = path.join(repoRoot(), 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  return path.join(dir, `${date}-${os.hostname()}${suffix}`);
}

/**
 * Writes a bench's result: to `out` when given (`npm run bench` collects every bench's file
 * into one combined result), else to bench/results/<date>-<host>-<kind>.json; quick and crash
 * runs get their own suffix so they never overwrite a full run's figures.
 */
export function writeResult(kind: string, body: unknown, out?: string): string {
  const file = out ?? `${resultBase(`-${kind}`)}.json`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return file;
}

/** Percentile (0..100) of an ascending sorted array, nearest-rank; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** A Markdown table; numbers are already formatted by the caller. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function mean(xs: number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}

/** Orders paths for round `r`: forward on even rounds, reversed on odd ones (A/B then B/A). */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...items] : [...items].reverse();
}

/** Prints a progress line with a wall-clock stamp to stderr (stdout carries the report). */
export function log(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${line}\n`);
}


/**
 * Ties a stack's processes to this one: `killSync` on exit (the cluster's own exit hook SIGKILLs
 * Patroni and etcd; the routers are the caller's), and a clean `stop` on the first SIGINT/SIGTERM.
 */
export function stopWithProcess(what: string, stop: () => Promise<void>, killSync: () => void): void {
  process.on('exit', killSync);
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping the ${what}`);
    stop().then(
      () => process.exit(130),
      (err: unknown) => {
        log(`stop failed: ${describeError(err)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
