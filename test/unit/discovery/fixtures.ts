// Builders for discovery unit tests: Patroni member JSON, etcd key maps, probe histories.
import { initialCheck, nextCheckState, type CheckRecord } from '../../../src/discovery/check-state.js';
import type { DeriveInput, EtcdInput, MemberChecks } from '../../../src/discovery/derive-view.js';

export const RISE = 2;
export const FALL = 3;
export const INTERVAL = 3_000;
export const STALE_AFTER = INTERVAL * 2 + 1_000;
export const T0 = 1_700_000_000_000;

/** members/<name> as Patroni 3.0.2 writes it; pgPort 5442 + index, REST 8008 + index. */
export function memberJson(index: number, over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    conn_url: `postgres://127.0.0.1:${5441 + index}/postgres`,
    api_url: `http://127.0.0.1:${8007 + index}/patroni`,
    state: 'running',
    role: 'replica',
    version: '3.0.2',
    xlog_location: 50_000_000,
    timeline: 1,
    ...over,
  });
}

export function keysOf(entries: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(entries));
}

export interface Probe {
  ok: boolean;
  /** Epoch ms the request was sent; the result arrives 5 ms later. */
  at: number;
  status?: number | null;
  error?: string | null;
  lagging?: boolean;
  role?: string | null;
}

/** A check record after these probes, in order. */
export function history(probes: Probe[], prev: CheckRecord = initialCheck): CheckRecord {
  let rec = prev;
  for (const p of probes) {
    rec = nextCheckState(rec, p.ok, p.at + 5, RISE, FALL, {
      status: p.status === undefined ? (p.ok ? 200 : 503) : p.status,
      error: p.ok ? null : (p.error ?? '503'),
      lagging: p.lagging ?? false,
      role: p.role ?? null,
      state: 'running',
      startedAt: p.at,
    });
  }
  return rec;
}

/** n probes with the same outcome, `every` ms apart, the last one sent at `lastAt`. */
export function streak(ok: boolean, n: number, lastAt: number, every = INTERVAL, extra: Partial<Probe> = {}): Probe[] {
  return Array.from({ length: n }, (_, i) => ({ ok, at: lastAt - (n - 1 - i) * every, ...extra }));
}

export function checks(primary: CheckRecord, replica: Record<string, CheckRecord> = {}): MemberChecks {
  return { primary, replica: new Map(Object.entries(replica)) };
}

export function etcdInput(keys: Map<string, string>, over: Partial<EtcdInput> = {}): EtcdInput {
  return { connected: true, keys, revision: '42', lastResyncAt: T0 - 10_000, error: null, leaderSince: T0 - 60_000, ...over };
}

export function input(over: Partial<DeriveInput>): DeriveInput {
  return {
    mode: 'etcd',
    scope: 'pg',
    etcd: null,
    staticMembers: null,
    checks: new Map(),
    replicaKeys: ['any'],
    onEtcdLoss: 'follow_probes',
    fall: FALL,
    staleAfterMs: STALE_AFTER,
    now: T0,
    generation: 7,
    ...over,
  };
}
