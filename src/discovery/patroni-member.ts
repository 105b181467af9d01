// Parsing what Patroni writes under <namespace><scope>/ in etcd (PURE, never throws).
//
// Patroni 3.0.2 (patroni/ha.py touch_member) writes members/<name> as JSON:
//   {"conn_url": "postgres://127.0.0.1:5442/postgres", "api_url": "http://127.0.0.1:8008/patroni",
//    "state": "running", "role": "master", "version": "3.0.2", "xlog_location": 50331816,
//    "timeline": 1, "tags": {...}}
// and the leader's optime as `status` = {"optime": <lsn>, "slots": {...}} (dcs/etcd3.py), or, in older
// releases, as the plain integer key `optime/leader`. Any of it may be missing or garbage while a
// member starts, so a bad value drops that member with a reason instead of failing the view.
import type { MemberRole } from '../view/cluster-view.js';

export interface PatroniMember {
  readonly name: string;
  /** PostgreSQL address from conn_url. */
  readonly host: string;
  readonly port: number;
  /** REST base URL (api_url without its /patroni path), or null when absent/invalid. */
  readonly api: string | null;
  readonly role: MemberRole;
  /** The role string exactly as written (e.g. "master"), for reasons and logs. */
  readonly rawRole: string | null;
  readonly state: string | null;
  readonly timeline: number | null;
  /** WAL position the member last reported (bytes). */
  readonly xlogLocation: number | null;
  readonly tags: Readonly<Record<string, unknown>>;
  readonly noloadbalance: boolean;
}

export type MemberParse =
  | { readonly ok: true; readonly member: PatroniMember }
  | { readonly ok: false; readonly name: string; readonly reason: string };

const DEFAULT_PG_PORT = 5432;

/**
 * Patroni 3.x says "master", 4.x "primary"; both mean the read-write leader. "promoted" is the
 * transient role between `pg_ctl promote -W` returning and Patroni's post-promote bookkeeping
 * (postgresql/__init__.py promote()); Patroni itself treats ('master', 'promoted', 'primary')
 * alike (ha.py), and so do we.
 */
export function normalizeRole(raw: unknown): MemberRole {
  switch (raw) {
    case 'master':
    case 'primary':
    case 'promoted':
      return 'primary';
    case 'standby_leader':
    case 'replica':
    case 'demoted':
    case 'uninitialized':
      return raw;
    default:
      return 'unknown';
  }
}

/**
 * Python truthiness, because Patroni itself decides with `bool(tags.get('noloadbalance'))`
 * (patroni/__main__.py): true, non-zero numbers, non-empty strings/lists/dicts.
 */
export function pythonTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return false;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'string') return value.length > 0;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** host/port of a libpq URL (postgres:// or postgresql://); null when unusable. */
export function parseConnUrl(connUrl: unknown): { host: string; port: number } | null {
  if (typeof connUrl !== 'string') return null;
  let url: URL;
  try {
    url = new URL(connUrl);
  } catch {
    // An unparseable conn_url is reported by the caller as the member's reason.
    return null;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return null;
  const host = stripBrackets(url.hostname);
  if (host === '') return null;
  const port = url.port === '' ? DEFAULT_PG_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host, port };
}

/**
 * Patroni publishes api_url as http(s)://host:port/patroni (the /patroni path is its status
 * endpoint); health checks live at the root (/primary, /replica), so keep only the origin.
 */
export function apiBase(apiUrl: unknown): string | null {
  if (typeof apiUrl !== 'string') return null;
  try {
    const url = new URL(apiUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    return url.origin;
  } catch {
    // Invalid api_url: the member stays in the view (it may still route) but cannot be probed.
    return null;
  }
}

/**
 * A configured static member's REST base: kept as written (it may sit behind a path prefix),
 * without a trailing slash or the /patroni status path people copy from api_url.
 */
export function staticApiBase(api: string): string | null {
  try {
    const url = new URL(api);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  } catch {
    // The config loader validates URLs; a bad one here just cannot be probed.
    return null;
  }
  return api.replace(/\/+$/, '').replace(/\/patroni$/, '');
}

/** A non-negative integer LSN (bytes) from a JSON number or decimal string; null otherwise. */
export function parseLsn(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) {
    const n = Number(value.trim());
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The object a JSON text holds, or why it holds none. */
export function parseJsonObject(text: string): Record<string, unknown> | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return `invalid JSON (${err instanceof Error ? err.message : String(err)})`;
  }
  return isRecord(parsed) ? parsed : 'JSON is not an object';
}

/** Parses the value of members/<name>. */
export function parseMember(name: string, value: string): MemberParse {
  const obj = parseJsonObject(value);
  if (typeof obj === 'string') return { ok: false, name, reason: obj };
  const addr = parseConnUrl(obj.conn_url);
  if (addr === null) {
    return { ok: false, name, reason: `no usable conn_url (${JSON.stringify(obj.conn_url ?? null)})` };
  }
  const tags: Readonly<Record<string, unknown>> = Object.freeze(isRecord(obj.tags) ? { ...obj.tags } : {});
  const timeline = typeof obj.timeline === 'number' && Number.isInteger(obj.timeline) ? obj.timeline : null;
  return {
    ok: true,
    member: {
      name,
      host: addr.host,
      port: addr.port,
      api: apiBase(obj.api_url),
      role: normalizeRole(obj.role),
      rawRole: typeof obj.role === 'string' ? obj.role : null,
      state: typeof obj.state === 'string' ? obj.state : null,
      timeline,
      xlogLocation: parseLsn(obj.xlog_location),
      tags,
      noloadbalance: pythonTruthy(tags.noloadbalance),
    },
  };
}

/**
 * The leader's last known optime: `status` {"optime": n} (Patroni ≥ 2.1), else the legacy
 * `optime/leader` integer key. null when neither is usable (the caller then falls back to the
 * leader member's xlog_location).
 */
export function parseLeaderOptime(status: string | undefined, legacyOptime: string | undefined): number | null {
  if (status !== undefined) {
    const obj = parseJsonObject(status);
    if (typeof obj !== 'string') {
      const lsn = parseLsn(obj.optime);
      if (lsn !== null) return lsn;
    }
  }
  return legacyOptime === undefined ? null : parseLsn(legacyOptime);
}

/** lag = leader optime − member position, clamped at 0 (the optime key lags the leader a little). */
export function lagBytes(leaderOptime: number | null, memberXlog: number | null): number | null {
  if (leaderOptime === null || memberXlog === null) return null;
  return Math.max(0, leaderOptime - memberXlog);
}
