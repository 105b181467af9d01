import { describe, expect, it } from 'vitest';
import {
  apiBase,
  lagBytes,
  normalizeRole,
  parseConnUrl,
  parseLeaderOptime,
  parseMember,
  pythonTruthy,
  staticApiBase,
} from '../../../src/discovery/patroni-member.js';

describe('normalizeRole', () => {
  it.each([
    ['master', 'primary'],
    ['primary', 'primary'],
    ['promoted', 'primary'],
    ['standby_leader', 'standby_leader'],
    ['replica', 'replica'],
    ['demoted', 'demoted'],
    ['uninitialized', 'uninitialized'],
    ['leader', 'unknown'],
    ['', 'unknown'],
    [null, 'unknown'],
    [42, 'unknown'],
  ])('maps %j to %s', (raw, want) => {
    expect(normalizeRole(raw)).toBe(want);
  });
});

describe('parseMember', () => {
  const patroni302 = JSON.stringify({
    conn_url: 'postgres://127.0.0.1:5442/postgres',
    api_url: 'http://127.0.0.1:8008/patroni',
    state: 'running',
    role: 'master',
    version: '3.0.2',
    xlog_location: 50331816,
    timeline: 1,
  });

  it('reads what Patroni 3.0.2 writes', () => {
    const r = parseMember('node1', patroni302);
    expect(r).toEqual({
      ok: true,
      member: {
        name: 'node1',
        host: '127.0.0.1',
        port: 5442,
        api: 'http://127.0.0.1:8008',
        role: 'primary',
        rawRole: 'master',
        state: 'running',
        timeline: 1,
        xlogLocation: 50331816,
        tags: {},
        noloadbalance: false,
      },
    });
  });

  it('reads IPv6 addresses, the default port and an https api_url', () => {
    const r = parseMember('n', JSON.stringify({ conn_url: 'postgresql://[::1]/postgres', api_url: 'https://[::1]:8443/patroni' }));
    expect(r.ok && r.member).toMatchObject({ host: '::1', port: 5432, api: 'https://[::1]:8443', role: 'unknown', state: null });
  });

  it.each([
    ['not JSON', '{"conn_url": ', /^invalid JSON/],
    ['an array', '[1,2]', /^JSON is not an object$/],
    ['a JSON string', '"x"', /^JSON is not an object$/],
    ['no conn_url', '{"role":"replica"}', /^no usable conn_url \(null\)$/],
    ['an http conn_url', '{"conn_url":"http://x:1/"}', /^no usable conn_url/],
    ['a port out of range', '{"conn_url":"postgres://h:70000/db"}', /^no usable conn_url/],
  ])('ignores a member with %s, with a reason', (_what, value, reason) => {
    const r = parseMember('bad', value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('keeps a member whose api_url or optional fields are garbage, without them', () => {
    const r = parseMember('n', JSON.stringify({ conn_url: 'postgres://h:1/d', api_url: 'ftp://x', timeline: 'one', xlog_location: -5, tags: [1] }));
    expect(r.ok && r.member).toMatchObject({ api: null, timeline: null, xlogLocation: null, tags: {} });
  });

  it('reads noloadbalance with the truthiness Patroni itself uses', () => {
    const tagged = (v: unknown) => parseMember('n', JSON.stringify({ conn_url: 'postgres://h:1/d', tags: { noloadbalance: v } }));
    expect([true, 'true', 1, 'false'].map((v) => { const r = tagged(v); return r.ok && r.member.noloadbalance; })).toEqual([true, true, true, true]);
    expect([false, 0, '', null].map((v) => { const r = tagged(v); return r.ok && r.member.noloadbalance; })).toEqual([false, false, false, false]);
    expect(pythonTruthy({})).toBe(false);
    expect(pythonTruthy([0])).toBe(true);
  });
});

describe('addresses', () => {
  it('strips the /patroni path from api_url', () => {
    expect(apiBase('http://10.0.0.1:8008/patroni')).toBe('http://10.0.0.1:8008');
    expect(apiBase('http://10.0.0.1:8008')).toBe('http://10.0.0.1:8008');
    expect(apiBase('nonsense')).toBeNull();
    expect(apiBase(undefined)).toBeNull();
  });

  it('keeps a static member api as written, minus a trailing slash or /patroni', () => {
    expect(staticApiBase('http://10.0.0.1:8008')).toBe('http://10.0.0.1:8008');
    expect(staticApiBase('http://10.0.0.1:8008/')).toBe('http://10.0.0.1:8008');
    expect(staticApiBase('http://10.0.0.1:8008/patroni')).toBe('http://10.0.0.1:8008');
    expect(staticApiBase('https://gw.example/db1/')).toBe('https://gw.example/db1');
    expect(staticApiBase('10.0.0.1:8008')).toBeNull();
  });

  it('reads host and port from a libpq URL', () => {
    expect(parseConnUrl('postgres://127.0.0.1:5442/postgres')).toEqual({ host: '127.0.0.1', port: 5442 });
    expect(parseConnUrl('postgres://db.example:6432')).toEqual({ host: 'db.example', port: 6432 });
    expect(parseConnUrl('postgres:///postgres')).toBeNull();
  });
});

describe('leader optime and lag', () => {
  it('prefers status.optime, then the legacy optime/leader key', () => {
    expect(parseLeaderOptime('{"optime": 67108960, "slots": {"node2": 1}}', '5')).toBe(67108960);
    expect(parseLeaderOptime('{"slots": {}}', '67108864')).toBe(67108864);
    expect(parseLeaderOptime('garbage', undefined)).toBeNull();
    expect(parseLeaderOptime(undefined, undefined)).toBeNull();
  });

  it('clamps lag at zero and is null when either side is unknown', () => {
    expect(lagBytes(100, 40)).toBe(60);
    expect(lagBytes(100, 140)).toBe(0);
    expect(lagBytes(null, 40)).toBeNull();
    expect(lagBytes(100, null)).toBeNull();
  });
});
