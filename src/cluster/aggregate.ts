// Merging what the workers report into one router-wide picture (PURE). The stats page and the
// exporter read traffic as if there were one data path (RouterMetrics.bind({ traffic })); in
// cluster mode that traffic is the sum over the workers, plus what retired workers counted.
//
// Counters only grow: when a worker exits (crash, reload drain, respawn) its last report is
// folded into `retired` with its gauges (current, queued, held, max) zeroed, so
// pgrouter_*_total series do not drop when a process goes away. What it counted after its last
// report is lost; reports are refreshed before every scrape and every second.
//
// `max` (highest concurrent sessions per backend) is summed over workers: an upper bound of the
// router-wide peak, since the workers' peaks need not coincide.
import type { ListenerTraffic } from '../sessions/types.js';

export type TrafficByListener = Readonly<Record<string, ListenerTraffic>>;

type Tree = { readonly [k: string]: number | Tree };

/** Adds two trees of numbers key by key; a key missing on one side counts as absent, not 0. */
export function sumTrees<T>(a: T, b: T): T {
  // Null prototype: keys are member and listener names from outside, "__proto__" included (issue 10).
  const out: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, a as Record<string, unknown>);
  for (const [k, vb] of Object.entries(b as Record<string, unknown>)) {
    const va = out[k];
    if (typeof vb === 'number') out[k] = (typeof va === 'number' ? va : 0) + vb;
    else if (vb !== null && typeof vb === 'object') out[k] = va !== null && typeof va === 'object' ? sumTrees(va as Tree, vb as Tree) : sumTrees({}, vb as Tree);
  }
  return out as T;
}

export function mergeTraffic(reports: readonly TrafficByListener[]): Record<string, ListenerTraffic> {
  let merged = Object.create(null) as Record<string, ListenerTraffic>;
  for (const r of reports) merged = sumTrees(merged, r as Record<string, ListenerTraffic>);
  return merged;
}

/** A worker's last traffic with its gauges zeroed: what it adds to the totals after it exited. */
export function retiredTraffic(last: TrafficByListener): Record<string, ListenerTraffic> {
  const out = Object.create(null) as Record<string, ListenerTraffic>;
  for (const [name, l] of Object.entries(last)) {
    const backends = Object.fromEntries(Object.entries(l.backends).map(([b, t]) => [b, { ...t, current: 0, max: 0 }]));
    out[name] = { ...l, current: 0, queued: 0, held: 0, backends };
  }
  return out;
}
