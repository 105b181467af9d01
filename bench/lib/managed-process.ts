// A long-running child (HAProxy, pgrouter) started by the benchmarks: output to a log file,
// its own process group, a signal that fires when it dies (so startup waits abort at once
// instead of polling until their deadline), and stop = signal, then SIGKILL to the group.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { PgrError } from '../../src/errors.js';
import { tail } from './common.js';

export interface ManagedProcessOptions {
  /** For messages: "haproxy", "pgrouter". */
  name: string;
  command: string;
  args: string[];
  logFile: string;
  cwd?: string;
}

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private running = false;
  /** Aborted when the child exits; pass to waitFor() while waiting for it to come up. */
  died: AbortSignal | undefined;

  constructor(private readonly opts: ManagedProcessOptions) {}

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  async start(): Promise<void> {
    const { name, command, args, logFile, cwd } = this.opts;
    const fd = fs.openSync(logFile, 'a');
    try {
      // detached: its own process group, so the SIGKILL fallback also reaches anything it forked.
      const child = spawn(command, args, { cwd, stdio: ['ignore', fd, fd], detached: true });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(new PgrError('PGR_ERR_HARNESS', `cannot start ${name}`, { cause: err })));
      });
      this.child = child;
      this.running = true;
      const died = new AbortController();
      this.died = died.signal;
      this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
      void this.exited.then(() => {
        this.running = false;
        died.abort(new PgrError('PGR_ERR_HARNESS', `${name} exited; see ${logFile}:\n${tail(logFile)}`));
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** `signal` to the child, SIGKILL to its process group once `graceMs` has passed. */
  async stop(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill(signal);
    const timer = setTimeout(() => this.killGroup(), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** For exit hooks, which cannot wait. */
  killSync(): void {
    if (this.running) this.killGroup();
  }

  private killGroup(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch (err) {
      // ESRCH: the group is gone already, which is what we wanted.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}
