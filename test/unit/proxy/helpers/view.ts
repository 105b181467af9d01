// Hand-made ClusterViews for routing and data-path tests.
import type { CheckStatus, ClusterView, MemberView } from '../../../../src/view/cluster-view.js';

export function check(up: boolean, extra: Partial<CheckStatus> = {}): CheckStatus {
  return { up, lastOk: up, lastStatus: up ? 200 : 503, lastAt: 0, stale: false, lagging: false, error: up ? null : '503', ...extra };
}

export interface MemberSpec {
  name: string;
  port?: number;
  host?: string;
  /** Replica check results by replicaCheckKey; default: { any: up } for replicas. */
  replica?: Record<string, CheckStatus>;
  noloadbalance?: boolean;
}

export function member(spec: MemberSpec): MemberView {
  return {
    name: spec.name,
    host: spec.host ?? '127.0.0.1',
    port: spec.port ?? 1,
    api: null,
    role: 'replica',
    state: 'running',
    timeline: 1,
    lag_bytes: 0,
    tags: {},
    noloadbalance: spec.noloadbalance ?? false,
    in_dcs: false,
    leader_key: false,
    primary_check: check(false),
    replica_checks: spec.replica ?? { any: check(true) },
  };
}

/** A view where `primary` (if any) is the confirmed primary and its replica checks are down. */
export function view(generation: number, members: MemberView[], primary: string | null): ClusterView {
  const ms = members
    .map((m) =>
      m.name === primary
        ? { ...m, role: 'primary' as const, leader_key: true, primary_check: check(true), replica_checks: Object.fromEntries(Object.keys(m.replica_checks).map((k) => [k, check(false)])) }
        : m,
    )
    .sort((a, b) => a.name.localeCompare(b.name));
  return {
    generation,
    at: generation,
    mode: 'static',
    scope: 'test',
    etcd: null,
    leader_key: primary,
    primary,
    primary_reason: primary ? `${primary} confirmed` : 'none',
    members: ms,
  };
}
