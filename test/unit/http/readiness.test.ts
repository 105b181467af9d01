import { describe, expect, it } from 'vitest';
import { listenerHealth, readiness } from '../../../src/http/readiness.js';
import { backend, listener, snapshot } from './fixtures.js';

const noPrimary = snapshot({
  primary: null,
  primary_reason: 'leader key node1 not confirmed by /primary',
  listeners: [
    listener('rw', 'primary', [backend('node1', { state: 'DOWN' })]),
    listener('ro', 'replica', [backend('node2'), backend('node3', { state: 'DOWN' })]),
  ],
});

const primaryOnly = snapshot({
  listeners: [
    listener('rw', 'primary', [backend('node1', { role: 'primary' })]),
    // The RO listener routes through its primary fallback: routable, but no replica is fit.
    listener('ro', 'replica', [backend('node1', { role: 'primary' }), backend('node2', { state: 'DRAIN' })], { can_route: true }),
  ],
});

const nothing = snapshot({
  primary: null,
  primary_reason: 'no leader key',
  listeners: [listener('rw', 'primary', [backend('node1', { state: 'DOWN' })]), listener('ro', 'replica', [backend('node2', { state: 'MAINT' })])],
});

describe('readiness', () => {
  it.each([
    ['primary', snapshot(), true, 'confirmed primary node1 (leader key node1 confirmed by /primary)'],
    ['primary', noPrimary, false, 'no confirmed primary (leader key node1 not confirmed by /primary)'],
    ['replica', snapshot(), true, 'fit replicas: node2, node3'],
    ['replica', noPrimary, true, 'fit replicas: node2'],
    ['replica', primaryOnly, false, 'no fit replica on ro'],
    ['any', noPrimary, true, 'listeners that can route: ro'],
    ['any', primaryOnly, true, 'listeners that can route: rw, ro'],
    ['any', nothing, false, 'no listener can route (rw, ro)'],
  ] as const)('with policy %s answers per the snapshot (%#)', (policy, s, ok, reason) => {
    expect(readiness(s, policy)).toEqual({ ok, reason });
  });

  it('is not ready on replicas when no replica listener exists', () => {
    const s = snapshot({ listeners: [listener('rw', 'primary', [backend('node1')])] });
    expect(readiness(s, 'replica')).toEqual({ ok: false, reason: 'no replica listener configured' });
  });
});

describe('listener health', () => {
  it('is ok exactly while the listener can route, naming its UP backends', () => {
    expect(listenerHealth(listener('rw', 'primary', [backend('node1'), backend('node2', { state: 'DOWN' })]))).toEqual({
      ok: true,
      reason: 'can route (up: node1)',
    });
    expect(listenerHealth(listener('rw', 'primary', [backend('node1', { state: 'DOWN' })]))).toEqual({
      ok: false,
      reason: 'no backend to route to on rw (primary)',
    });
  });
});

describe('listenerHealth of a paused listener (issue 13)', () => {
  it('answers 503 while paused, so a load balancer moves new flows to another router', () => {
    expect(listenerHealth(listener('rw', 'primary', [backend('node1')], { paused: { since: 1, hold_ms: 15_000 } }))).toEqual({
      ok: false,
      reason: 'listener rw is paused by the operator',
    });
  });
});
