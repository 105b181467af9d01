import { describe, expect, it } from 'vitest';
import { didYouMean, validateRaw } from '../../../src/config/validate.js';

describe('validateRaw', () => {
  it('accepts a valid raw config untouched', () => {
    const raw = { cluster: { scope: 'pg', etcd: { hosts: ['a:1'] } } };
    expect(validateRaw(raw)).toEqual({ issues: [], pruned: raw });
  });

  it('prunes bad values and unknown keys so the rest can still be checked, without touching the input', () => {
    const raw = { cluster: { scope: 7, etcd: { hosts: ['a:1'] } }, timeouts: { conect: '1s', connect: '2s' } };
    const before = structuredClone(raw);
    const r = validateRaw(raw);
    expect(r.issues).toEqual([
      { path: ['cluster', 'scope'], message: 'expected a string, got 7' },
      { path: ['timeouts', 'conect'], message: 'unknown key (did you mean "connect"?)' },
    ]);
    expect(r.pruned).toEqual({ cluster: { scope: undefined, etcd: { hosts: ['a:1'] } }, timeouts: { connect: '2s' } });
    expect(Object.hasOwn((r.pruned as { cluster: object }).cluster, 'scope')).toBe(true);
    expect(raw).toEqual(before);
  });

  it('keeps list indexes when a whole list item is bad', () => {
    const r = validateRaw({ cluster: { scope: 'pg', members: ['n1', { name: 'n2', host: 'h' }] } });
    expect(r.issues).toEqual([{ path: ['cluster', 'members', 0], message: 'expected a map of keys, got "n1"' }]);
    expect((r.pruned as { cluster: { members: unknown[] } }).cluster.members).toEqual([undefined, { name: 'n2', host: 'h' }]);
  });
});

describe('didYouMean', () => {
  it.each([
    ['conect', ['connect', 'client'], 'connect'],
    ['intervall', ['interval', 'timeout'], 'interval'],
    ['Scope', ['scope', 'namespace'], 'scope'],
    ['member', ['members', 'etcd'], 'members'],
    ['zzz', ['scope', 'namespace'], null],
    ['rize', ['fall', 'rise'], 'rise'],
  ])('suggests for %j among %j: %j', (word, candidates, expected) => {
    expect(didYouMean(word, candidates)).toBe(expected);
  });
});
