// Last-resort cleanup when a test run ends without LocalCluster.stop().
//
// Two layers:
// 1. A synchronous process 'exit' hook SIGKILLs the process groups and postmasters of every
//    cluster still registered. It runs on a normal exit and process.exit(), not on death by a
//    signal: SIGINT/SIGTERM handling is the caller's job (the demo traps Ctrl-C and calls stop()).
// 2. A small detached watchdog per cluster polls for our pid once a second; if we die without
//    stopping the cluster (SIGKILL, OOM, unhandled signal) it SIGKILLs every process whose
//    command line names the cluster's unique base dir (etcd, Patroni, postmasters; backends
//    exit on postmaster death) and removes the base dir.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { HarnessError } from './errors.js';
import { killQuietly } from './process.js';

export interface Killable {
  /** SIGKILLs everything the cluster started, synchronously; returns a line saying what it did. */
  killSync(): string;
}

const live = new Set<Killable>();
let hooked = false;

export function registerForExit(cluster: Killable): void {
  live.add(cluster);
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) {
      // Only synchronous writes reach the terminal from an exit hook (a test runner's console may buffer).
      try {
        fs.writeSync(2, `[pgrouter harness] exit without stop(): ${c.killSync()}\n`);
      } catch (err) {
        // One cluster failing to die must not stop us from killing the next one.
        fs.writeSync(2, `[pgrouter harness] exit hook could not kill a cluster: ${(err as Error).message}\n`);
      }
    }
    live.clear();
  });
}

export function unregisterForExit(cluster: Killable): void {
  live.delete(cluster);
}

// The base dir comes in through the environment so it is not in the watchdog's own command line.
const WATCHDOG = `
parent=$1
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
for d in /proc/[0-9]*; do
  [ "\${d#/proc/}" = "$$" ] && continue
  mapfile -d '' args < "$d/cmdline" 2>/dev/null || continue
  case "\${args[*]}" in *"$PGR_HARNESS_BASE/"*) kill -9 "\${d#/proc/}" 2>/dev/null ;; esac
done
rm -rf -- "$PGR_HARNESS_BASE"
`;

export class Watchdog {
  private constructor(private readonly pid: number) {}

  static start(baseDir: string, log: (line: string) => void): Watchdog {
    const child = spawn('bash', ['-c', WATCHDOG, 'pgr-harness-watchdog', String(process.pid)], {
      detached: true,
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin', PGR_HARNESS_BASE: baseDir },
    });
    // Without a watchdog the cluster still works; only the crash cleanup is lost, so say so.
    child.once('error', (err) => log(`watchdog for ${baseDir} failed: ${err.message}`));
    child.unref();
    if (child.pid === undefined) throw new HarnessError('cannot start the harness watchdog (bash)');
    return new Watchdog(child.pid);
  }

  /** Called by a clean stop(): the watchdog's job is done. */
  stop(): void {
    killQuietly(-this.pid, 'SIGKILL');
  }
}
