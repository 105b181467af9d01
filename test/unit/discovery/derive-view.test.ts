import { describe, expect, it } from 'vitest';
import { initialCheck, type CheckRecord } from '../../../src/discovery/check-state.js';
import { deriveView, type MemberChecks } from '../../../src/discovery/derive-view.js';
import type { ClusterView, MemberView } from '../../../src/view/cluster-view.js';
import {
  INTERVAL,
  STALE_AFTER,
  T0,
  checks,
  etcdInput,
  history,
  input,
  keysOf,
  memberJson,
  streak,
} from './fixtures.js';

const primaryUp = history(streak(true, 3, T0 - 1_000));
const primaryDown = history(streak(false, 3, T0 - 1_000));
const replicaUp = history(streak(true, 3, T0 - 1_000));

/** node1 leads (Patroni 3.x "master"), node2 and node3 replicate. */
function steadyKeys(over: Record<string, string> = {}): Map<string, string> {
  return keysOf({
    leader: 'node1',
    'members/node1': memberJson(1, { role: 'master', xlog_location: 50_000_000 }),
    'members/node2': memberJson(2),
    'members/node3': memberJson(3),
    status: JSON.stringify({ optime: 50_000_000 }),
    ...over,
  });
}

function steadyChecks(over: Record<string, MemberChecks> = {}): Map<string, MemberChecks> {
  return new Map(
    Object.entries({
      node1: checks(primaryUp, { any: history(streak(false, 3, T0 - 1_000)) }),
      node2: checks(primaryDown, { any: replicaUp }),
      node3: checks(primaryDown, { any: replicaUp }),
      ...over,
    }),
  );
}

function member(view: ClusterView, name: string): MemberView {
  const m = view.members.find((x) => x.name === name);
  if (!m) throw new Error(`${name} not in view (have ${view.members.map((x) => x.name).join(', ')})`);
  return m;
}

describe('deriveView in etcd mode', () => {
  it('names the leader-key holder confirmed by /primary (Patroni 3.x role "master")', () => {
    const v = deriveView(input({ etcd: etcdInput(steadyKeys()), checks: steadyChecks() }));
    expect(v.primary).toBe('node1');
    expect(v.leader_key).toBe('node1');
    expect(v.primary_reason).toBe('leader key node1 confirmed by /primary');
    expect(member(v, 'node1')).toMatchObject({ role: 'primary', leader_key: true, host: '127.0.0.1', port: 5442, api: 'http://127.0.0.1:8008' });
    expect(member(v, 'node2')).toMatchObject({ role: 'replica', leader_key: false, in_dcs: true });
    expect(member(v, 'node2').replica_checks.any?.up).toBe(true);
    expect(v.members.map((m) => m.name)).toEqual(['node1', 'node2', 'node3']);
    expect(v.generation).toBe(7);
    expect(v.at).toBe(T0);
    expect(Object.isFrozen(v) && Object.isFrozen(v.members) && Object.isFrozen(v.members[0])).toBe(true);
    expect(JSON.parse(JSON.stringify(v))).toEqual(v);
  });

  it('reads Patroni 4.x role "primary" the same way', () => {
    const keys = steadyKeys({ 'members/node1': memberJson(1, { role: 'primary' }) });
    const v = deriveView(input({ etcd: etcdInput(keys), checks: steadyChecks() }));
    expect(v.primary).toBe('node1');
    expect(member(v, 'node1').role).toBe('primary');
  });

  it('has no primary when the leader key is missing, even if a member still answers /primary', () => {
    const keys = steadyKeys();
    keys.delete('leader');
    const v = deriveView(input({ etcd: etcdInput(keys, { leaderSince: T0 - 500 }), checks: steadyChecks() }));
    expect(v.primary).toBeNull();
    expect(v.leader_key).toBeNull();
    expect(v.primary_reason).toMatch(/^no leader key/);
    expect(v.primary_reason).toContain('ignoring node1: answers /primary without the leader key');
  });

  it('follows a failover: old leader key expires, new holder confirmed by its first probe after the key', () => {
    // 1. node1 crashed: its lease expired, etcd deleted `leader` and `members/node1`.
    const expired = steadyKeys();
    expired.delete('leader');
    expired.delete('members/node1');
    const crashed = steadyChecks({ node1: checks(history(streak(false, 1, T0 - 200, INTERVAL, { status: null, error: 'ECONNREFUSED' }), primaryUp)) });
    const gone = deriveView(input({ etcd: etcdInput(expired, { leaderSince: T0 - 300 }), checks: crashed }));
    expect(gone.primary).toBeNull();
    expect(gone.primary_reason).toBe('no leader key');
    expect(gone.members.map((m) => m.name)).toEqual(['node2', 'node3']);

    // 2. node2 wins the race and writes the leader key at T0+100; no probe since then.
    const taken = keysOf(Object.fromEntries([...expired, ['leader', 'node2']]));
    const before = deriveView(input({ etcd: etcdInput(taken, { leaderSince: T0 + 100 }), checks: crashed, now: T0 + 150 }));
    expect(before.primary).toBeNull();
    expect(before.leader_key).toBe('node2');
    expect(before.primary_reason).toMatch(/^leader key node2 not confirmed by \/primary yet/);

    // 3. One /primary 200 sent at T0+200 (after the key) confirms it, without waiting for rise=2.
    const probed = new Map(crashed);
    probed.set('node2', checks(history([{ ok: true, at: T0 + 200 }], primaryDown), { any: replicaUp }));
    const after = deriveView(input({ etcd: etcdInput(taken, { leaderSince: T0 + 100 }), checks: probed, now: T0 + 210 }));
    expect(after.primary).toBe('node2');
    expect(member(after, 'node2').primary_check.up).toBe(true);
  });

  it('does not count a /primary success sent before the holder took the key', () => {
    const keys = steadyKeys({ leader: 'node2' });
    // The probe went out at T0+90, the key was seen at T0+100 (e.g. a promote still running).
    const c = steadyChecks({ node2: checks(history([{ ok: true, at: T0 + 90 }], primaryDown)) });
    const v = deriveView(input({ etcd: etcdInput(keys, { leaderSince: T0 + 100 }), checks: c, now: T0 + 120 }));
    expect(v.primary).toBeNull();
    expect(v.primary_reason).toContain('leader key node2 not confirmed');
  });

  it('follows a switchover: the demoted holder drops at once, the new one only after its probe', () => {
    const moved = steadyKeys({
      leader: 'node2',
      'members/node1': memberJson(1, { role: 'demoted', state: 'stopping' }),
      'members/node2': memberJson(2, { role: 'replica' }),
    });
    // node1 still answered /primary 200 a moment ago (rise/fall keeps it up through 2 failures).
    const c = steadyChecks({ node1: checks(primaryUp) });
    const v1 = deriveView(input({ etcd: etcdInput(moved, { leaderSince: T0 - 50 }), checks: c }));
    expect(v1.primary).toBeNull();
    expect(member(v1, 'node1').leader_key).toBe(false);
    expect(v1.primary_reason).toContain('ignoring node1');

    const c2 = new Map(c);
    c2.set('node2', checks(history([{ ok: true, at: T0 + 10 }], primaryDown)));
    const v2 = deriveView(input({ etcd: etcdInput(moved, { leaderSince: T0 - 50 }), checks: c2, now: T0 + 20 }));
    expect(v2.primary).toBe('node2');
    // members/node2 still says replica (Patroni rewrites it on its next loop): the probe wins.
    expect(v2.primary_reason).toBe('leader key node2 confirmed by /primary (members/node2 says role replica; the probe wins); ignoring node1: answers /primary without the leader key');
  });

  it('needs a fresh probe when the key comes back to a member whose old primary streak is still counted', () => {
    // node1 led, lost the key, and takes it back within fall × interval: rise/fall still says up.
    const keys = steadyKeys();
    const v = deriveView(input({ etcd: etcdInput(keys, { leaderSince: T0 - 100 }), checks: steadyChecks() }));
    expect(v.primary).toBeNull();
  });

  it('keeps a confirmed holder through fall-1 failed probes and drops it at the fall-th', () => {
    const twoFailures = history(streak(false, 2, T0 - 100), primaryUp);
    const v1 = deriveView(input({ etcd: etcdInput(steadyKeys()), checks: steadyChecks({ node1: checks(twoFailures) }) }));
    expect(v1.primary).toBe('node1');
    const threeFailures = history([{ ok: false, at: T0 - 50, status: null, error: 'timeout' }], twoFailures);
    const v2 = deriveView(input({ etcd: etcdInput(steadyKeys()), checks: steadyChecks({ node1: checks(threeFailures) }) }));
    expect(v2.primary).toBeNull();
    expect(v2.primary_reason).toBe('leader key node1 not confirmed by /primary yet (timeout)');
  });

  it('drops a member whose members/ key disappeared (lease expiry)', () => {
    const keys = steadyKeys();
    keys.delete('members/node3');
    const v = deriveView(input({ etcd: etcdInput(keys), checks: steadyChecks() }));
    expect(v.members.map((m) => m.name)).toEqual(['node1', 'node2']);
    expect(v.primary).toBe('node1');
  });

  it('marks a replica over the lag limit as down and lagging, with lag_bytes from the status optime', () => {
    const keys = steadyKeys({
      'members/node3': memberJson(3, { xlog_location: 40_000_000 }),
      status: JSON.stringify({ optime: 52_000_000, slots: {} }),
    });
    const lagging = history(streak(false, 3, T0 - 1_000, INTERVAL, { error: 'over lag limit', lagging: true }), replicaUp);
    const c = steadyChecks({ node3: checks(primaryDown, { any: replicaUp, '1048576': lagging }) });
    const v = deriveView(input({ etcd: etcdInput(keys), checks: c, replicaKeys: ['any', '1048576'] }));
    const node3 = member(v, 'node3');
    expect(node3.replica_checks['1048576']).toMatchObject({ up: false, lagging: true, error: 'over lag limit' });
    expect(node3.replica_checks.any).toMatchObject({ up: true, lagging: false });
    expect(node3.lag_bytes).toBe(12_000_000);
    expect(member(v, 'node2').lag_bytes).toBe(2_000_000);
    // A member that was never probed for a key still gets it, down, with no result yet.
    expect(member(v, 'node1').replica_checks['1048576']).toMatchObject({ up: false, lastOk: null });
  });

  it('computes lag from the leader member xlog_location when there is no status key (3.0.2 before its first write)', () => {
    const keys = steadyKeys({ 'members/node2': memberJson(2, { xlog_location: 49_000_000 }) });
    keys.delete('status');
    const v = deriveView(input({ etcd: etcdInput(keys), checks: steadyChecks() }));
    expect(member(v, 'node2').lag_bytes).toBe(1_000_000);
    expect(member(v, 'node1').lag_bytes).toBe(0);
  });

  it('keeps a member tagged noloadbalance in the view, flagged', () => {
    const keys = steadyKeys({ 'members/node3': memberJson(3, { tags: { noloadbalance: true, nofailover: true } }) });
    const v = deriveView(input({ etcd: etcdInput(keys), checks: steadyChecks() }));
    expect(member(v, 'node3')).toMatchObject({ noloadbalance: true, tags: { noloadbalance: true, nofailover: true } });
    expect(member(v, 'node2').noloadbalance).toBe(false);
  });

  it('treats stale probe results as down', () => {
    const old = history(streak(true, 3, T0 - STALE_AFTER - 10));
    const c = steadyChecks({ node1: checks(old), node2: checks(primaryDown, { any: old }) });
    const v = deriveView(input({ etcd: etcdInput(steadyKeys()), checks: c }));
    expect(v.primary).toBeNull();
    expect(v.primary_reason).toBe('leader key node1 not confirmed by /primary yet (probe stale)');
    expect(member(v, 'node1').primary_check).toMatchObject({ up: false, stale: true, error: 'stale', lastOk: true });
    expect(member(v, 'node2').replica_checks.any).toMatchObject({ up: false, stale: true });
  });

  it('never names a member without the leader key, even when it answers /primary (split brain)', () => {
    const c = steadyChecks({ node3: checks(primaryUp) });
    const v = deriveView(input({ etcd: etcdInput(steadyKeys()), checks: c }));
    expect(v.primary).toBe('node1');
    expect(v.primary_reason).toBe('leader key node1 confirmed by /primary; ignoring node3: answers /primary without the leader key');
    const unconfirmed = steadyChecks({ node1: checks(primaryDown), node3: checks(primaryUp) });
    const v2 = deriveView(input({ etcd: etcdInput(steadyKeys()), checks: unconfirmed }));
    expect(v2.primary).toBeNull();
    expect(member(v2, 'node3').primary_check.up).toBe(true);
  });

  it('ignores a member with garbage JSON, and fails closed when that member holds the key', () => {
    const keys = steadyKeys({ 'members/node2': '{"conn_url": "postgres://127.0.0.1:5443/postgres", ' });
    const v = deriveView(input({ etcd: etcdInput(keys), checks: steadyChecks() }));
    expect(v.members.map((m) => m.name)).toEqual(['node1', 'node3']);
    expect(v.primary).toBe('node1');

    const v2 = deriveView(input({ etcd: etcdInput(keysOf(Object.fromEntries([...keys, ['leader', 'node2']]))), checks: steadyChecks() }));
    expect(v2.primary).toBeNull();
    expect(v2.primary_reason).toMatch(/^leader key node2 but members\/node2 unusable: invalid JSON/);
  });

  it('ignores members without a usable conn_url and keys that are not members', () => {
    const keys = steadyKeys({
      'members/node3': JSON.stringify({ api_url: 'http://127.0.0.1:8010/patroni', role: 'replica' }),
      'members/a/b': memberJson(4),
      config: '{"ttl": 30}',
      failover: '',
    });
    const v = deriveView(input({ etcd: etcdInput(keys), checks: steadyChecks() }));
    expect(v.members.map((m) => m.name)).toEqual(['node1', 'node2']);
  });

  it('fails closed when the holder published no api_url to confirm it', () => {
    const keys = steadyKeys({ 'members/node1': memberJson(1, { role: 'master', api_url: undefined }) });
    const v = deriveView(input({ etcd: etcdInput(keys), checks: steadyChecks() }));
    expect(v.primary).toBeNull();
    expect(v.primary_reason).toBe('leader key node1 has no api_url to confirm it');
    expect(member(v, 'node1').api).toBeNull();
  });
});

describe('deriveView while etcd is unreachable', () => {
  const lost = (keys = steadyKeys()) => etcdInput(keys, { connected: false, error: 'range read failed: 14 UNAVAILABLE' });

  it('follows the probes with on_etcd_loss follow_probes: the single member up on /primary', () => {
    const v = deriveView(input({ etcd: lost(), checks: steadyChecks() }));
    expect(v.primary).toBe('node1');
    expect(v.leader_key).toBeNull();
    expect(member(v, 'node1').leader_key).toBe(false);
    expect(v.etcd).toEqual({ connected: false, last_resync_at: T0 - 10_000, revision: '42', error: 'range read failed: 14 UNAVAILABLE' });
    expect(v.primary_reason).toBe('etcd unreachable (range read failed: 14 UNAVAILABLE); following probes: node1 is the only member up on /primary');
    expect(v.members).toHaveLength(3);
  });

  it('keeps the last holder confirmed by the fast path when etcd drops right after', () => {
    const c = steadyChecks({ node1: checks(history([{ ok: true, at: T0 - 100 }])) });
    const v = deriveView(input({ etcd: lost(), checks: c }));
    expect(v.primary).toBe('node1');
  });

  it('refuses to guess when several or no members are up on /primary', () => {
    const two = deriveView(input({ etcd: lost(), checks: steadyChecks({ node3: checks(primaryUp) }) }));
    expect(two.primary).toBeNull();
    expect(two.primary_reason).toContain('node1, node3 are all up on /primary, refusing to guess');
    const none = deriveView(input({ etcd: lost(), checks: steadyChecks({ node1: checks(primaryDown) }) }));
    expect(none.primary).toBeNull();
    expect(none.primary_reason).toContain('no member up on /primary');
  });

  it('has no primary with on_etcd_loss fail_closed', () => {
    const v = deriveView(input({ etcd: lost(), checks: steadyChecks(), onEtcdLoss: 'fail_closed' }));
    expect(v.primary).toBeNull();
    expect(v.primary_reason).toBe('etcd unreachable (range read failed: 14 UNAVAILABLE); on_etcd_loss is fail_closed');
  });

  it('has no members and no primary before the first read succeeded', () => {
    const v = deriveView(input({ etcd: etcdInput(new Map(), { connected: false, error: 'connecting', revision: null, lastResyncAt: null }) }));
    expect(v.members).toEqual([]);
    expect(v.primary).toBeNull();
  });
});

describe('deriveView in static mode', () => {
  const members = [
    { name: 'b', host: '10.0.0.2', port: 5432, api: 'http://10.0.0.2:8008' },
    { name: 'a', host: '10.0.0.1', port: 5432, api: 'http://10.0.0.1:8008' },
  ];
  const staticInput = (c: Record<string, CheckRecord>) =>
    input({ mode: 'static', staticMembers: members, checks: new Map(Object.entries(c).map(([n, r]) => [n, checks(r)])) });

  it('lets the probes alone decide, with rise: one success is not enough', () => {
    const once = history([{ ok: true, at: T0 - 10, role: 'master' }]);
    const v1 = deriveView(staticInput({ a: once, b: history(streak(false, 3, T0 - 10, INTERVAL, { role: 'replica' })) }));
    expect(v1.primary).toBeNull();
    expect(v1.etcd).toBeNull();
    expect(v1.leader_key).toBeNull();
    const twice = history([{ ok: true, at: T0 - 5, role: 'master' }], once);
    const v2 = deriveView(staticInput({ a: twice, b: history(streak(false, 3, T0 - 10, INTERVAL, { role: 'replica' })) }));
    expect(v2.primary).toBe('a');
    expect(v2.primary_reason).toBe('static members: a is the only member up on /primary');
    expect(v2.members.map((m) => [m.name, m.role, m.in_dcs])).toEqual([
      ['a', 'primary', false],
      ['b', 'replica', false],
    ]);
  });

  it('refuses two members up on /primary, and reports unprobed members as unknown', () => {
    const v = deriveView(staticInput({ a: primaryUp, b: primaryUp }));
    expect(v.primary).toBeNull();
    const v2 = deriveView(staticInput({ a: initialCheck }));
    expect(v2.members.map((m) => m.role)).toEqual(['unknown', 'unknown']);
  });
});
