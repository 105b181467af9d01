// The data path's relay tests run once per relay engine (issue 12): js, and native where the
// addon is built (npm ci builds it). Each test checks the process's fds before and after.
import fs from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';
import { available } from '../../../../src/relay/native-relay.js';
import type { Fixture } from './fixture.js';
import { waitFor } from './wait-for.js';

export type EngineName = 'js' | 'native';

/** The engines to run against: js always, native where the addon loads. */
export const ENGINES: EngineName[] = available() ? ['js', 'native'] : ['js'];

export interface FdCensus {
  readonly sockets: number;
  readonly pipes: number;
  readonly other: number;
}

/** This process's fds by kind (/proc/self/fd). */
export function fdCensus(): FdCensus {
  let sockets = 0;
  let pipes = 0;
  let other = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch (err) {
      // The fd of the directory listing itself, or one closed meanwhile.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if (target.startsWith('socket:')) sockets++;
    else if (target.startsWith('pipe:')) pipes++;
    else other++;
  }
  return { sockets, pipes, other };
}

/**
 * Waits until the process has no more sockets than at `before` (they close asynchronously). Pipes
 * may stay: the native relay keeps up to 32 empty pipes (64 fds) for its splices, shared by all
 * sessions; other fds (its epoll set and eventfd, created once) may appear once.
 */
export async function noFdLeak(before: FdCensus): Promise<void> {
  await waitFor(() => fdCensus().sockets <= before.sockets, { timeoutMs: 15_000, what: `sockets back to ${before.sockets} (now ${fdCensus().sockets})` });
  const now = fdCensus();
  expect(now.pipes).toBeLessThanOrEqual(before.pipes + 64);
  expect(now.other).toBeLessThanOrEqual(before.other + 2);
}

/** Each test of the calling suite: `close` what it started, then no socket may be left behind. */
export function checkFdsAround(close: () => Promise<void>): void {
  let before: FdCensus;
  beforeEach(() => {
    before = fdCensus();
  });
  afterEach(async () => {
    await close();
    await noFdLeak(before);
  });
}

/** With the native engine, waits until `n` sessions of the fixture's data path are in the relay thread. */
export async function handedOver(f: Fixture, engine: EngineName, n: number): Promise<void> {
  if (engine !== 'native') return;
  await waitFor(() => f.dp.relay.report().native_sessions === n, { timeoutMs: 10_000, what: `${n} sessions in the native relay (now ${f.dp.relay.report().native_sessions})` });
}
