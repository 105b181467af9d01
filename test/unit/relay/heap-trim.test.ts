// When the data path gives a connection burst's heap back (relay/heap-trim.ts): at quiet
// moments only, once after start, once after the first sessions, then after each burst.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { BURST, HeapTrim, QUIET_MS } from '../../../src/relay/heap-trim.js';

describe('HeapTrim', () => {
  let trims = 0;
  let trim: HeapTrim;
  beforeEach(() => {
    vi.useFakeTimers();
    trims = 0;
    trim = new HeapTrim(() => trims++, silentLogger(), () => Date.now());
  });
  afterEach(() => {
    trim.stop();
    vi.useRealTimers();
  });

  const sessions = (n: number): void => {
    for (let i = 0; i < n; i++) trim.activity();
  };

  it('trims at the first quiet moment after start, and once more after the first sessions', () => {
    vi.advanceTimersByTime(QUIET_MS);
    expect(trims).toBe(1);
    sessions(3);
    vi.advanceTimersByTime(QUIET_MS - 1);
    expect(trims).toBe(1);
    vi.advanceTimersByTime(1);
    expect(trims).toBe(2);
  });

  it('then trims only after a burst of sessions, once the burst is over', () => {
    vi.advanceTimersByTime(QUIET_MS);
    sessions(1);
    vi.advanceTimersByTime(QUIET_MS);
    expect(trims).toBe(2);
    sessions(BURST - 1);
    vi.advanceTimersByTime(10 * QUIET_MS);
    expect(trims).toBe(2);
    sessions(1);
    vi.advanceTimersByTime(QUIET_MS);
    expect(trims).toBe(3);
  });

  it('never trims while sessions keep arriving', () => {
    for (let i = 0; i < 100; i++) {
      sessions(BURST);
      vi.advanceTimersByTime(QUIET_MS / 2);
    }
    expect(trims).toBe(0);
    vi.advanceTimersByTime(QUIET_MS);
    expect(trims).toBe(1);
  });
});
