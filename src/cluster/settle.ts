// Waiting for a reload's new Discovery to agree with the running one (view-feed.ts says when
// they agree), bounded by one probe cycle. Shared by both layouts: ClusterRouter (workers) and
// LocalPlane (one process).
import type { Config } from '../config/types.js';
import type { Discovery } from '../discovery/discovery.js';
import { discoverySettled } from './view-feed.js';

/** Resolves true once `candidate` agrees with `incumbent`, false if one probe cycle passes first. */
export function waitSettled(candidate: Discovery, incumbent: Discovery, config: Config): Promise<boolean> {
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
