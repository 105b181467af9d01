// Respawn backoff of a crashed worker (PURE). A worker that crashes at once again (a bad
// config slipped through, a port taken, a bug on the first connection) must not be forked in
// a tight loop that eats the CPU the healthy workers need; one that ran for a while and then
// crashed is replaced almost at once, because its listeners' share of clients waits for it.
import { exponentialDelay } from '../backoff.js';

export interface BackoffPolicy {
  /** Delay before the first respawn after a crash. */
  readonly initialMs: number;
  /** Upper bound of the delay. */
  readonly maxMs: number;
  /** A worker that lived this long resets the series: its crash counts as the first. */
  readonly resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 5_000, resetAfterMs: 30_000 });

/** Crash history of one worker slot. */
export interface CrashSeries {
  /** Crashes in a row, each after a life shorter than resetAfterMs. */
  readonly crashes: number;
}

export const NO_CRASHES: CrashSeries = Object.freeze({ crashes: 0 });

export interface RespawnDecision {
  readonly delayMs: number;
  readonly series: CrashSeries;
}

/**
 * The delay before respawning a worker that crashed after living `livedMs`:
 * initialMs · 2^(n-1) for the n-th crash in a row, capped at maxMs
 * (100 ms, 200 ms, 400 ms, ... 5 s with the defaults).
 */
export function respawnDelay(series: CrashSeries, livedMs: number, policy: BackoffPolicy = DEFAULT_BACKOFF): RespawnDecision {
  const crashes = livedMs >= policy.resetAfterMs ? 1 : series.crashes + 1;
  return { delayMs: exponentialDelay(crashes, policy.initialMs, policy.maxMs), series: { crashes } };
}
