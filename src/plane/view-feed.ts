// Which view a worker keeps, and when a reload needs (and may trust) a new Discovery (PURE).
import type { Config } from '../config/types.js';
import { replicaCheckKey, type ClusterView } from '../view/cluster-view.js';

/**
 * The view to keep: `incoming` only if its generation is newer. IPC keeps the order of one
 * sender's messages, but a respawned worker gets the current view in its init and may then see
 * an older one still in flight; generations make that harmless, as in DataPath.updateView.
 */
export function newerView(current: ClusterView, incoming: ClusterView): ClusterView {
  return incoming.generation > current.generation ? incoming : current;
}

/**
 * What a Discovery is built from: the cluster (etcd or static members), the checks, and the
 * distinct max_lag of the replica listeners (each is one /replica?lag= probe and one key of
 * MemberView.replica_checks), and likewise of the sync and read_only listeners. Two configs
 * with the same key can share one Discovery.
 */
export function discoveryKey(config: Config): string {
  const lagsOf = (role: string) => [...new Set(config.listeners.filter((l) => l.role === role).map((l) => replicaCheckKey(l.max_lag)))].sort();
  // Issue 13: the sync and read_only listeners' lags are probes of their own (/sync, /read-only).
  const roles = { sync: lagsOf('sync'), read_only: lagsOf('read_only') };
  return JSON.stringify({ cluster: config.cluster, checks: config.checks, lags: lagsOf('replica'), ...roles });
}

/**
 * Who is up on each keyed check a listener routes by: /replica, /sync and /read-only (the last
 * two where a listener needs them), per lag key, e.g. "sync any" → {"n2"}. A check every member
 * has down is listed too, with no one, so the caller knows this view probes it.
 */
function upByCheck(view: ClusterView): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const m of view.members) {
    const families = { replica: m.replica_checks, sync: m.sync_checks, read_only: m.read_only_checks };
    for (const [family, checks] of Object.entries(families)) {
      for (const [key, c] of Object.entries(checks ?? {})) {
        const id = `${family} ${key}`;
        const up = out.get(id) ?? new Set<string>();
        if (c.up) up.add(m.name);
        out.set(id, up);
      }
    }
  }
  return out;
}

/**
 * A reload started a new Discovery (its config changed). Its first views know nothing yet: no
 * confirmed primary, no replica check up, and switching to them would close every RW session
 * ("not primary") and every RO one. So the reload switches only when that kills nothing the
 * running one keeps: the same confirmed primary (or a primary where the running one has none),
 * and every /replica, /sync and /read-only check the running one has up (that the new one
 * probes too) up as well: the sync and read_only listeners' sessions are judged by theirs. A
 * real change during the reload makes them disagree until both saw it; the caller bounds the
 * wait and refuses the reload if it passes (issue 10).
 */
export function discoverySettled(candidate: ClusterView, incumbent: ClusterView): boolean {
  if (candidate.generation === 0) return false;
  if (candidate.primary !== incumbent.primary && incumbent.primary !== null) return false;
  const have = upByCheck(candidate);
  for (const [check, members] of upByCheck(incumbent)) {
    const mine = have.get(check);
    // A check the new Discovery does not probe (a changed max_lag) judges none of its sessions.
    if (mine === undefined) continue;
    for (const name of members) if (!mine.has(name)) return false;
  }
  return true;
}
