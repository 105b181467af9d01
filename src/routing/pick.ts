// Choose one backend among the eligible ones (PURE: load and randomness come in as arguments).
import type { Balance } from '../config/types.js';
import type { MemberView } from '../view/cluster-view.js';

export interface Load {
  /** Current sessions of this listener on the member (connecting ones included). */
  sessions(name: string): number;
  /** Round-robin position; the caller advances it after every pick. */
  readonly rrCounter: number;
}

function roundRobin<T>(items: readonly T[], counter: number): T | null {
  if (items.length === 0) return null;
  const n = items.length;
  const i = ((Math.trunc(counter) % n) + n) % n;
  return items[i] ?? null;
}

export function pick(
  candidates: readonly MemberView[],
  balance: Balance,
  load: Load,
  rand: () => number,
): MemberView | null {
  if (candidates.length === 0) return null;
  switch (balance) {
    case 'roundrobin':
      return roundRobin(candidates, load.rrCounter);
    case 'leastconn': {
      let least = Infinity;
      let tied: MemberView[] = [];
      for (const m of candidates) {
        const n = load.sessions(m.name);
        if (n < least) {
          least = n;
          tied = [m];
        } else if (n === least) {
          tied.push(m);
        }
      }
      // Ties broken by round robin so equal members share new sessions evenly.
      return roundRobin(tied, load.rrCounter);
    }
    case 'random': {
      const r = rand();
      const i = Number.isFinite(r) ? Math.min(candidates.length - 1, Math.max(0, Math.floor(r * candidates.length))) : 0;
      return candidates[i] ?? null;
    }
  }
}
