import { describe, expect, it } from 'vitest';
import { interpretProbe } from '../../../src/discovery/probe-response.js';

// Bodies as Patroni 3.0.2 answers them (patroni/api.py get_postgresql_status).
const primaryBody = JSON.stringify({ state: 'running', role: 'master', server_version: 150010, xlog: { location: 67108960 }, timeline: 1 });
const promotingBody = JSON.stringify({ state: 'running', role: 'replica', xlog: { received_location: 1, replayed_location: 1 } });
const replicaBody = JSON.stringify({ state: 'running', role: 'replica', xlog: { received_location: 1, replayed_location: 1 }, timeline: 1 });
const nlbBody = JSON.stringify({ state: 'running', role: 'replica', tags: { noloadbalance: true } });
const stoppedBody = JSON.stringify({ state: 'stopped', role: 'master' });

describe('interpretProbe /primary', () => {
  it.each([
    [200, primaryBody, null, true, null],
    [200, JSON.stringify({ state: 'running', role: 'primary' }), null, true, null],
    [200, '', null, true, null],
    [200, 'not json', null, true, null],
    [200, promotingBody, null, false, 'not promoted yet (role replica)', true],
    [200, stoppedBody, null, false, 'postgres stopped'],
    [503, replicaBody, null, false, '503', true],
    [503, JSON.stringify({ state: 'running', role: 'demoted' }), null, false, '503', true],
    [503, primaryBody, null, false, '503', true],
    [503, stoppedBody, null, false, '503'],
    [503, '<html>busy</html>', null, false, '503'],
    [503, '', null, false, '503'],
    [500, primaryBody, null, false, 'HTTP 500'],
    [502, replicaBody, null, false, 'HTTP 502'],
    [null, null, 'ECONNREFUSED', false, 'ECONNREFUSED'],
    [null, null, 'timeout', false, 'timeout'],
  ])('status %s, body %s, network error %s → ok=%s, error %s, conclusive %s', (status, body, net, ok, error, conclusive = false) => {
    const v = interpretProbe('primary', status, body, net, false);
    expect(v.ok).toBe(ok);
    expect(v.error).toBe(error);
    expect(v.lagging).toBe(false);
    // Only Patroni saying the server is in recovery is conclusive; a blip says nothing (issue 10).
    expect(v.conclusive).toBe(conclusive);
  });
});

describe('interpretProbe /replica', () => {
  it('passes a 200', () => {
    expect(interpretProbe('replica', 200, replicaBody, null, true)).toEqual({ ok: true, error: null, lagging: false, conclusive: false, role: 'replica', state: 'running' });
  });

  it('reads a 503 from a running replica under ?lag= as lagging', () => {
    expect(interpretProbe('replica', 503, replicaBody, null, true)).toMatchObject({ ok: false, lagging: true, error: 'over lag limit' });
  });

  it.each([
    ['without a lag limit', replicaBody, false],
    ['from a noloadbalance member', nlbBody, true],
    ['from the primary', primaryBody, true],
    ['without a body', '', true],
  ])('does not call a 503 %s lagging', (_what, body, lagLimit) => {
    expect(interpretProbe('replica', 503, body, null, lagLimit)).toMatchObject({ ok: false, lagging: false, error: '503' });
  });
});

describe('interpretProbe /sync and /read-only (issue 13)', () => {
  const body = (over: Record<string, unknown> = {}): string => JSON.stringify({ role: 'replica', state: 'running', ...over });

  it.each([
    ['passes a 200 from a synchronous standby', 'sync', 200, body({ sync_standby: true }), true, { ok: true, lagging: false }],
    ['reads a 503 from a running sync standby under ?lag= as lagging', 'sync', 503, body({ sync_standby: true }), true, { ok: false, lagging: true }],
    ['does not read a 503 from an asynchronous replica as lag: it is not a sync standby', 'sync', 503, body(), true, { ok: false, lagging: false }],
    ['passes a 200 from the leader on /read-only', 'read_only', 200, body({ role: 'master' }), false, { ok: true, lagging: false }],
    ['reads a 503 from a running replica under ?lag= as lagging on /read-only', 'read_only', 503, body(), true, { ok: false, lagging: true }],
    ['does not read a noloadbalance replica\'s 503 as lag on /read-only', 'read_only', 503, body({ tags: { noloadbalance: true } }), true, { ok: false, lagging: false }],
  ] as const)('%s', (_what, kind, status, text, lag, expected) => {
    expect(interpretProbe(kind, status, text, null, lag)).toMatchObject(expected);
  });
});
