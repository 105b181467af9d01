// Patroni's `failover` and `sync` keys as 3.0.2 writes them (dcs/__init__.py manual_failover,
// sync_state), and what garbage in them reads as: never an exception.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseFailoverKey, parseIsoTime, patroniBool, syncStandbys } from '../../../src/discovery/maintenance-keys.js';

describe('parseFailoverKey', () => {
  it.each([
    ['a switchover from patronictl', '{"leader":"node1","member":"node2"}', { from: 'node1', to: 'node2', scheduledAt: null }],
    ['a switchover to any replica', '{"leader":"node1"}', { from: 'node1', to: null, scheduledAt: null }],
    ['a failover to a candidate', '{"member":"node3"}', { from: null, to: 'node3', scheduledAt: null }],
    [
      'a scheduled switchover (Python isoformat with microseconds and an offset)',
      '{"leader":"node1","member":"node2","scheduled_at":"2026-12-01T10:00:00.123456+01:00"}',
      { from: 'node1', to: 'node2', scheduledAt: Date.UTC(2026, 11, 1, 9, 0, 0, 123) },
    ],
    ['a null scheduled_at as at once', '{"leader":"node1","scheduled_at":null}', { from: 'node1', to: null, scheduledAt: null }],
    ['the legacy "leader:candidate" form', 'node1:node2', { from: 'node1', to: 'node2', scheduledAt: null }],
    ['the cleared key Patroni leaves behind', '{}', null],
    ['an empty value', '', null],
    ['no key at all', undefined, null],
    ['blank names', '{"leader":"","member":"  "}', null],
    ['an unreadable scheduled_at (Patroni drops such a key)', '{"leader":"node1","scheduled_at":"tomorrow"}', null],
    ['a JSON value that is not an object', '["node1"]', null],
  ] as const)('reads %s', (_what, value, expected) => {
    expect(parseFailoverKey(value)).toEqual(expected);
  });

  it('never throws on random bytes', () => {
    for (let i = 0; i < 2_000; i++) {
      const text = randomBytes(1 + (i % 64)).toString(i % 2 === 0 ? 'latin1' : 'utf8');
      expect(() => parseFailoverKey(text)).not.toThrow();
      expect(() => syncStandbys(text, text)).not.toThrow();
    }
  });
});

describe('parseIsoTime', () => {
  it('reads what Python isoformat() writes and nothing looser', () => {
    expect(parseIsoTime('2026-12-01T10:00:00+00:00')).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseIsoTime('2026-12-01 10:00:00.5+00:00')).toBe(Date.UTC(2026, 11, 1, 10, 0, 0, 500));
    expect(parseIsoTime('12345')).toBeNull();
    expect(parseIsoTime('2026-13-45T99:99:99+00:00')).toBeNull();
  });
});

describe('syncStandbys', () => {
  const on = '{"synchronous_mode":true,"ttl":10}';
  it.each([
    ['the standby of the sync key while synchronous_mode is on', '{"leader":"node1","sync_standby":"node2"}', on, ['node2']],
    ['every standby of a comma-separated list', '{"leader":"node1","sync_standby":"node2, node3"}', on, ['node2', 'node3']],
    ['Patroni\'s spelling of true ("on")', '{"leader":"node1","sync_standby":"node2"}', '{"synchronous_mode":"on"}', ['node2']],
    ['nobody while synchronous_mode is off', '{"leader":"node1","sync_standby":"node2"}', '{"synchronous_mode":false}', []],
    ['nobody without synchronous_mode in the config', '{"leader":"node1","sync_standby":"node2"}', '{"ttl":10}', []],
    ['the sync key alone when there is no config key', '{"leader":"node1","sync_standby":"node2"}', undefined, ['node2']],
    ['nobody for a sync key without a standby (being updated)', '{"leader":"node1","sync_standby":null}', on, []],
    ['nobody without a sync key', undefined, on, []],
    ['nobody for a garbage sync key', '{', on, []],
  ] as const)('names %s', (_what, sync, config, expected) => {
    expect([...syncStandbys(sync, config)]).toEqual(expected);
  });

  it('reads booleans the way Patroni does', () => {
    expect([true, 'True', 'on', 'yes', '1', 1].map(patroniBool)).toEqual([true, true, true, true, true, true]);
    expect([false, 'off', 'no', '0', 0, null, 'maybe'].map(patroniBool)).toEqual([false, false, false, false, false, false, false]);
  });
});
