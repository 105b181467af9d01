import { describe, expect, it } from 'vitest';
import { discoveryKey, discoverySettled, newerView } from '../../../src/plane/view-feed.js';
import { listenerConfig, testConfig } from '../proxy/helpers/config.js';
import { check, member, view } from '../proxy/helpers/view.js';

const members = () => [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3', replica: { any: check(false) } })];

describe('which view a worker keeps', () => {
  it('keeps the newer generation and ignores an older or equal one still in flight', () => {
    const v5 = view(5, members(), 'n1');
    const v6 = view(6, members(), 'n2');
    expect(newerView(v5, v6)).toBe(v6);
    expect(newerView(v6, v5)).toBe(v6);
    expect(newerView(v6, view(6, members(), 'n3'))).toBe(v6);
  });
});

describe('whether a reload needs a new Discovery', () => {
  it('shares the running one when only listeners binds, balance or timeouts change', () => {
    const a = testConfig({ listeners: [listenerConfig({ name: 'rw' }), listenerConfig({ name: 'ro', role: 'replica', max_lag: 1024 })] });
    const b = testConfig({
      listeners: [listenerConfig({ name: 'rw', bind: { host: '127.0.0.1', port: 6000 } }), listenerConfig({ name: 'ro', role: 'replica', max_lag: 1024, balance: 'leastconn' }), listenerConfig({ name: 'ro2', role: 'replica', max_lag: 1024 })],
      timeouts: { connect: 5 },
    });
    expect(discoveryKey(a)).toBe(discoveryKey(b));
  });

  it('needs a new one when a replica listener probes another lag limit, or the checks change', () => {
    const a = testConfig({ listeners: [listenerConfig({ name: 'ro', role: 'replica', max_lag: 1024 })] });
    const b = testConfig({ listeners: [listenerConfig({ name: 'ro', role: 'replica', max_lag: 2048 })] });
    expect(discoveryKey(a)).not.toBe(discoveryKey(b));
    expect(discoveryKey(a)).not.toBe(discoveryKey({ ...a, checks: { ...a.checks, interval: 9_999 } }));
  });
});

describe('when a reload\'s new Discovery may feed workers', () => {
  it('waits while the new one has no view yet or another primary', () => {
    const running = view(40, members(), 'n1');
    expect(discoverySettled(view(0, [], null), running)).toBe(false);
    expect(discoverySettled(view(1, members(), null), running)).toBe(false);
  });

  it('waits until every replica check up in the running one is up in the new one too', () => {
    const running = view(40, members(), 'n1');
    const probing = view(2, [member({ name: 'n1' }), member({ name: 'n2', replica: { any: check(false) } }), member({ name: 'n3', replica: { any: check(false) } })], 'n1');
    expect(discoverySettled(probing, running)).toBe(false);
    expect(discoverySettled(view(3, members(), 'n1'), running)).toBe(true);
  });

  it('does not wait for checks the new one no longer probes (a changed max_lag)', () => {
    const running = view(40, members(), 'n1');
    const other = [member({ name: 'n1', replica: { '2048': check(true) } }), member({ name: 'n2', replica: { '2048': check(true) } }), member({ name: 'n3', replica: { '2048': check(false) } })];
    expect(discoverySettled(view(3, other, 'n1'), running)).toBe(true);
  });

  // Issue 13 x issue 10: a sync or read_only listener's sessions are judged by /sync and
  // /read-only. A new Discovery that confirmed the primary and the replicas, but not yet those
  // checks, would close them all as marked down in one process.
  it.each([
    ['sync', (up: boolean) => ({ sync_standby: true, sync_checks: { any: check(up) } })],
    ['read_only', (up: boolean) => ({ read_only_checks: { any: check(up) } })],
  ] as const)('waits until every %s check up in the running one is up in the new one too', (_role, checks) => {
    const withRole = (gen: number, up: boolean) => view(gen, [member({ name: 'n1' }), { ...member({ name: 'n2' }), ...checks(up) }], 'n1');
    expect(discoverySettled(withRole(2, false), withRole(40, true))).toBe(false);
    expect(discoverySettled(withRole(3, true), withRole(40, true))).toBe(true);
    // A check the running one has down holds nothing up.
    expect(discoverySettled(withRole(2, false), withRole(40, false))).toBe(true);
  });

  it('agrees on "no primary" when neither has one', () => {
    expect(discoverySettled(view(2, members(), null), view(9, members(), null))).toBe(true);
  });
});
