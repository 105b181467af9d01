import { describe, expect, it } from 'vitest';
import { pick, type Load } from '../../../src/routing/pick.js';
import { member } from '../proxy/helpers/view.js';

const [a, b, c] = [member({ name: 'a' }), member({ name: 'b' }), member({ name: 'c' })];
const all = [a, b, c];
const load = (rrCounter: number, sessions: Record<string, number> = {}): Load => ({ rrCounter, sessions: (n) => sessions[n] ?? 0 });
const never = (): number => {
  throw new Error('rand must not be called');
};

describe('pick', () => {
  it('returns null without candidates, for every balance', () => {
    for (const balance of ['roundrobin', 'leastconn', 'random'] as const) expect(pick([], balance, load(0), () => 0)).toBeNull();
  });

  it.each([
    [0, 'a'],
    [1, 'b'],
    [2, 'c'],
    [3, 'a'],
    [-1, 'c'],
    [1e15 + 1, 'c'],
  ])('round robin with counter %s picks %s', (counter, expected) => {
    expect(pick(all, 'roundrobin', load(counter), never)?.name).toBe(expected);
  });

  it.each([
    [{ a: 3, b: 1, c: 2 }, 0, 'b'],
    [{ a: 1, b: 1, c: 2 }, 0, 'a'],
    [{ a: 1, b: 1, c: 2 }, 1, 'b'],
    [{ a: 1, b: 1, c: 2 }, 2, 'a'],
    [{}, 2, 'c'],
  ])('leastconn with sessions %j and counter %s picks %s (ties by round robin)', (sessions, counter, expected) => {
    expect(pick(all, 'leastconn', load(counter, sessions), never)?.name).toBe(expected);
  });

  it.each([
    [0, 'a'],
    [0.34, 'b'],
    [0.999999, 'c'],
    [1, 'c'],
    [-0.5, 'a'],
    [Number.NaN, 'a'],
  ])('random with rand() = %s picks %s', (r, expected) => {
    expect(pick(all, 'random', load(0), () => r)?.name).toBe(expected);
  });
});
