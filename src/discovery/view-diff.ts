// Comparing two views (PURE): "is this worth publishing?" and "what went up or down?".
//
// Volatile bookkeeping alone does not make a new view: `generation`, `at`, each check's `lastAt`,
// etcd `revision` (Patroni rewrites `status` every loop) and `last_resync_at` (the watchdog).
// Publishing on those would push a view to every worker every few seconds for nothing; they are
// refreshed whenever a view is published for a real change.
import type { CheckStatus, ClusterView, MemberView } from '../view/cluster-view.js';

function stableCheck(c: CheckStatus): unknown {
  return [c.up, c.lastOk, c.lastStatus, c.stale, c.lagging, c.error];
}

function stableChecks(checks: Readonly<Record<string, CheckStatus>> | undefined): unknown {
  if (checks === undefined) return null;
  return Object.keys(checks)
    .sort()
    .map((k) => [k, stableCheck(checks[k] as CheckStatus)]);
}

function stableMember(m: MemberView): unknown {
  const replica = stableChecks(m.replica_checks);
  const roles = [m.sync_standby ?? null, stableChecks(m.sync_checks), stableChecks(m.read_only_checks)];
  return [m.name, m.host, m.port, m.api, m.role, m.state, m.timeline, m.lag_bytes, m.tags, m.noloadbalance, m.in_dcs, m.leader_key, stableCheck(m.primary_check), replica, roles];
}

/** A JSON key of everything in the view that matters to consumers. */
export function contentKey(v: ClusterView): string {
  return JSON.stringify([
    v.mode,
    v.scope,
    v.etcd ? [v.etcd.connected, v.etcd.error] : null,
    v.leader_key,
    v.primary,
    v.primary_reason,
    v.members.map(stableMember),
    v.switchover ?? null,
  ]);
}

export function sameContent(a: ClusterView, b: ClusterView): boolean {
  return contentKey(a) === contentKey(b);
}

export interface CheckTransition {
  readonly member: string;
  /** 'primary', 'replica:<key>', or 'member' when the member entered/left the view. */
  readonly check: string;
  readonly up: boolean;
  readonly reason: string;
}

/** Every check whose `up` flipped between two views, plus members that appeared or vanished. */
export function checkTransitions(prev: ClusterView, next: ClusterView): CheckTransition[] {
  const out: CheckTransition[] = [];
  const before = new Map(prev.members.map((m) => [m.name, m]));
  const after = new Map(next.members.map((m) => [m.name, m]));
  for (const [name] of before) {
    if (!after.has(name)) {
      const why = next.mode === 'etcd' ? `members/${name} removed from etcd (lease expired or member left)` : 'removed';
      out.push({ member: name, check: 'member', up: false, reason: why });
    }
  }
  for (const [name, m] of after) {
    const old = before.get(name);
    if (!old) {
      out.push({ member: name, check: 'member', up: true, reason: next.mode === 'etcd' ? `members/${name} appeared` : 'configured' });
    }
    const pairs: [string, CheckStatus | undefined, CheckStatus][] = [['primary', old?.primary_check, m.primary_check]];
    for (const [key, c] of Object.entries(m.replica_checks)) pairs.push([`replica:${key}`, old?.replica_checks[key], c]);
    for (const [key, c] of Object.entries(m.sync_checks ?? {})) pairs.push([`sync:${key}`, old?.sync_checks?.[key], c]);
    for (const [key, c] of Object.entries(m.read_only_checks ?? {})) pairs.push([`read_only:${key}`, old?.read_only_checks?.[key], c]);
    for (const [check, was, now] of pairs) {
      const wasUp = was?.up ?? false;
      if (wasUp !== now.up) {
        const reason = now.up ? 'check passed' : (now.error ?? 'check failed');
        out.push({ member: name, check, up: now.up, reason });
      }
    }
  }
  return out;
}
