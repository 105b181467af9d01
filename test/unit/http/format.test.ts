import { describe, expect, it } from 'vitest';
import { formatAgo, formatBytes, formatElapsed, formatLagMb, formatTimestamp } from '../../../src/http/format.js';

describe('formatting for the stats page and pgrouter status', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 kB'],
    [1_572_864, '1.5 MB'],
    [150 * 1024 * 1024, '150 MB'],
    [3 * 1024 ** 4, '3.0 TB'],
  ])('writes %i bytes as %s in PostgreSQL units', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it('writes lag in MB like patronictl: empty when unknown, one decimal below 10 MB', () => {
    expect([null, 0, 100, 3 * 1024 * 1024, 25 * 1024 * 1024].map(formatLagMb)).toEqual(['', '0', '0.0', '3.0', '25']);
  });

  it('writes durations from milliseconds to days', () => {
    expect([250, 1350, 12_340, 250_000, 7_500_000, 2 * 86_400_000 + 3_600_000].map(formatElapsed)).toEqual([
      '250 ms',
      '1.35 s',
      '12.3 s',
      '4m 10s',
      '2h 5m',
      '2d 1h',
    ]);
  });

  it('writes how long ago relative to the snapshot time, and UTC timestamps', () => {
    const now = Date.UTC(2025, 2, 1, 12, 0, 0);
    expect([now + 5, now - 500, now - 12_000, now - 300_000, now - 7_200_000, now - 172_800_000].map((at) => formatAgo(at, now))).toEqual([
      'in the future',
      'just now',
      '12s ago',
      '5m ago',
      '2h ago',
      '2d ago',
    ]);
    expect(formatTimestamp(now + 5_999)).toBe('2025-03-01 12:00:05Z');
  });
});
