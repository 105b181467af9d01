import { describe, expect, it } from 'vitest';
import {
  formatBind,
  formatDuration,
  formatSize,
  isValidHost,
  MAX_DURATION_MS,
  parseDuration,
  parseHostPort,
  parseSize,
} from '../../../src/config/units.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['3s', 3_000],
    ['30m', 1_800_000],
    ['30min', 1_800_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['0', 0],
    ['0s', 0],
    ['3', 3],
    [3, 3],
    [4000, 4000],
    ['1.5s', 1_500],
    ['1.1s', 1_100],
    ['0.25m', 15_000],
    ['24d', 2_073_600_000],
  ] as const)('reads %j as %d ms', (input, ms) => {
    expect(parseDuration(input)).toEqual({ ok: true, value: ms });
  });

  it.each([
    [''],
    ['3 s'],
    [' 3s'],
    ['-1s'],
    [-1],
    ['4x'],
    ['3S'],
    ['3M'],
    ['s'],
    ['1.s'],
    ['.5s'],
    ['1e3'],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
  ] as const)('rejects %j with a hint on how to write a duration', (input) => {
    const r = parseDuration(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/is not a duration \(use e\.g\. 250ms, 4s, 30m\)$/);
  });

  it('rejects a fraction of a millisecond instead of rounding it', () => {
    expect(parseDuration('0.5ms')).toEqual({ ok: false, message: '"0.5ms" is not a whole number of milliseconds (use e.g. 250ms, 4s, 30m)' });
    expect(parseDuration(1.5)).toMatchObject({ ok: false });
  });

  it('rejects durations that setTimeout would turn into 1 ms', () => {
    expect(parseDuration(MAX_DURATION_MS)).toEqual({ ok: true, value: MAX_DURATION_MS });
    expect(parseDuration(MAX_DURATION_MS + 1)).toMatchObject({ ok: false });
    expect(parseDuration('25d')).toMatchObject({ ok: false, message: expect.stringMatching(/too long/) });
  });

  it('quotes string input in messages so an empty value is visible', () => {
    expect(parseDuration('')).toEqual({ ok: false, message: '"" is not a duration (use e.g. 250ms, 4s, 30m)' });
  });
});

describe('parseSize', () => {
  it.each([
    ['16384', 16_384],
    [16384, 16_384],
    ['0', 0],
    ['100B', 100],
    ['512kB', 524_288],
    ['1MB', 1_048_576],
    ['1GB', 1_073_741_824],
    ['1TB', 1_099_511_627_776],
    ['1.5MB', 1_572_864],
  ] as const)('reads %j as %d bytes (kB = 1024, as in PostgreSQL)', (input, bytes) => {
    expect(parseSize(input)).toEqual({ ok: true, value: bytes });
  });

  it.each([[''], ['1 MB'], ['1mb'], ['1KB'], ['1Mb'], ['-1MB'], ['1MiB'], ['MB'], [-5]] as const)(
    'rejects %j',
    (input) => {
      expect(parseSize(input)).toMatchObject({ ok: false, message: expect.stringMatching(/is not a size/) });
    },
  );

  it('rejects a fraction of a byte', () => {
    expect(parseSize('1.5B')).toMatchObject({ ok: false, message: expect.stringMatching(/whole number of bytes/) });
  });
});

describe('parseHostPort', () => {
  const bind = { defaultHost: '0.0.0.0' };
  it.each([
    ['0.0.0.0:5432', { host: '0.0.0.0', port: 5432 }],
    ['10.0.0.1:2379', { host: '10.0.0.1', port: 2379 }],
    ['etcd-1.example.com:2379', { host: 'etcd-1.example.com', port: 2379 }],
    ['[::1]:5432', { host: '::1', port: 5432 }],
    ['[::]:5432', { host: '::', port: 5432 }],
    [':5432', { host: '0.0.0.0', port: 5432 }],
    ['*:8404', { host: '0.0.0.0', port: 8404 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
  ])('reads %j as a listen address', (input, expected) => {
    expect(parseHostPort(input, bind)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['5432', /is not host:port/],
    ['', /is not host:port/],
    ['0.0.0.0:0', /port must be a number from 1 to 65535/],
    ['0.0.0.0:65536', /port must be a number from 1 to 65535/],
    ['0.0.0.0:54a', /port must be a number/],
    ['0.0.0.0:', /port must be a number/],
    ['::1:5432', /IPv6 addresses need brackets/],
    ['[::1]5432', /is not host:port/],
    ['[10.0.0.1]:5432', /is not an IPv6 address/],
    ['http://10.0.0.1:2379', /without a scheme/],
    ['10.0.0.300:5432', /not a valid host/],
    ['bad host:5432', /not a valid host/],
  ])('rejects %j', (input, message) => {
    expect(parseHostPort(input, bind)).toMatchObject({ ok: false, message: expect.stringMatching(message) });
  });

  it('requires a host when no default host is given (etcd endpoints)', () => {
    expect(parseHostPort(':2379')).toMatchObject({ ok: false, message: expect.stringMatching(/has no host/) });
    expect(parseHostPort('*:2379')).toMatchObject({ ok: false });
  });
});

describe('isValidHost', () => {
  it.each(['10.0.0.1', '::1', 'fe80::1', 'db1', 'db-1.example.com', 'db.example.com.'])('accepts %j', (h) => {
    expect(isValidHost(h)).toBe(true);
  });
  it.each(['', '-db', 'db-', 'a b', '10.0.0.256', '[::1]', 'db:5432', 'db..example'])('rejects %j', (h) => {
    expect(isValidHost(h)).toBe(false);
  });
});

describe('format helpers', () => {
  it.each([
    [0, '0s'],
    [100, '100ms'],
    [1_500, '1500ms'],
    [3_000, '3s'],
    [90_000, '90s'],
    [1_800_000, '30m'],
    [3_600_000, '1h'],
    [86_400_000, '1d'],
  ])('formats %d ms as %s, which parses back to the same value', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toEqual({ ok: true, value: ms });
  });

  it.each([
    [0, '0B'],
    [100, '100B'],
    [1_048_576, '1MB'],
    [524_288, '512kB'],
    [1_572_864, '1536kB'],
  ])('formats %d bytes as %s, which parses back to the same value', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
    expect(parseSize(text)).toEqual({ ok: true, value: bytes });
  });

  it('formats the IPv4 wildcard like HAProxy and brackets IPv6', () => {
    expect(formatBind({ host: '0.0.0.0', port: 5432 })).toBe(':5432');
    expect(formatBind({ host: '::1', port: 5432 })).toBe('[::1]:5432');
    expect(formatBind({ host: '10.0.0.1', port: 5433 })).toBe('10.0.0.1:5433');
  });
});
