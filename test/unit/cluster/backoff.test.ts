import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, NO_CRASHES, respawnDelay, type CrashSeries } from '../../../src/cluster/backoff.js';

/** Delays of `n` crashes in a row, each after living `livedMs`. */
function delays(n: number, livedMs: number): number[] {
  let series: CrashSeries = NO_CRASHES;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = respawnDelay(series, livedMs);
    out.push(d.delayMs);
    series = d.series;
  }
  return out;
}

describe('respawn backoff', () => {
  it('doubles from 100 ms for a worker that keeps crashing at once, and stops at 5 s', () => {
    expect(delays(9, 50)).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it('starts over at 100 ms when the crashed worker had lived 30 s or more', () => {
    const after = respawnDelay({ crashes: 7 }, 30_000);
    expect(after).toEqual({ delayMs: 100, series: { crashes: 1 } });
    expect(respawnDelay({ crashes: 7 }, 29_999).delayMs).toBe(5_000);
  });

  it('stays finite after any number of crashes', () => {
    expect(respawnDelay({ crashes: 10_000 }, 0).delayMs).toBe(DEFAULT_BACKOFF.maxMs);
  });

  it('follows a custom policy', () => {
    expect(respawnDelay(NO_CRASHES, 0, { initialMs: 10, maxMs: 15, resetAfterMs: 1 })).toEqual({ delayMs: 10, series: { crashes: 1 } });
    expect(respawnDelay({ crashes: 1 }, 0, { initialMs: 10, maxMs: 15, resetAfterMs: 1_000 }).delayMs).toBe(15);
  });
});
