// What one Patroni REST answer means (PURE). The HTTP status is Patroni's contract
// (200 healthy, 503 not); the JSON body lets us be stricter where 3.0.2 is lenient.
//
// Patroni 3.0.2 (patroni/api.py do_GET): /primary answers 200 as soon as `ha.is_leader()`, i.e.
// right after the member *acquired the leader key*, before `pg_ctl promote` finished, and also
// while PostgreSQL is not running. The body, built from a live `pg_is_in_recovery()` query,
// still says "role": "replica" during promotion. So a 200 whose body says the server is not a
// running primary is a failure here ("not promoted yet"): we must not send writes to a server in
// recovery. Without a body (or a body without those fields) the status alone decides.
//
// Some failed /primary answers are conclusive: Patroni itself says the member is not a writable
// primary, so the check goes down at once, without counting `fall` (issue 10):
//   - the body says the server is in recovery (role replica, demoted, ...): it demoted itself;
//   - a 503 whose body says PostgreSQL is running: Patroni no longer holds the leader lock (it
//     could not renew the key, e.g. etcd is unreachable) and demotes next; it answers 503 to a
//     running primary for nothing else.
// Answers that say nothing about the server are counted: refused, timeout, a 502 or 503 page
// from something in front of Patroni, and a 503 while PostgreSQL itself is not running (a
// restart in maintenance mode ends the sessions anyway; `fall` decides when it is down).
//
// /replica?lag=N answers 503 when the replica is over the limit, but also when it is tagged
// noloadbalance, not running, or not a replica. A 503 whose body says a running replica without
// noloadbalance can only be the lag limit: that is `lagging` (drain instead of kill).
//
// /sync and /read-only (issue 13) answer like /replica (same lag and noloadbalance rules) for
// a replica; /sync only on a synchronous standby (the body says "sync_standby": true), so a 503
// from a running replica is lag only when the body also says it is one. /read-only answers 200
// on the leader whatever its tags.
import { isRecord, normalizeRole, parseJsonObject, pythonTruthy } from './patroni-member.js';

export type CheckKind = 'primary' | 'replica' | 'sync' | 'read_only';

export interface ProbeVerdict {
  readonly ok: boolean;
  readonly error: string | null;
  readonly lagging: boolean;
  /** Patroni's answer itself proves the check down (see above): no `fall` to count. */
  readonly conclusive: boolean;
  readonly role: string | null;
  readonly state: string | null;
}

interface Body {
  role: string | null;
  state: string | null;
  noloadbalance: boolean;
  syncStandby: boolean;
}

function parseBody(text: string | null): Body | null {
  if (text === null || text === '') return null;
  const obj = parseJsonObject(text);
  // Not a JSON object (a proxy error page, a truncated answer): judge by the status code alone.
  if (typeof obj === 'string') return null;
  const tags = isRecord(obj.tags) ? obj.tags : {};
  return {
    role: typeof obj.role === 'string' ? obj.role : null,
    state: typeof obj.state === 'string' ? obj.state : null,
    noloadbalance: pythonTruthy(tags.noloadbalance),
    syncStandby: obj.sync_standby === true,
  };
}

/**
 * @param status HTTP status, or null when the request failed (then `networkError` says why)
 * @param hasLagLimit the replica check carried ?lag=, so a 503 from a healthy replica means lag
 */
export function interpretProbe(
  kind: CheckKind,
  status: number | null,
  body: string | null,
  networkError: string | null,
  hasLagLimit: boolean,
): ProbeVerdict {
  const b = parseBody(body);
  const role = b?.role ?? null;
  const state = b?.state ?? null;
  const fail = (error: string, lagging = false, conclusive = false): ProbeVerdict => ({ ok: false, error, lagging, conclusive, role, state });
  const pass: ProbeVerdict = { ok: true, error: null, lagging: false, conclusive: false, role, state };
  if (status === null) return fail(networkError ?? 'no response');
  if (status !== 200 && status !== 503) return fail(`HTTP ${status}`);
  if (kind === 'primary') {
    const inRecovery = role !== null && normalizeRole(role) !== 'primary';
    if (status === 503) return fail('503', false, inRecovery || state === 'running');
    if (inRecovery) return fail(`not promoted yet (role ${role})`, false, true);
    if (state !== null && state !== 'running') return fail(`postgres ${state}`);
    return pass;
  }
  if (status === 200) return pass;
  const lagging = hasLagLimit && b !== null && role === 'replica' && state === 'running' && !b.noloadbalance && (kind !== 'sync' || b.syncStandby);
  return fail(lagging ? 'over lag limit' : '503', lagging);
}
