// Parsing the keys Patroni writes for planned maintenance (PURE, never throws):
//
// `failover` (dcs/__init__.py manual_failover, Patroni 3.0.2): the intent of
// `patronictl switchover|failover` or POST /switchover, written BEFORE the leader demotes:
//   {"leader":"node1","member":"node2","scheduled_at":"2026-12-01T10:00:00+00:00"}
// every field optional (`member` is the candidate; `scheduled_at` is Python's isoformat() of an
// aware datetime). Patroni "deletes" it by writing `{}` (manual_failover('', '')): the new leader
// right after it took the leader key, or the old one when it gives up. Failover.from_node also
// reads a legacy plain "leader:candidate" string, and so do we.
//
// `sync` (dcs/__init__.py sync_state): {"leader":"node1","sync_standby":"node2,node3"} (comma
// separated, or null). It only means something while the dynamic `config` has
// `synchronous_mode` on (Cluster.is_synchronous_mode), which Patroni reads with parse_bool.
import { isRecord, parseJsonObject } from './patroni-member.js';

export interface FailoverKey {
  readonly from: string | null;
  readonly to: string | null;
  /** Epoch ms; null = at once. */
  readonly scheduledAt: number | null;
}

function name(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

/** Python isoformat() with an offset ("2026-12-01T10:00:00.123456+00:00"); null when unreadable. */
export function parseIsoTime(value: string): number | null {
  // Date.parse reads at most milliseconds; Python writes microseconds.
  const trimmed = value.trim().replace(/(\.\d{3})\d+/, '$1');
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(trimmed)) return null;
  const ms = Date.parse(trimmed.replace(' ', 'T'));
  return Number.isFinite(ms) ? ms : null;
}

/**
 * The pending switchover in the `failover` key, or null: no key, `{}` (cleared), neither a
 * leader nor a candidate, or a `scheduled_at` that is not a time (Patroni removes such a key
 * itself, should_run_scheduled_action, and never acts on it).
 */
export function parseFailoverKey(value: string | undefined): FailoverKey | null {
  if (value === undefined || value.trim() === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    // Failover.from_node's legacy form: "leader:candidate".
    const [from, to] = value.split(':').map((part) => name(part));
    return from || to ? { from: from ?? null, to: to ?? null, scheduledAt: null } : null;
  }
  if (!isRecord(parsed)) return null;
  const from = name(parsed.leader);
  const to = name(parsed.member);
  if (from === null && to === null) return null;
  const raw = parsed.scheduled_at;
  if (raw === undefined || raw === null || raw === '') return { from, to, scheduledAt: null };
  const scheduledAt = typeof raw === 'string' ? parseIsoTime(raw) : null;
  return scheduledAt === null ? null : { from, to, scheduledAt };
}

/** Patroni's parse_bool: on/true/yes/1 (any case; Python's True prints as "True"). */
export function patroniBool(value: unknown): boolean {
  return ['on', 'true', 'yes', '1'].includes(String(value).toLowerCase());
}

/**
 * Names of the synchronous standbys: the `sync` key's `sync_standby` list, while the dynamic
 * `config` has synchronous_mode on. A missing `config` key trusts the `sync` key (Patroni
 * deletes it when synchronous_mode goes off).
 */
export function syncStandbys(sync: string | undefined, config: string | undefined): ReadonlySet<string> {
  const none: ReadonlySet<string> = new Set();
  if (sync === undefined) return none;
  if (config !== undefined) {
    const cfg = objectOrNull(config);
    if (cfg === null || !patroniBool(cfg.synchronous_mode)) return none;
  }
  const obj = objectOrNull(sync);
  if (obj === null || typeof obj.sync_standby !== 'string') return none;
  return new Set(obj.sync_standby.split(',').map((s) => s.trim()).filter((s) => s !== ''));
}

/** Garbage in a key Patroni owns reads as "not set", like SyncState.from_node does. */
function objectOrNull(text: string): Record<string, unknown> | null {
  const obj = parseJsonObject(text);
  return typeof obj === 'string' ? null : obj;
}
