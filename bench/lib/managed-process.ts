// A long-running child (HAProxy, pgrouter, the fake backend) started by the benchmarks: the
// harness's ManagedProcess (log file, own process group, stop by PID), plus a signal that fires
// when it dies, so startup waits abort at once instead of polling until their deadline.
import { HarnessError } from '../../test/harness/errors.js';
import { ManagedProcess as Child, tailFile } from '../../test/harness/process.js';

export interface ManagedProcessOptions {
  /** For messages: "haproxy", "pgrouter". */
  name: string;
  command: string;
  args: string[];
  logFile: string;
  cwd?: string;
}

export class ManagedProcess {
  private child: Child | undefined;
  /** Aborted when the child exits; pass to waitFor() while waiting for it to come up. */
  died: AbortSignal | undefined;

  constructor(private readonly opts: ManagedProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.running ? this.child.pid : undefined;
  }

  async start(): Promise<void> {
    const { name, command, args, logFile, cwd } = this.opts;
    const child = await Child.spawn(command, args, { logFile, env: process.env, runAs: undefined, cwd: cwd ?? process.cwd() });
    this.child = child;
    const died = new AbortController();
    this.died = died.signal;
    void child.exit.then(() => died.abort(new HarnessError(`${name} exited; see ${logFile}:\n${tailFile(logFile, 20)}`)));
  }

  /** SIGTERM to its process group, SIGKILL once `graceMs` has passed. */
  async stop(graceMs: number): Promise<void> {
    await this.child?.stop(graceMs);
  }

  /** For exit hooks, which cannot wait. */
  killSync(): void {
    this.child?.signalGroup('SIGKILL');
  }
}
