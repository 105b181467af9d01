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
 * Starts `fresh` and waits until it agrees with `incumbent`; after one probe cycle without
 * agreement it logs a warning and returns (the caller switches anyway).
 */
export async function settleReplacement(fresh: Discovery, incumbent: Discovery, config: Config, logger: Logger): Promise<void> {
  await fresh.start();
  if (!(await waitSettled(fresh, incumbent, config))) {
    logger.warn({ event: 'reload_discovery_unsettled' }, 'new discovery does not agree with the running one yet; switching anyway');
  }
}

/** Resolves true once `candidate` agrees with `incumbent`, false if one probe cycle passes first. */
function waitSettled(candidate: Discovery, incumbent: Discovery, config: Config): Promise<boolean> {
  const limitMs = config.checks.interval * config.checks.rise + config.checks.timeout + 1_000;
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
