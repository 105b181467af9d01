// A reload's replacement Discovery: numbered after the running one, started, and awaited until
// it agrees with it (view-feed.ts says when), bounded by one probe cycle. Shared by both
// layouts: ClusterPlane (workers) and LocalPlane (one process).
import type { Config } from '../config/types.js';
import type { Discovery } from '../discovery/discovery.js';
import type { Logger } from '../log.js';
import { discoverySettled } from './view-feed.js';

/**
 * Generations only order views, and every consumer (data path, metrics, leader history) ignores
 * a view that is not newer than the last. The running Discovery keeps publishing while the new
 * one settles, so the new one starts this far ahead to stay newer than anything it sends.
 */
const GENERATION_GAP = 1_000_000;

/** The generation a replacement of `incumbent` starts numbering after. */
export function replacementBase(incumbent: Discovery): number {
  return incumbent.current().generation + GENERATION_GAP;
}

/**
 * Starts `fresh` and waits until switching to it kills nothing `incumbent` keeps
 * (discoverySettled). Resolves null when it may take over, or, after one probe cycle without
 * that, the reason to refuse the reload: the caller never switches to an unsettled Discovery,
 * whose "no primary" would close every RW session (issue 10).
 */
export async function settleReplacement(fresh: Discovery, incumbent: Discovery, config: Config, logger: Logger): Promise<string | null> {
  await fresh.start();
  const limitMs = settleLimitMs(config);
  if (await waitSettled(fresh, incumbent, limitMs)) return null;
  const [mine, theirs] = [fresh.current().primary, incumbent.current().primary];
  const error = `the new discovery did not agree with the running one within ${limitMs} ms (primary ${mine ?? 'none'}, running ${theirs ?? 'none'}); the running config is kept`;
  logger.error({ event: 'reload_discovery_unsettled', primary: mine, running_primary: theirs, limit_ms: limitMs }, error);
  return error;
}

/** One probe cycle: the new Discovery's rise at fastinter, plus a timeout and a margin. */
function settleLimitMs(config: Config): number {
  const { interval, fastinter, rise, timeout } = config.checks;
  return interval + fastinter * Math.max(0, rise - 1) + timeout + 1_000;
}

/** Resolves true once `candidate` may replace `incumbent`, false if `limitMs` passes first. */
function waitSettled(candidate: Discovery, incumbent: Discovery, limitMs: number): Promise<boolean> {
  const ok = (): boolean => discoverySettled(candidate.current(), incumbent.current());
  if (ok()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const unsubscribe: Array<() => void> = [];
    const finish = (value: boolean): void => {
      clearTimeout(timer);
      for (const u of unsubscribe) u();
      resolve(value);
    };
    const timer = setTimeout(() => finish(false), limitMs);
    const check = (): void => {
      if (ok()) finish(true);
    };
    unsubscribe.push(candidate.subscribe(check), incumbent.subscribe(check));
  });
}
