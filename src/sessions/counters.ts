// Plain in-memory counters by group and reason. The Prometheus exporter (a later issue) reads
// snapshot(); until then stats() exposes the same numbers.

export type CounterSnapshot<G extends string> = Record<G, Record<string, number>>;

export class Counters<G extends string> {
  private readonly groups: Map<G, Map<string, number>> = new Map();

  constructor(groups: readonly G[]) {
    for (const g of groups) this.groups.set(g, new Map());
  }

  inc(group: G, reason: string, by = 1): void {
    let g = this.groups.get(group);
    if (!g) {
      g = new Map();
      this.groups.set(group, g);
    }
    g.set(reason, (g.get(reason) ?? 0) + by);
  }

  snapshot(): CounterSnapshot<G> {
    const out = {} as CounterSnapshot<G>;
    for (const [g, reasons] of this.groups) out[g] = Object.fromEntries(reasons);
    return out;
  }
}
