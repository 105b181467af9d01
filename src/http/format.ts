// Human-readable numbers and times for the stats page and `pgrouter status`. Pure: "now" is an
// argument (the snapshot's own `at`), so a rendered page is reproducible in tests.

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'] as const;

/** PostgreSQL units (kB = 1024 B), as in max_lag, so the page and the config read alike. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || Math.abs(value) >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit] ?? 'B'}`;
}

/** Lag in MB like `patronictl list` ("Lag in MB"): whole MB, one decimal below 10. */
export function formatLagMb(bytes: number | null): string {
  if (bytes === null) return '';
  const mb = bytes / (1024 * 1024);
  if (mb === 0) return '0';
  return mb < 10 ? mb.toFixed(1) : mb.toFixed(0);
}

/** Durations such as outages: "250 ms", "1.35 s", "4m 10s", "2h 5m", "3d 4h". */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

/** "12s ago", "5m ago", "3h ago", "2d ago"; "just now" under a second; "in the future" on clock skew. */
export function formatAgo(at: number, now: number): string {
  const ms = now - at;
  if (ms < 0) return 'in the future';
  if (ms < 1000) return 'just now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** UTC, second precision: "2025-03-01 12:00:05Z". One zone for every router an operator compares. */
export function formatTimestamp(at: number): string {
  return new Date(at).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
