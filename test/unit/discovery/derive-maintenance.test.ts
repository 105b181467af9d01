// deriveView and the maintenance keys (issue 13): the switchover intent and the synchronous
// standbys in the view, and the /sync and /read-only checks only where a listener needs them.
import { describe, expect, it } from 'vitest';
import { deriveView } from '../../../src/discovery/derive-view.js';
import { contentKey } from '../../../src/discovery/view-diff.js';
import { T0, checks, etcdInput, history, input, keysOf, memberJson, streak } from './fixtures.js';

const up = history(streak(true, 3, T0 - 1_000));
const down = history(streak(false, 3, T0 - 1_000));

function keys(over: Record<string, string> = {}): Map<string, string> {
  return keysOf({
    leader: 'node1',
    'members/node1': memberJson(1, { role: 'master' }),
    'members/node2': memberJson(2),
    'members/node3': memberJson(3),
    ...over,
  });
}

const steady = new Map([
  ['node1', checks(up)],
  ['node2', { ...checks(down, { any: up }), sync: new Map([['any', up]]), readOnly: new Map([['any', up]]) }],
  ['node3', { ...checks(down, { any: up }), sync: new Map([['any', down]]), readOnly: new Map([['any', up]]) }],
]);

describe('deriveView with maintenance keys', () => {
  it('publishes the failover key as the switchover intent, stamped with when discovery first saw it', () => {
    const v = deriveView(input({ etcd: etcdInput(keys({ failover: '{"leader":"node1","member":"node2"}' }), { failoverSince: T0 - 5 }), checks: steady }));
    expect(v.switchover).toEqual({ from: 'node1', to: 'node2', scheduled_at: null, announced_at: T0 - 5 });
    expect(v.primary).toBe('node1');
  });

  it('has no switchover for a cleared key, in static mode, or while etcd is unreachable (its keys may be stale)', () => {
    expect(deriveView(input({ etcd: etcdInput(keys({ failover: '{}' })), checks: steady })).switchover).toBeNull();
    expect(deriveView(input({ etcd: etcdInput(keys({ failover: '{"leader":"node1"}' }), { connected: false }), checks: steady })).switchover).toBeNull();
    expect(deriveView(input({ mode: 'static', staticMembers: [], checks: steady })).switchover).toBeNull();
  });

  it('marks the members the sync key names while synchronous_mode is on, never the leader', () => {
    const sync = { config: '{"synchronous_mode":true}', sync: '{"leader":"node1","sync_standby":"node1,node2"}' };
    const v = deriveView(input({ etcd: etcdInput(keys(sync)), checks: steady }));
    expect(v.members.map((m) => [m.name, m.sync_standby])).toEqual([
      ['node1', false],
      ['node2', true],
      ['node3', false],
    ]);
    const off = deriveView(input({ etcd: etcdInput(keys({ ...sync, config: '{"synchronous_mode":false}' })), checks: steady }));
    expect(off.members.every((m) => m.sync_standby === false)).toBe(true);
  });

  it('carries the /sync and /read-only checks only when some listener probes them', () => {
    const without = deriveView(input({ etcd: etcdInput(keys()), checks: steady }));
    expect(without.members.every((m) => m.sync_checks === undefined && m.read_only_checks === undefined)).toBe(true);
    const v = deriveView(input({ etcd: etcdInput(keys()), checks: steady, syncKeys: ['any'], readOnlyKeys: ['any'] }));
    const node2 = v.members.find((m) => m.name === 'node2');
    const node3 = v.members.find((m) => m.name === 'node3');
    expect([node2?.sync_checks?.any?.up, node3?.sync_checks?.any?.up, node3?.read_only_checks?.any?.up]).toEqual([true, false, true]);
    // A member never probed yet is down on them, like on /replica.
    expect(v.members.find((m) => m.name === 'node1')?.sync_checks?.any).toMatchObject({ up: false, lastOk: null });
  });

  it('makes a new intent and a new sync standby worth publishing', () => {
    const base = deriveView(input({ etcd: etcdInput(keys()), checks: steady }));
    const announced = deriveView(input({ etcd: etcdInput(keys({ failover: '{"leader":"node1"}' }), { failoverSince: T0 }), checks: steady }));
    const synced = deriveView(input({ etcd: etcdInput(keys({ sync: '{"leader":"node1","sync_standby":"node3"}' })), checks: steady }));
    expect(contentKey(announced)).not.toBe(contentKey(base));
    expect(contentKey(synced)).not.toBe(contentKey(base));
    expect(contentKey(deriveView(input({ etcd: etcdInput(keys()), checks: steady, now: T0 + 1 })))).toBe(contentKey(base));
  });
});
