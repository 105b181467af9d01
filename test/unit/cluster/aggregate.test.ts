import { describe, expect, it } from 'vitest';
import { mergeTraffic, retiredTraffic, sumTrees } from '../../../src/cluster/aggregate.js';
import type { ListenerTraffic } from '../../../src/sessions/types.js';

function traffic(current: number, total: number, backends: ListenerTraffic['backends'] = {}): ListenerTraffic {
  return { current, total, queued: 1, held: 0, bytes_in: 10 * total, bytes_out: 100 * total, refusals: { no_backend: total }, closed: { client_closed: total }, backends };
}
const backend = (current: number, total: number, killed: Record<string, number> = {}) => ({ current, max: current + 1, total, bytes_in: total, bytes_out: total, connect_errors: 0, killed });

describe('merging worker reports', () => {
  it('sums every listener and backend counter over the workers', () => {
    const w1 = { rw: traffic(1, 3, { n1: backend(1, 3, { not_primary: 1 }) }) };
    const w2 = { rw: traffic(2, 5, { n1: backend(2, 5) }), ro: traffic(0, 1, { n2: backend(0, 1) }) };
    const merged = mergeTraffic([w1, w2]);
    expect(merged['rw']).toEqual({
      current: 3,
      total: 8,
      queued: 2,
      held: 0,
      bytes_in: 80,
      bytes_out: 800,
      refusals: { no_backend: 8 },
      closed: { client_closed: 8 },
      backends: { n1: { current: 3, max: 5, total: 8, bytes_in: 8, bytes_out: 8, connect_errors: 0, killed: { not_primary: 1 } } },
    });
    expect(merged['ro']?.total).toBe(1);
  });

  it('keeps an exited worker\'s totals but none of its gauges', () => {
    const last = { rw: traffic(4, 9, { n1: backend(4, 9, { admin: 2 }) }) };
    const retired = retiredTraffic(last);
    expect(retired['rw']).toMatchObject({ current: 0, queued: 0, held: 0, total: 9, bytes_in: 90, refusals: { no_backend: 9 }, closed: { client_closed: 9 } });
    expect(retired['rw']?.backends['n1']).toEqual({ current: 0, max: 0, total: 9, bytes_in: 9, bytes_out: 9, connect_errors: 0, killed: { admin: 2 } });
    const after = mergeTraffic([retired, { rw: traffic(1, 1, { n1: backend(1, 1) }) }]);
    expect(after['rw']?.total).toBe(10);
    expect(after['rw']?.current).toBe(1);
  });

  it('sums trees of numbers without changing its inputs', () => {
    const a: { x: number; y: Record<string, number> } = { x: 1, y: { z: 2 } };
    expect(sumTrees(a, { x: 1, y: { z: 3, w: 1 } })).toEqual({ x: 2, y: { z: 5, w: 1 } });
    expect(a).toEqual({ x: 1, y: { z: 2 } });
  });
});
