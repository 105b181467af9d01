// Small helpers shared by the normalize-* files: read one raw value, fall back to its default
// when the key is absent (or was pruned by the schema stage, which already reported it), and
// report a value that is well-typed but still wrong ("4x", "0s" for a timeout).
import type { HostPort } from './types.js';
import type { KeyPath } from './path.js';
import { formatDuration, parseDuration, parseHostPort, parseSize } from './units.js';
import { WILDCARD_HOST } from './defaults.js';

export type Report = (path: KeyPath, message: string) => void;

/**
 * The raw config after the schema stage: every value present is schema-valid, but any key may
 * be missing (a required key the schema reported, or a pruned value), and so may list items.
 * Unions (enums, duration strings, secret forms) are kept whole: they are valid or absent.
 */
export type Loose<T> = [T] extends [readonly (infer U)[]]
  ? readonly (Loose<U> | undefined)[]
  : [T] extends [Record<string, unknown>]
    ? { readonly [K in keyof T]?: Loose<Exclude<T[K], undefined>> }
    : T;

export function has(obj: object | undefined, key: string): boolean {
  return obj !== undefined && Object.hasOwn(obj, key);
}

export type DurationRule = 'zero-ok' | 'positive';

export function durationAt(
  raw: string | number | undefined,
  path: KeyPath,
  fallback: number,
  rule: DurationRule,
  report: Report,
): number {
  if (raw === undefined) return fallback;
  const parsed = parseDuration(raw);
  if (!parsed.ok) {
    report(path, parsed.message);
    return fallback;
  }
  if (rule === 'positive' && parsed.value === 0) {
    report(path, `must be greater than 0 (e.g. ${formatDuration(fallback)})`);
    return fallback;
  }
  return parsed.value;
}

export function sizeAt(raw: string | number | undefined, path: KeyPath, report: Report): number | null {
  if (raw === undefined) return null;
  const parsed = parseSize(raw);
  if (!parsed.ok) {
    report(path, parsed.message);
    return null;
  }
  return parsed.value;
}

/** Listen addresses: ":5432" and "*:5432" mean every IPv4 address, as in HAProxy. */
export function bindAt(raw: string | undefined, path: KeyPath, report: Report): HostPort | null {
  if (raw === undefined) return null;
  const parsed = parseHostPort(raw, { defaultHost: WILDCARD_HOST });
  if (!parsed.ok) {
    report(path, parsed.message);
    return null;
  }
  return parsed.value;
}
