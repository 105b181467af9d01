// Condition polling for tests and the harness: we wait on what we need to be true,
// never on a fixed sleep, so fast machines stay fast and slow ones get the whole deadline.
import { setTimeout as delay } from 'node:timers/promises';
import { describeError } from '../../src/errors.js';
import { HarnessError } from './errors.js';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Names the condition in the timeout error, e.g. "node2 to be a streaming replica". */
  what: string;
  /** Stops polling early; waitFor then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Polls `fn` until it returns a truthy value and resolves with it.
 * Errors thrown by `fn` count as "not yet" (the thing we poll is often still starting);
 * the last one is reported as the cause when the deadline passes.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions,
): Promise<T> {
  const interval = opts.intervalMs ?? 100;
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const value = await fn();
      if (value) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const detail = lastError === undefined ? '' : ` (last error: ${describeError(lastError)})`;
      throw new HarnessError(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${detail}`, {
        cause: lastError,
      });
    }
    await delay(Math.min(interval, left), undefined, opts.signal ? { signal: opts.signal } : undefined);
  }
}

/**
 * Resolves like `promise`, or rejects after `timeoutMs` naming `what()` (a function, so the
 * message can carry state gathered meanwhile, such as a child's output). Tests bound every
 * await with it, so a hang fails with its step named instead of the test's global timeout.
 */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HarnessError(`timed out after ${timeoutMs} ms waiting for ${what()}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
