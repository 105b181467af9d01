// Pure parsers for the value syntaxes of pgrouter.yaml: durations, sizes and host:port binds.
// They return a result instead of throwing so that the loader can turn every bad value into one
// issue and keep going (a config check reports all errors, not the first).
import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { HostPort } from './types.js';

export type UnitResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

const ok = <T>(value: T): UnitResult<T> => ({ ok: true, value });
const fail = <T>(message: string): UnitResult<T> => ({ ok: false, message });

/** HAProxy-style units. Case-sensitive so that "m" (minutes) can never be read as "M". */
const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * PostgreSQL/Patroni units (kB = 1024 bytes, as in postgresql.conf and Patroni's `?lag=1MB`),
 * so that a max_lag copied from a Patroni health-check URL means the same number of bytes.
 */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  kB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};

/** setTimeout() silently turns delays above 2^31-1 ms into 1 ms; refuse them instead. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const DURATION_HINT = 'use e.g. 250ms, 4s, 30m';
const SIZE_HINT = 'use e.g. 16384, 512kB, 1MB';
const NUMBER_AND_UNIT = /^(\d+)(?:\.(\d+))?([A-Za-z]*)$/;

/**
 * Scales "<int>.<frac>" by an integer factor exactly (no binary floating point), so that
 * "1.1s" is 1100 ms and not 1100.0000000000002. Returns null when the result is not a whole
 * number or is too large to be represented exactly.
 */
function scaleExact(intPart: string, fracPart: string, factor: number): number | null {
  const digits = BigInt(intPart + fracPart) * BigInt(factor);
  const divisor = 10n ** BigInt(fracPart.length);
  if (digits % divisor !== 0n) return null;
  const value = digits / divisor;
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
}

function showInput(input: string | number): string {
  return typeof input === 'string' ? JSON.stringify(input) : String(input);
}

function parseWithUnits(
  input: string | number,
  units: Readonly<Record<string, number>>,
  what: 'duration' | 'size',
): UnitResult<number> {
  const hint = what === 'duration' ? DURATION_HINT : SIZE_HINT;
  const notA = `${showInput(input)} is not a ${what} (${hint})`;
  // A bare YAML number is in the base unit (ms / bytes), like HAProxy's plain integers.
  const text = typeof input === 'number' ? (Number.isFinite(input) && input >= 0 ? String(input) : '') : input;
  const match = NUMBER_AND_UNIT.exec(text);
  if (!match) return fail(notA);
  const [, intPart = '', fracPart = '', unit = ''] = match;
  const factor = unit === '' ? 1 : units[unit];
  if (factor === undefined) return fail(notA);
  const value = scaleExact(intPart, fracPart, factor);
  if (value === null) {
    const base = what === 'duration' ? 'milliseconds' : 'bytes';
    return fail(`${showInput(input)} is not a whole number of ${base} (${hint})`);
  }
  return ok(value);
}

/**
 * "250ms", "3s", "30m", "1h", "1d" (also "min"); a plain integer is milliseconds.
 * Decimals are accepted when they give whole milliseconds ("1.5s" = 1500). Negative numbers,
 * inner spaces ("3 s"), unknown or mis-cased units and the empty string are rejected.
 */
export function parseDuration(input: string | number): UnitResult<number> {
  const parsed = parseWithUnits(input, DURATION_UNITS, 'duration');
  if (parsed.ok && parsed.value > MAX_DURATION_MS) {
    return fail(`${showInput(input)} is too long (at most ${formatDuration(MAX_DURATION_MS)}, about 24 days)`);
  }
  return parsed;
}

/** "16384" (bytes), "512kB", "1MB", "1GB", "1TB", "100B"; kB = 1024 bytes (PostgreSQL units). */
export function parseSize(input: string | number): UnitResult<number> {
  return parseWithUnits(input, SIZE_UNITS, 'size');
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/** A DNS name or an IP literal (IPv6 without brackets). */
export function isValidHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  // "10.0.0.300" matches the DNS-name pattern but is a mistyped IPv4 address, not a name.
  if (/^[\d.]+$/.test(host)) return isIPv4(host);
  return HOSTNAME.test(host);
}

export interface HostPortOptions {
  /** Host used for ":5432" and "*:5432"; when absent a host is required. */
  readonly defaultHost?: string;
}

/** "10.0.0.1:5432", "db.example:5432", "[::1]:5432", ":5432" / "*:5432" (with defaultHost). */
export function parseHostPort(input: string, opts: HostPortOptions = {}): UnitResult<HostPort> {
  const example = opts.defaultHost === undefined ? '10.0.0.1:2379' : '0.0.0.0:5432';
  const shown = JSON.stringify(input);
  let host: string;
  let portText: string;
  if (input.startsWith('[')) {
    const m = /^\[([^\]]*)\]:(.*)$/.exec(input);
    if (!m) return fail(`${shown} is not host:port (e.g. [::1]:5432)`);
    host = m[1] ?? '';
    portText = m[2] ?? '';
    if (!isIPv6(host)) return fail(`${shown}: "${host}" is not an IPv6 address`);
  } else {
    const colon = input.lastIndexOf(':');
    if (colon < 0) return fail(`${shown} is not host:port (e.g. ${example})`);
    host = input.slice(0, colon);
    portText = input.slice(colon + 1);
    if (host.includes('://')) return fail(`${shown} is not host:port (write it without a scheme, e.g. ${example})`);
    if (host.includes(':')) return fail(`${shown}: IPv6 addresses need brackets (e.g. [::1]:5432)`);
    if (host === '' || host === '*') {
      if (opts.defaultHost === undefined) return fail(`${shown} has no host (e.g. ${example})`);
      host = opts.defaultHost;
    } else if (!isValidHost(host)) {
      return fail(`${shown}: "${host}" is not a valid host name or IP address`);
    }
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return fail(`${shown}: port must be a number from 1 to 65535`);
  return ok({ host, port });
}

/** Inverse of parseDuration for messages and summaries: the largest unit that is exact. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, factor] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms % factor === 0) return `${ms / factor}${unit}`;
  }
  return `${ms}ms`;
}

/** Inverse of parseSize: the largest PostgreSQL unit that is exact ("1MB", "512kB", "100B"). */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['TB', 1024 ** 4], ['GB', 1024 ** 3], ['MB', 1024 ** 2], ['kB', 1024]] as const) {
    if (bytes !== 0 && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}

/** "host:port", with an IPv6 host in brackets ("[::1]:5432"), as URLs and logs want it. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** ":5432" for the IPv4 wildcard (HAProxy's "*:5432"), "[::1]:5432" for IPv6, else host:port. */
export function formatBind(bind: HostPort): string {
  if (bind.host === '0.0.0.0') return `:${bind.port}`;
  return hostPort(bind.host, bind.port);
}
