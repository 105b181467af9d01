import { describe, expect, it } from 'vitest';
import { cancelTargets, eligibleBackends } from '../../../src/routing/eligible.js';
import { listenerConfig } from '../proxy/helpers/config.js';
import { check, member, view } from '../proxy/helpers/view.js';

const rw = listenerConfig({ name: 'rw', role: 'primary' });
const ro = listenerConfig({ name: 'ro', role: 'replica' });
const roFallback = listenerConfig({ name: 'ro', role: 'replica', fallback: 'primary' });
const roLag = listenerConfig({ name: 'ro1mb', role: 'replica', max_lag: 1_048_576 });

const names = (ms: readonly { name: string }[]): string[] => ms.map((m) => m.name);

describe('eligibleBackends', () => {
  const three = view(1, [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3' })], 'n1');

  it.each([
    ['the confirmed primary for a primary listener', rw, three, ['n1'], false],
    ['nobody for a primary listener when no primary is confirmed', rw, view(1, [member({ name: 'n1' })], null), [], false],
    ['nobody when view.primary names a member missing from the view', rw, view(1, [member({ name: 'n2' })], 'n9'), [], false],
    ['the fit replicas, never the primary, for a replica listener', ro, three, ['n2', 'n3'], false],
    ['nobody for a replica listener without fit replicas and fallback none', ro, view(1, [member({ name: 'n1' })], 'n1'), [], false],
    ['the primary as fallback when no replica is fit and fallback is primary', roFallback, view(1, [member({ name: 'n1' }), member({ name: 'n2', replica: { any: check(false) } })], 'n1'), ['n1'], true],
    ['the replicas, not the fallback, while a replica is fit', roFallback, three, ['n2', 'n3'], false],
  ] as const)('gives %s', (_what, listener, v, expected, fallback) => {
    const e = eligibleBackends(v, listener);
    expect(names(e.members)).toEqual(expected);
    expect(e.usingFallback).toBe(fallback);
  });

  it('skips replicas tagged noloadbalance and replicas whose check is down', () => {
    const v = view(1, [member({ name: 'n1' }), member({ name: 'n2', noloadbalance: true }), member({ name: 'n3', replica: { any: check(false) } }), member({ name: 'n4' })], 'n1');
    expect(names(eligibleBackends(v, ro).members)).toEqual(['n4']);
  });

  it('uses the replica check of the listener lag limit', () => {
    const v = view(1, [member({ name: 'n2', replica: { any: check(true), '1048576': check(false, { lagging: true }) } }), member({ name: 'n3', replica: { any: check(true), '1048576': check(true) } })], null);
    expect(names(eligibleBackends(v, ro).members)).toEqual(['n2', 'n3']);
    expect(names(eligibleBackends(v, roLag).members)).toEqual(['n3']);
  });

  it('keeps members in drain or maint from new sessions', () => {
    expect(names(eligibleBackends(three, ro, { n2: 'drain' }).members)).toEqual(['n3']);
    expect(names(eligibleBackends(three, ro, { n2: 'ready', n3: 'maint' }).members)).toEqual(['n2']);
    expect(eligibleBackends(three, rw, { n1: 'maint' }).members).toEqual([]);
  });
});

describe('cancelTargets', () => {
  const v = view(
    1,
    [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3', replica: { any: check(false, { lagging: true }) } }), member({ name: 'n4', replica: { any: check(false) } })],
    'n1',
  );

  it('is the primary alone for a primary listener', () => {
    expect(names(cancelTargets(v, rw))).toEqual(['n1']);
  });

  it('covers fit replicas, drained lagging replicas and the fallback primary for a replica listener', () => {
    expect(names(cancelTargets(v, ro))).toEqual(['n2']);
    expect(names(cancelTargets(v, listenerConfig({ name: 'ro', role: 'replica', on_lag: 'drain' })))).toEqual(['n2', 'n3']);
    expect(names(cancelTargets(v, roFallback))).toEqual(['n2', 'n1']);
  });

  it('covers every member when sessions are kept on marked-down backends', () => {
    expect(names(cancelTargets(v, listenerConfig({ name: 'rw', role: 'primary', on_marked_down: 'keep' })))).toEqual(['n2', 'n3', 'n4', 'n1']);
    // The primary too: a replica promoted under a kept read-only session still holds it.
    expect(names(cancelTargets(v, listenerConfig({ name: 'ro', role: 'replica', on_marked_down: 'keep' })))).toEqual(['n2', 'n3', 'n4', 'n1']);
  });
});
