// One Patroni-managed PostgreSQL node: its files, its Patroni process, and its postmaster.
import fs from 'node:fs';
import path from 'node:path';
import { HarnessError } from './errors.js';
import { ManagedProcess, childEnv, isPidAlive, killQuietly, processGroupOf, waitForPidsDead, type RunAs } from './process.js';

export interface ClusterNode {
  name: string;
  host: '127.0.0.1';
  pgPort: number;
  apiPort: number;
  apiUrl: string;
  dataDir: string;
  configFile: string;
}

export class PatroniNode {
  readonly info: ClusterNode;
  readonly dir: string;
  readonly logFile: string;
  private proc: ManagedProcess | undefined;

  constructor(
    baseDir: string,
    name: string,
    pgPort: number,
    apiPort: number,
    private readonly runAs: RunAs | undefined,
    private readonly log: (line: string) => void,
    scheme: 'http' | 'https' = 'http',
  ) {
    this.dir = path.join(baseDir, name);
    this.logFile = path.join(this.dir, 'patroni.log');
    this.info = Object.freeze({
      name,
      host: '127.0.0.1' as const,
      pgPort,
      apiPort,
      apiUrl: `${scheme}://127.0.0.1:${apiPort}`,
      dataDir: path.join(this.dir, 'data'),
      configFile: path.join(this.dir, 'patroni.yml'),
    });
  }

  get name(): string {
    return this.info.name;
  }

  get patroniPid(): number | undefined {
    return this.proc?.running ? this.proc.pid : undefined;
  }

  /** The Patroni process while it runs, for racing waits against its exit. */
  get process(): ManagedProcess | undefined {
    return this.proc?.running ? this.proc : undefined;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  /** Creates the node dir (owned by the run-as user) and writes patroni.yml. */
  writeConfig(yamlText: string): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.info.configFile, yamlText, { mode: 0o600 });
    if (this.runAs) {
      fs.chownSync(this.dir, this.runAs.uid, this.runAs.gid);
      fs.chownSync(this.info.configFile, this.runAs.uid, this.runAs.gid);
    }
  }

  async start(): Promise<void> {
    if (this.proc?.running) return;
    // A postmaster orphaned by a crash would make the new Patroni adopt or fight it; a crashed
    // node has none left (crash() kills it), so this only guards against misuse.
    const orphan = this.postmasterPid();
    if (orphan !== undefined) {
      throw new HarnessError(`${this.name}: postmaster ${orphan} still running, stop it first`);
    }
    this.proc = await ManagedProcess.spawn('patroni', [this.info.configFile], {
      logFile: this.logFile,
      env: childEnv(this.dir),
      runAs: this.runAs,
      cwd: this.dir,
    });
    this.log(`${this.name}: patroni started (pid ${this.proc.pid}), pg ${this.info.pgPort}, api ${this.info.apiPort}`);
  }

  /**
   * The live postmaster's pid, from the first line of postmaster.pid. The file outlives a
   * SIGKILL and pids get reused, so the pid only counts if its command line names our data dir.
   */
  postmasterPid(): number | undefined {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.info.dataDir, 'postmaster.pid'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new HarnessError(`${this.name}: cannot read postmaster.pid`, { cause: err });
    }
    const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
    if (!Number.isInteger(pid) || pid <= 0 || !isPidAlive(pid)) return undefined;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new HarnessError(`${this.name}: cannot read /proc/${pid}/cmdline`, { cause: err });
    }
    return cmdline.includes(this.info.dataDir) ? pid : undefined;
  }

  /** kill -9 of Patroni and of the postmaster's process group (postmaster + backends). */
  async crash(timeoutMs = 10_000): Promise<void> {
    const pids: number[] = [];
    const pm = this.postmasterPid();
    if (this.proc?.running) {
      pids.push(this.proc.pid);
      this.proc.signalGroup('SIGKILL');
    }
    if (pm !== undefined) {
      pids.push(pm);
      killPostmasterGroup(pm, 'SIGKILL');
    }
    await waitForPidsDead(pids, timeoutMs);
    this.log(`${this.name}: crashed (SIGKILL to ${pids.join(', ') || 'nothing running'})`);
  }

  /** A signal to the Patroni process only (SIGSTOP freezes its HA loop and REST API); returns its pid. */
  signalPatroni(signal: NodeJS.Signals): number {
    if (!this.proc?.running) throw new HarnessError(`${this.name}: patroni is not running`);
    killQuietly(this.proc.pid, signal);
    return this.proc.pid;
  }

  /**
   * Clean stop: SIGTERM makes Patroni stop PostgreSQL and release its leader key. If Patroni
   * has to be killed after `graceMs`, the postmaster is stopped as well (fast shutdown first).
   */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.proc?.running) {
      // A Patroni frozen by a test (SIGSTOP) would sit on the SIGTERM until the SIGKILL.
      killQuietly(this.proc.pid, 'SIGCONT');
      await this.proc.stop(graceMs);
    }
    const pm = this.postmasterPid();
    if (pm !== undefined) {
      killPostmasterGroup(pm, 'SIGINT');
      try {
        await waitForPidsDead([pm], 5000);
      } catch (err) {
        this.log(`${this.name}: postmaster ${pm} ignored SIGINT (${(err as Error).message}), killing it`);
        killPostmasterGroup(pm, 'SIGKILL');
        await waitForPidsDead([pm], 5000);
      }
    }
    this.log(`${this.name}: stopped`);
  }

  /** For the synchronous exit hook: SIGKILL everything, return the pids signalled. */
  killSync(): number[] {
    const pids: number[] = [];
    if (this.proc?.running) {
      pids.push(this.proc.pid);
      this.proc.signalGroup('SIGKILL');
    }
    const pm = this.postmasterPid();
    if (pm !== undefined) {
      pids.push(pm);
      killPostmasterGroup(pm, 'SIGKILL');
    }
    return pids;
  }
}

/**
 * Patroni starts the postmaster from a helper that calls setsid(), so the postmaster and its
 * backends share a process group of their own; signalling that group reaches all of them.
 */
function killPostmasterGroup(pid: number, signal: NodeJS.Signals): void {
  const pgid = processGroupOf(pid);
  // Never signal a group we belong to (would only happen if setsid was skipped).
  if (pgid !== undefined && pgid > 1 && pgid !== processGroupOf(process.pid)) killQuietly(-pgid, signal);
  killQuietly(pid, signal);
}
