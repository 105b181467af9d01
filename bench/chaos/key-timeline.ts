// Who held Patroni's leader key, and when: the chaos suite reads `<namespace><scope>/leader`
// from etcd every poll interval (50 ms by default) for the whole run. Polls run one after the
// other, so observations are ordered by both their start and their end.
import { setTimeout as delay } from 'node:timers/promises';
import { describeError } from '../../src/errors.js';

export interface KeyObservation {
  /** Epoch ms: the read was sent, and its answer arrived. The key had `holder` in between. */
  s: number;
  e: number;
  /** The member named by the key, or null when there is no leader key. */
  holder: string | null;
}

export interface KeyTransition {
  /** Last poll that saw the old holder, first poll that saw the new one (epoch ms). */
  lastSeenBefore: number;
  firstSeenAfter: number;
  from: string | null;
  to: string | null;
}

export class KeyTimeline {
  readonly observations: KeyObservation[] = [];
  /** Polls that failed (etcd down or slow), by error text. */
  readonly failures = new Map<string, number>();
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly read: () => Promise<string | null>,
    private readonly intervalMs = 50,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.poll();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async poll(): Promise<void> {
    while (this.running) {
      const s = Date.now();
      try {
        const holder = await this.read();
        this.observations.push({ s, e: Date.now(), holder });
      } catch (err) {
        const why = describeError(err).split('\n')[0]?.slice(0, 120) ?? 'error';
        this.failures.set(why, (this.failures.get(why) ?? 0) + 1);
      }
      await delay(Math.max(0, this.intervalMs - (Date.now() - s)));
    }
  }

  /** The holder according to the last poll that completed at or before `at` (undefined before any). */
  holderAt(at: number): string | null | undefined {
    const i = lastEndingBy(this.observations, at);
    return i < 0 ? undefined : this.observations[i]!.holder;
  }

  transitions(from = 0, to = Infinity): KeyTransition[] {
    return keyTransitions(this.observations).filter((t) => t.firstSeenAfter >= from && t.lastSeenBefore <= to);
  }
}

/** Index of the last observation whose answer arrived at or before `at`, or -1. */
function lastEndingBy(obs: readonly KeyObservation[], at: number): number {
  let lo = 0;
  let hi = obs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (obs[mid]!.e <= at) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * The holders the key may have had at some instant in [from, to]: what every poll saw from the
 * last one answered by `from` to the first one sent at or after `to`. So a change of holder
 * is only resolved to within one poll interval (plus the poll's own duration) on either side.
 * null when there is no poll on one side (the instant cannot be judged).
 */
export function possibleHolders(obs: readonly KeyObservation[], from: number, to: number): Set<string | null> | null {
  const first = lastEndingBy(obs, from);
  if (first < 0) return null;
  const holders = new Set<string | null>();
  for (let i = first; i < obs.length; i++) {
    const o = obs[i]!;
    holders.add(o.holder);
    if (o.s >= to) return holders;
  }
  return null;
}

export function keyTransitions(obs: readonly KeyObservation[]): KeyTransition[] {
  const out: KeyTransition[] = [];
  for (let i = 1; i < obs.length; i++) {
    const prev = obs[i - 1]!;
    const cur = obs[i]!;
    if (prev.holder !== cur.holder) out.push({ lastSeenBefore: prev.e, firstSeenAfter: cur.s, from: prev.holder, to: cur.holder });
  }
  return out;
}
