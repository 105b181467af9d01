// Switchover holding (issue 13): which view, at which time, keeps new RW sessions off the
// outgoing leader. Pure: views and `now` in, a decision out.
import { describe, expect, it } from 'vitest';
import type { ClusterView, SwitchoverIntent } from '../../../src/view/cluster-view.js';
import { SWITCHOVER_STALE_MS, switchoverDueSince, switchoverHold } from '../../../src/routing/switchover.js';
import { eligibleBackends } from '../../../src/routing/eligible.js';
import { listenerConfig } from '../proxy/helpers/config.js';
import { member, view } from '../proxy/helpers/view.js';

const T = 1_700_000_000_000;
const rw = listenerConfig({ name: 'rw', role: 'primary' });
const rwRoute = listenerConfig({ name: 'rw', role: 'primary', on_switchover: 'route' });
const ro = listenerConfig({ name: 'ro', role: 'replica', fallback: 'primary' });

function intent(over: Partial<SwitchoverIntent> = {}): SwitchoverIntent {
  return { from: 'n1', to: 'n2', scheduled_at: null, announced_at: T, ...over };
}

function withIntent(sw: SwitchoverIntent | null, primary: string | null = 'n1'): ClusterView {
  return { ...view(1, [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3' })], primary), mode: 'etcd', switchover: sw };
}

describe('switchoverHold', () => {
  it.each([
    ['holds new RW sessions off the leader as soon as an unscheduled switchover is announced', withIntent(intent()), T, { member: 'n1', since: T }],
    ['holds when the key names no leader: the current leader is the one leaving', withIntent(intent({ from: null })), T + 5, { member: 'n1', since: T }],
    ['holds for a switchover to any replica (no candidate named)', withIntent(intent({ to: null })), T, { member: 'n1', since: T }],
    ['does nothing without an intent', withIntent(null), T, null],
    ['does nothing for a view from before the switchover field existed', { ...withIntent(null), switchover: undefined }, T, null],
    ['does nothing while no primary is confirmed (the waiter holds anyway)', withIntent(intent(), null), T, null],
    ['does nothing when the key names another member as the leader (Patroni will drop it)', withIntent(intent({ from: 'n3' })), T, null],
    ['does nothing when the candidate already leads', withIntent(intent({ from: null, to: 'n1' })), T, null],
    ['does nothing for a scheduled switchover until its time', withIntent(intent({ scheduled_at: T + 60_000 })), T + 59_999, null],
    ['holds from the scheduled time on', withIntent(intent({ scheduled_at: T + 60_000 })), T + 60_000, { member: 'n1', since: T + 60_000 }],
    ['counts a key first seen after its time from when it was seen', withIntent(intent({ scheduled_at: T - 60_000 })), T + 1, { member: 'n1', since: T }],
    ['still holds just before the intent goes stale', withIntent(intent()), T + SWITCHOVER_STALE_MS, { member: 'n1', since: T }],
    ['lets a stale intent go: Patroni never acted on it', withIntent(intent()), T + SWITCHOVER_STALE_MS + 1, null],
  ] as const)('%s', (_what, v, now, expected) => {
    expect(switchoverHold(v, now)).toEqual(expected);
  });

  it('tells when an intent is due', () => {
    expect(switchoverDueSince(intent(), T - 1)).toBe(T);
    expect(switchoverDueSince(intent({ scheduled_at: T + 10 }), T + 9)).toBeNull();
    expect(switchoverDueSince(intent({ scheduled_at: T + 10 }), T + 10)).toBe(T + 10);
  });
});

describe('eligibleBackends during a switchover', () => {
  const names = (v: ClusterView, l = rw, now = T): string[] => eligibleBackends(v, l, {}, now).members.map((m) => m.name);

  it.each([
    ['gives a primary listener nobody while the switchover is due, so new clients are held', withIntent(intent()), rw, T, []],
    ['gives it the leader again when Patroni clears the key (abandoned switchover)', withIntent(null), rw, T, ['n1']],
    ['gives it the leader until a scheduled switchover is due', withIntent(intent({ scheduled_at: T + 1_000 })), rw, T, ['n1']],
    ['gives it the new leader once confirmed, even if the key is still there', withIntent(intent(), 'n2'), rw, T, ['n2']],
    ['leaves replica listeners alone: reads may still go to the leader as a fallback', withIntent(intent()), ro, T, ['n2', 'n3']],
    ['keeps routing to the outgoing leader with on_switchover: route, until its role changes', withIntent(intent()), rwRoute, T, ['n1']],
  ] as const)('%s', (_what, v, l, now, expected) => {
    expect(names(v, l, now)).toEqual(expected);
  });

  it('uses the view time when no clock is given', () => {
    const v = { ...withIntent(intent({ scheduled_at: T + 1_000 })), at: T + 1_000 };
    expect(eligibleBackends(v, rw).members).toEqual([]);
  });
});
