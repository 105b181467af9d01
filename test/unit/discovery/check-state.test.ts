import { describe, expect, it } from 'vitest';
import { checkStatus, initialCheck, isStale, isUp, nextCheckState } from '../../../src/discovery/check-state.js';
import { STALE_AFTER, T0, history } from './fixtures.js';

const seq = (oks: boolean[]) => history(oks.map((ok, i) => ({ ok, at: T0 + i * 1000 })));

describe('rise/fall (rise 2, fall 3)', () => {
  it.each([
    [[], false],
    [[true], false],
    [[true, true], true],
    [[true, false, true], false],
    [[true, true, false], true],
    [[true, true, false, false], true],
    [[true, true, false, false, false], false],
    [[true, true, false, false, true], true],
    [[true, true, false, false, false, true], false],
    [[true, true, false, false, false, true, true], true],
  ])('after %j the check is up=%s', (oks, up) => {
    expect(seq(oks).up).toBe(up);
  });

  it('records the last result, its status and reason, and when the last success was sent', () => {
    const r = history([
      { ok: true, at: T0 },
      { ok: false, at: T0 + 1000, status: null, error: 'timeout' },
    ]);
    expect(r).toMatchObject({ lastOk: false, lastStatus: null, error: 'timeout', lastAt: T0 + 1005, lastStartedAt: T0 + 1000, lastOkStartedAt: T0, successes: 0, failures: 1 });
  });

  it('takes an up check down at the first conclusive failure (Patroni says: in recovery), and counts fall for any other', () => {
    const up = seq([true, true]);
    const fail = (conclusive: boolean) => nextCheckState(up, false, T0 + 5000, 2, 3, { status: 503, error: '503', lagging: false, role: conclusive ? 'replica' : 'master', state: 'running', conclusive, startedAt: T0 + 5000 });
    expect(fail(true)).toMatchObject({ up: false, failures: 1 });
    expect(fail(false)).toMatchObject({ up: true, failures: 1 });
    // A success is never conclusive against: rise is still counted.
    expect(nextCheckState(initialCheck, true, T0, 2, 3, { status: 200, error: null, lagging: false, role: 'master', state: 'running', conclusive: true, startedAt: T0 }).up).toBe(false);
  });

  it('flags lagging only while the last result is a lagging failure', () => {
    const lag = history([{ ok: false, at: T0, lagging: true }]);
    expect(lag.lagging).toBe(true);
    expect(history([{ ok: true, at: T0 + 1 }], lag).lagging).toBe(false);
  });
});

describe('staleness', () => {
  const up = seq([true, true]);
  const last = T0 + 1005;

  it('is stale once the last result is older than interval*2 + timeout', () => {
    expect(isStale(up, last + STALE_AFTER, STALE_AFTER)).toBe(false);
    expect(isStale(up, last + STALE_AFTER + 1, STALE_AFTER)).toBe(true);
    expect(isUp(up, last + STALE_AFTER + 1, STALE_AFTER)).toBe(false);
    expect(isStale(initialCheck, T0 * 2, STALE_AFTER)).toBe(false);
  });

  it('publishes a stale check as down with reason "stale"', () => {
    expect(checkStatus(up, last + STALE_AFTER + 1, STALE_AFTER)).toEqual({
      up: false,
      lastOk: true,
      lastStatus: 200,
      lastAt: last,
      stale: true,
      lagging: false,
      error: 'stale',
    });
    expect(checkStatus(initialCheck, T0, STALE_AFTER, undefined, 'no api_url')).toMatchObject({ up: false, lastOk: null, error: 'no api_url' });
  });
});
