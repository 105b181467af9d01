// The sync and read_only roles (issue 13), mapped to Patroni's /sync and /read-only: who takes
// new sessions, and which sessions a new view condemns. Tables over hand-made views.
import { describe, expect, it } from 'vitest';
import type { CheckStatus, ClusterView, MemberView } from '../../../src/view/cluster-view.js';
import { cancelTargets, eligibleBackends } from '../../../src/routing/eligible.js';
import { sessionVerdict } from '../../../src/routing/kill.js';
import { listenerConfig } from '../proxy/helpers/config.js';
import { check, member, view } from '../proxy/helpers/view.js';

const sync = listenerConfig({ name: 'sync', role: 'sync', fallback: 'primary' });
const syncNone = listenerConfig({ name: 'sync', role: 'sync', fallback: 'none' });
const syncLag = listenerConfig({ name: 'sync', role: 'sync', fallback: 'none', max_lag: 1_048_576 });
const syncDrain = listenerConfig({ name: 'sync', role: 'sync', fallback: 'none', on_lag: 'drain', max_lag: 1_048_576 });
const readOnly = listenerConfig({ name: 'ro_all', role: 'read_only', fallback: 'none' });
const readOnlyLag = listenerConfig({ name: 'ro_all', role: 'read_only', fallback: 'none', max_lag: 1_048_576 });

interface Spec {
  name: string;
  syncStandby?: boolean;
  sync?: Record<string, CheckStatus>;
  readOnly?: Record<string, CheckStatus>;
  noloadbalance?: boolean;
}

function m(s: Spec): MemberView {
  return {
    ...member({ name: s.name, noloadbalance: s.noloadbalance ?? false }),
    sync_standby: s.syncStandby ?? false,
    sync_checks: s.sync ?? { any: check(s.syncStandby ?? false), '1048576': check(s.syncStandby ?? false) },
    read_only_checks: s.readOnly ?? { any: check(true), '1048576': check(true) },
  };
}

function etcdView(members: MemberView[], primary: string | null = 'n1'): ClusterView {
  return { ...view(1, members, primary), mode: 'etcd' };
}

const names = (ms: readonly { name: string }[]): string[] => ms.map((x) => x.name);

describe('eligibleBackends for a sync listener', () => {
  it.each([
    ['the synchronous standby only', sync, etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true }), m({ name: 'n3' })]), ['n2'], false],
    ['every synchronous standby (synchronous_node_count > 1)', sync, etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true }), m({ name: 'n3', syncStandby: true })]), ['n2', 'n3'], false],
    ['the primary as fallback while there is no synchronous standby', sync, etcdView([m({ name: 'n1' }), m({ name: 'n2' })]), ['n1'], true],
    ['nobody without a standby and fallback none: clients are held', syncNone, etcdView([m({ name: 'n1' }), m({ name: 'n2' })]), [], false],
    [
      'not a member whose /sync answers 200 while the sync key no longer names it (the key moved first)',
      syncNone,
      etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: false, sync: { any: check(true) } })]),
      [],
      false,
    ],
    [
      'not a standby named in the key whose /sync check is down',
      syncNone,
      etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true, sync: { any: check(false) } })]),
      [],
      false,
    ],
    ['not a standby tagged noloadbalance', syncNone, etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true, noloadbalance: true })]), [], false],
    [
      'the /sync check of its own lag limit',
      syncLag,
      etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true, sync: { any: check(true), '1048576': check(false, { lagging: true }) } })]),
      [],
      false,
    ],
    [
      'in static mode, the /sync check alone (no sync key to read)',
      syncNone,
      { ...view(1, [m({ name: 'n1' }), m({ name: 'n2', syncStandby: false, sync: { any: check(true) } })], 'n1'), mode: 'static' as const },
      ['n2'],
      false,
    ],
  ] as const)('gives %s', (_what, listener, v, expected, fallback) => {
    const e = eligibleBackends(v, listener);
    expect(names(e.members)).toEqual(expected);
    expect(e.usingFallback).toBe(fallback);
  });

  it('keeps members in drain or maint from new sessions, as on every listener', () => {
    const v = etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true }), m({ name: 'n3', syncStandby: true })]);
    expect(names(eligibleBackends(v, sync, { n2: 'drain' }).members)).toEqual(['n3']);
  });
});

describe('eligibleBackends for a read_only listener', () => {
  it.each([
    ['the leader and every replica serving reads', readOnly, etcdView([m({ name: 'n1' }), m({ name: 'n2' }), m({ name: 'n3' })]), ['n1', 'n2', 'n3']],
    ['the leader even when tagged noloadbalance (Patroni ignores tags for the leader)', readOnly, etcdView([m({ name: 'n1', noloadbalance: true }), m({ name: 'n2' })]), ['n1', 'n2']],
    ['no replica tagged noloadbalance', readOnly, etcdView([m({ name: 'n1' }), m({ name: 'n2', noloadbalance: true })]), ['n1']],
    ['no replica over its lag limit', readOnlyLag, etcdView([m({ name: 'n1' }), m({ name: 'n2', readOnly: { '1048576': check(false, { lagging: true }) } })]), ['n1']],
    ['the replicas alone while no primary is confirmed', readOnly, etcdView([m({ name: 'n1', readOnly: { any: check(false) } }), m({ name: 'n2' })], null), ['n2']],
  ] as const)('gives %s', (_what, listener, v, expected) => {
    expect(names(eligibleBackends(v, listener).members)).toEqual(expected);
  });

  it('sends cancels to the leader too', () => {
    expect(names(cancelTargets(etcdView([m({ name: 'n1' }), m({ name: 'n2' })]), readOnly))).toEqual(['n2', 'n1']);
  });
});

describe('sessionVerdict for the new roles', () => {
  it.each([
    ['keeps a session on a synchronous standby', sync, etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true })]), 'n2', false, null],
    ['closes a session whose member is no longer a synchronous standby', sync, etcdView([m({ name: 'n1' }), m({ name: 'n2' })]), 'n2', false, 'not_sync'],
    ['closes a session on a standby whose /sync check went down', sync, etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true, sync: { any: check(false) } })]), 'n2', false, 'marked_down'],
    [
      'keeps a lagging standby\'s session with on_lag: drain',
      syncDrain,
      etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true, sync: { '1048576': check(false, { lagging: true }) } })]),
      'n2',
      false,
      null,
    ],
    ['closes a session on a standby that was promoted', sync, etcdView([m({ name: 'n1' }), m({ name: 'n2', syncStandby: true })], 'n2'), 'n2', false, 'marked_down'],
    ['keeps a fallback session on the primary', sync, etcdView([m({ name: 'n1' }), m({ name: 'n2' })]), 'n1', true, null],
    ['closes a fallback session when that member is no longer the primary', sync, etcdView([m({ name: 'n1' }), m({ name: 'n2' })], 'n2'), 'n1', true, 'not_primary'],
    ['keeps a read_only session on the primary', readOnly, etcdView([m({ name: 'n1' }), m({ name: 'n2' })]), 'n1', false, null],
    ['keeps a read_only session on a replica that was promoted (it still serves reads)', readOnly, etcdView([m({ name: 'n1' }), m({ name: 'n2' })], 'n2'), 'n2', false, null],
    ['closes a read_only session whose replica check went down', readOnly, etcdView([m({ name: 'n1' }), m({ name: 'n2', readOnly: { any: check(false) } })]), 'n2', false, 'marked_down'],
  ] as const)('%s', (_what, listener, v, backend, viaFallback, expected) => {
    expect(sessionVerdict(v, listener, { backend, viaFallback })).toBe(expected);
  });

  it('never closes anything with on_marked_down: keep, the sync standby moving on included', () => {
    const keep = listenerConfig({ name: 'sync', role: 'sync', on_marked_down: 'keep' });
    expect(sessionVerdict(etcdView([m({ name: 'n1' }), m({ name: 'n2' })]), keep, { backend: 'n2' })).toBeNull();
  });
});
