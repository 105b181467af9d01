// WorkerSupervisor's options, and the defaults that decide how the data-path workers are
// started: how many (workers: auto = one per CPU), which compiled module, with which Node flags,
// and node:cluster's scheduling (see supervisor.ts for why round robin is the default).
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import type { BackoffPolicy } from './backoff.js';

export interface SupervisorOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Number of workers; default: config.workers, `auto` = os.availableParallelism(). */
  readonly workers?: number;
  /** The compiled worker entry; default dist/src/cluster/worker-main.js. */
  readonly workerModule?: string;
  /** Node flags for the workers; default the primary's own when running from dist/, else none. */
  readonly execArgv?: readonly string[];
  /** Log settings for the workers; default config.log. */
  readonly log?: { readonly level: string; readonly format: 'json' | 'pretty' };
  readonly backoff?: BackoffPolicy;
  /** A cohort that is not bound within this time fails its start or reload (default 30 s). */
  readonly startTimeoutMs?: number;
  /** Deadline of one question to one worker (default 2 s). */
  readonly queryTimeoutMs?: number;
  /** How often worker reports are refreshed in the background; 0 = only on demand (default 1 s). */
  readonly pollIntervalMs?: number;
  readonly maxCancelKeys?: number;
  /**
   * The view heartbeat (issue 10): sent to every worker every intervalMs (default 1 s); a worker
   * that hears no view and no heartbeat for missed × intervalMs (default 5) stops accepting
   * until it hears from the primary again.
   */
  readonly heartbeat?: { readonly intervalMs: number; readonly missed: number };
  /**
   * node:cluster scheduling, process-wide and fixed at the first fork: 'rr' (default, the
   * primary accepts and hands out connections in turn) or 'none' (workers accept themselves).
   */
  readonly schedulingPolicy?: 'rr' | 'none';
  readonly now?: () => number;
  /** A drained generation's last worker exited (its view source can stop). */
  readonly onRetired?: (generation: number) => void;
}

export const DEFAULT_HEARTBEAT = Object.freeze({ intervalMs: 1_000, missed: 5 });

/** `workers: auto` → one per CPU the process may use. */
export function resolveWorkerCount(setting: number | 'auto', cpus: number = availableParallelism()): number {
  return setting === 'auto' ? Math.max(1, cpus) : Math.max(1, Math.floor(setting));
}

/** The compiled worker entry next to this module, or in dist/ when this runs from sources (tests). */
export function defaultWorkerModule(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return join(dirname(here), 'worker-main.js');
  return join(dirname(here), '..', '..', 'dist', 'src', 'cluster', 'worker-main.js');
}

/** Sets node:cluster up to fork the workers (process-wide; must run before the first fork). */
export function setupWorkers(opts: Pick<SupervisorOptions, 'workerModule' | 'execArgv' | 'schedulingPolicy'>): void {
  const fromDist = fileURLToPath(import.meta.url).endsWith('.js');
  cluster.schedulingPolicy = opts.schedulingPolicy === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  cluster.setupPrimary({
    exec: opts.workerModule ?? defaultWorkerModule(),
    execArgv: [...(opts.execArgv ?? (fromDist ? process.execArgv : []))],
    // Workers write their own log lines to the primary's stdout/stderr.
    silent: false,
  });
}
