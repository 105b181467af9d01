import { describe, expect, it } from 'vitest';
import { deriveView } from '../../../src/discovery/derive-view.js';
import { checkTransitions, sameContent } from '../../../src/discovery/view-diff.js';
import { T0, checks, etcdInput, history, input, keysOf, memberJson, streak } from './fixtures.js';

const keys = keysOf({ leader: 'node1', 'members/node1': memberJson(1, { role: 'master' }), 'members/node2': memberJson(2) });
const up = history(streak(true, 2, T0 - 100));
const down = history(streak(false, 3, T0 - 100));
const base = { node1: checks(up, { any: down }), node2: checks(down, { any: up }) };
const view = (over: Record<string, ReturnType<typeof checks>> = {}, k = keys, now = T0, revision = '1') =>
  deriveView(input({ etcd: etcdInput(k, { revision, lastResyncAt: now - 5 }), checks: new Map(Object.entries({ ...base, ...over })), now }));

describe('sameContent', () => {
  it('ignores generation, time, probe timestamps, revision and resync time', () => {
    const later = history([{ ok: true, at: T0 + 900 }], up);
    expect(sameContent(view(), view({ node1: checks(later, { any: down }) }, keys, T0 + 1000, '99'))).toBe(true);
  });

  it('sees a changed check, primary or member set', () => {
    expect(sameContent(view(), view({ node2: checks(down, { any: down }) }))).toBe(false);
    const k2 = new Map(keys);
    k2.delete('members/node2');
    expect(sameContent(view(), view({}, k2))).toBe(false);
  });
});

describe('checkTransitions', () => {
  it('lists checks that went up or down and members that came or went', () => {
    const k2 = new Map(keys);
    k2.delete('members/node2');
    k2.set('members/node3', memberJson(3));
    const t = checkTransitions(view(), view({ node1: checks(up, { any: up }) }, k2));
    expect(t).toEqual([
      { member: 'node2', check: 'member', up: false, reason: 'members/node2 removed from etcd (lease expired or member left)' },
      { member: 'node1', check: 'replica:any', up: true, reason: 'check passed' },
      { member: 'node3', check: 'member', up: true, reason: 'members/node3 appeared' },
    ]);
  });
});
