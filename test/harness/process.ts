// Child processes of the harness: who they run as, their environment, their log files,
// and how they die. etcd and Patroni run in their own process group (detached) so one
// signal to the group reaches everything they started except postmasters, which Patroni
// starts in a session of their own (setsid in patroni/postgresql/postmaster.py); those are
// killed via postmaster.pid.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { HarnessError } from './errors.js';
import { waitFor } from './wait.js';

export const PG_BIN_DIR = '/usr/lib/postgresql/15/bin';

/** The account children run as: `postgres` when we are root (PostgreSQL refuses root), else ourselves. */
export interface RunAs {
  uid: number;
  gid: number;
}

export function runAsIdentity(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const fields = line?.split(':');
  if (!fields || fields.length < 4) {
    throw new HarnessError('running as root but there is no postgres user (install postgresql-15)');
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/**
 * A clean environment: inherited PG*, PATRONI_* and ETCD* variables would silently
 * override the generated configuration, and initdb wants a UTF-8 locale.
 */
export function childEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(PG|PATRONI_|ETCD)/.test(key) || key.startsWith('LC_') || key === 'LANG') continue;
    env[key] = value;
  }
  env.PATH = `${PG_BIN_DIR}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`;
  env.LANG = 'C.UTF-8';
  env.LC_ALL = 'C.UTF-8';
  env.HOME = home;
  return env;
}

export interface SpawnOptions {
  logFile: string;
  env: NodeJS.ProcessEnv;
  runAs: RunAs | undefined;
  cwd: string;
}

/** A long-running child (etcd, Patroni) with stdout+stderr appended to a log file. */
export class ManagedProcess {
  readonly pid: number;
  private exitCode: number | null | undefined;
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    if (child.pid === undefined) throw new HarnessError('spawn returned no pid');
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve();
      });
    });
  }

  static async spawn(command: string, args: string[], opts: SpawnOptions): Promise<ManagedProcess> {
    const fd = fs.openSync(opts.logFile, 'a', 0o644);
    try {
      if (opts.runAs) fs.fchownSync(fd, opts.runAs.uid, opts.runAs.gid);
      const child = spawn(command, args, {
        cwd: opts.cwd,
        env: opts.env,
        stdio: ['ignore', fd, fd],
        detached: true,
        ...(opts.runAs ?? {}),
      });
      // A failed exec surfaces as an 'error' event right after spawn; report it instead of a crash.
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(new HarnessError(`cannot start ${command}`, { cause: err })));
      });
      // Without unref the test runner would wait for the cluster to exit on its own.
      child.unref();
      return new ManagedProcess(child);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Resolves when the child exits, for racing against a startup wait. */
  get exit(): Promise<void> {
    return this.exited;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Signals the whole process group; a missing group just means it is gone already. */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.running) killQuietly(-this.pid, signal);
  }

  /** SIGTERM to the group, SIGKILL once `graceMs` has passed, resolves once the child exited. */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.signalGroup('SIGTERM');
    const timer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
    // Anything left in the group (e.g. a helper the child forked) goes too.
    killQuietly(-this.pid, 'SIGKILL');
  }
}

/** mkdir -p, handing the new directory to the run-as user so etcd/Patroni can write in it. */
export function makeOwnedDir(dir: string, runAs: RunAs | undefined): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid);
}

/**
 * Runs `wait` but rejects as soon as `proc` exits: no point polling a dead process until the
 * deadline. The signal passed to `wait` aborts its polling once either side has settled.
 */
export async function unlessExited<T>(
  procs: ReadonlyArray<{ proc: ManagedProcess; what: string }>,
  wait: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const deaths = procs.map(({ proc, what }) =>
    proc.exit.then(() => {
      throw new HarnessError(`${what} exited (pid ${proc.pid}) while we waited for it`);
    }),
  );
  try {
    return await Promise.race([wait(controller.signal), ...deaths]);
  } finally {
    controller.abort(new HarnessError('stopped waiting'));
    // Whichever side lost the race must not surface as an unhandled rejection.
    for (const d of deaths) d.catch(() => undefined);
  }
}

/** kill(2) that treats "no such process" as success; other failures (EPERM) are real errors. */
export function killQuietly(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw new HarnessError(`kill(${pid}, ${signal}) failed`, { cause: err });
  }
}

/** True while the pid exists and is not a zombie (an orphaned postmaster may linger unreaped). */
export function isPidAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new HarnessError(`cannot read /proc/${pid}/stat`, { cause: err });
  }
  // Format: "pid (comm) S ..."; comm may contain spaces, so find the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** The process group of a pid (field 5 of /proc/<pid>/stat), undefined once it is gone. */
export function processGroupOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HarnessError(`cannot read /proc/${pid}/stat`, { cause: err });
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgid = Number(fields[2]);
  return Number.isInteger(pgid) ? pgid : undefined;
}

export async function waitForPidsDead(pids: number[], timeoutMs: number): Promise<void> {
  await waitFor(() => pids.every((pid) => !isPidAlive(pid)), {
    timeoutMs,
    intervalMs: 50,
    what: `pids ${pids.join(', ')} to exit`,
  });
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs a short command to completion (psql, patronictl); rejects on a non-zero exit or timeout. */
export function runCommand(
  command: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; runAs: RunAs | undefined; cwd: string; timeoutMs: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs,
      killSignal: 'SIGKILL',
      ...(opts.runAs ?? {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err) => reject(new HarnessError(`cannot run ${command}`, { cause: err })));
    child.once('close', (code, signal) => {
      if (code === 0) {
        resolve({ stdout, stderr, code });
        return;
      }
      const why = signal ? `killed by ${signal} (timeout ${opts.timeoutMs} ms?)` : `exit code ${code}`;
      reject(
        new HarnessError(`${command} ${args.join(' ')}: ${why}\n${stderr.trim()}\n${stdout.trim()}`.trim()),
      );
    });
  });
}

/** The last `lines` lines of a log file, for error messages; a missing file is worth saying so. */
export function tailFile(file: string, lines: number): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return `(cannot read ${file}: ${(err as Error).message})`;
  }
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
