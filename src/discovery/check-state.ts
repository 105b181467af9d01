// HAProxy-style rise/fall bookkeeping for one REST check of one member (PURE).
//
// HAProxy marks a server up after `rise` consecutive successful checks and down after `fall`
// consecutive failures. We start DOWN (a router must not send writes anywhere before it has
// evidence). The leader-key holder gets a faster path to "confirmed" in derive-view.ts; this
// module only counts. A result older than `staleAfterMs` (interval*2 + timeout) means the
// prober is stuck or the member unreachable in a way that did not even time out: not up.
import type { CheckStatus } from '../view/cluster-view.js';

export interface CheckRecord {
  /** After rise/fall counting (staleness is applied when reading, see checkStatus). */
  readonly up: boolean;
  readonly successes: number;
  readonly failures: number;
  readonly lastOk: boolean | null;
  readonly lastStatus: number | null;
  /** Epoch ms when the last result arrived. */
  readonly lastAt: number | null;
  /** Epoch ms when the last probe was sent. */
  readonly lastStartedAt: number | null;
  /** Epoch ms when the most recent *successful* probe was sent (fast confirm of a new leader). */
  readonly lastOkStartedAt: number | null;
  readonly error: string | null;
  /** The last result was a 503 from a running replica that is only over the lag limit. */
  readonly lagging: boolean;
  /** Patroni's view of itself from the last response body ("master", "replica", ...). */
  readonly role: string | null;
  readonly state: string | null;
}

/** What one probe observed, besides ok/not ok. */
export interface ProbeExtra {
  readonly status: number | null;
  readonly error: string | null;
  readonly lagging: boolean;
  readonly role: string | null;
  readonly state: string | null;
  /** The answer itself proves the check down (probe-response.ts): an up check goes down at once. */
  readonly conclusive?: boolean;
  /** Epoch ms when the request was sent. */
  readonly startedAt: number;
}

export const initialCheck: CheckRecord = Object.freeze({
  up: false,
  successes: 0,
  failures: 0,
  lastOk: null,
  lastStatus: null,
  lastAt: null,
  lastStartedAt: null,
  lastOkStartedAt: null,
  error: null,
  lagging: false,
  role: null,
  state: null,
});

/** Applies one probe result taken at `at`. */
export function nextCheckState(
  prev: CheckRecord,
  ok: boolean,
  at: number,
  rise: number,
  fall: number,
  extra: ProbeExtra,
): CheckRecord {
  const successes = ok ? prev.successes + 1 : 0;
  const failures = ok ? 0 : prev.failures + 1;
  // Up stays up until `fall` failures in a row, or one conclusive failure; down goes up after
  // `rise` successes in a row.
  const downNow = !ok && extra.conclusive === true;
  const up = prev.up ? failures < Math.max(1, fall) && !downNow : successes >= Math.max(1, rise);
  return Object.freeze({
    up,
    successes,
    failures,
    lastOk: ok,
    lastStatus: extra.status,
    lastAt: at,
    lastStartedAt: extra.startedAt,
    lastOkStartedAt: ok ? extra.startedAt : prev.lastOkStartedAt,
    error: ok ? null : (extra.error ?? 'failed'),
    lagging: !ok && extra.lagging,
    role: extra.role,
    state: extra.state,
  });
}

export function isStale(rec: CheckRecord, now: number, staleAfterMs: number): boolean {
  return rec.lastAt !== null && now - rec.lastAt > staleAfterMs;
}

/** Up after rise/fall and not stale. */
export function isUp(rec: CheckRecord, now: number, staleAfterMs: number): boolean {
  return rec.up && !isStale(rec, now, staleAfterMs);
}

/**
 * The published form. `upOverride` lets the view report the leader holder's fast confirmation
 * (derive-view.ts) in the same field routing and /stats read.
 */
export function checkStatus(
  rec: CheckRecord,
  now: number,
  staleAfterMs: number,
  upOverride?: boolean,
  errorWhenNone?: string,
): CheckStatus {
  const stale = isStale(rec, now, staleAfterMs);
  const up = !stale && (upOverride ?? rec.up);
  return Object.freeze({
    up,
    lastOk: rec.lastOk,
    lastStatus: rec.lastStatus,
    lastAt: rec.lastAt,
    stale,
    lagging: !stale && rec.lagging,
    error: stale ? 'stale' : (rec.error ?? (rec.lastAt === null ? (errorWhenNone ?? null) : null)),
  });
}
