import { describe, expect, it } from 'vitest';
import { bindConflicts, bindsOverlap } from '../../../src/config/binds.js';

const hp = (host: string, port: number) => ({ host, port });

describe('bindsOverlap', () => {
  it.each([
    [hp('0.0.0.0', 5432), hp('0.0.0.0', 5432), true],
    [hp('0.0.0.0', 5432), hp('10.0.0.1', 5432), true],
    [hp('10.0.0.1', 5432), hp('0.0.0.0', 5432), true],
    [hp('::', 5432), hp('127.0.0.1', 5432), true],
    [hp('::1', 5432), hp('::1', 5432), true],
    [hp('10.0.0.1', 5432), hp('10.0.0.2', 5432), false],
    [hp('0.0.0.0', 5432), hp('0.0.0.0', 5433), false],
    [hp('127.0.0.1', 5432), hp('::1', 5432), false],
  ])('%j and %j overlap: %s', (a, b, expected) => {
    expect(bindsOverlap(a, b)).toBe(expected);
  });
});

describe('bindConflicts', () => {
  it('reports each later use against the first earlier use it overlaps, once', () => {
    expect(
      bindConflicts([
        { path: ['listeners', 0, 'bind'], owner: 'listeners[0]', bind: hp('10.0.0.1', 5432) },
        { path: ['listeners', 1, 'bind'], owner: 'listeners[1]', bind: hp('0.0.0.0', 5433) },
        { path: ['listeners', 2, 'bind'], owner: 'listeners[2]', bind: hp('0.0.0.0', 5432) },
        { path: ['http', 'bind'], owner: 'http.bind', bind: hp('10.0.0.1', 5432) },
      ]),
    ).toEqual([
      { path: ['listeners', 2, 'bind'], message: 'address 0.0.0.0:5432 conflicts with listeners[0] on 10.0.0.1:5432' },
      { path: ['http', 'bind'], message: 'address 10.0.0.1:5432 is already used by listeners[0]' },
    ]);
  });

  it('finds nothing when every port is distinct', () => {
    expect(bindConflicts([
      { path: ['a'], owner: 'a', bind: hp('0.0.0.0', 1) },
      { path: ['b'], owner: 'b', bind: hp('0.0.0.0', 2) },
    ])).toEqual([]);
  });
});
