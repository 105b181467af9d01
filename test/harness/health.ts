// What "healthy" means for the local cluster, from Patroni's REST API: a leader that is
// actually writable, and replicas that are actually streaming from it.
import { HarnessError } from './errors.js';
import { getClusterMembers, getNodeStatus, isPrimaryRole, type MemberStatus } from './patroni-rest.js';

/** Members from GET /cluster of the first API that answers. */
export async function firstMembers(apiUrls: readonly string[]): Promise<MemberStatus[]> {
  const errors: string[] = [];
  for (const url of apiUrls) {
    try {
      return await getClusterMembers(url);
    } catch (err) {
      errors.push(`${url}: ${(err as Error).message}`);
    }
  }
  throw new HarnessError(`no Patroni REST API answered /cluster (${errors.join('; ') || 'none running'})`);
}

export function leaderOf(members: readonly MemberStatus[]): string | undefined {
  return members.find((m) => m.role === 'leader' || m.role === 'standby_leader')?.name;
}

/**
 * The leader only once it is writable: Patroni takes the leader key before promotion ends
 * (GET /primary already answers 200 then), so we also require its own /patroni to report
 * role master/primary (pg_is_in_recovery() false) and state running.
 */
export async function writableLeader(
  members: readonly MemberStatus[],
  apiUrlOf: (name: string) => string,
): Promise<string | undefined> {
  const name = leaderOf(members);
  if (!name) return undefined;
  const status = await getNodeStatus(apiUrlOf(name));
  return isPrimaryRole(status.role) && status.state === 'running' ? name : undefined;
}

/**
 * Replicas Patroni lists as running that also appear in the leader's pg_stat_replication as
 * `streaming` (Patroni sets application_name to the member name).
 */
export async function streamingReplicas(
  leader: string,
  members: readonly MemberStatus[],
  apiUrlOf: (name: string) => string,
): Promise<string[]> {
  const running = new Set(members.filter((m) => m.name !== leader && m.state === 'running').map((m) => m.name));
  const senders = (await getNodeStatus(apiUrlOf(leader))).replication ?? [];
  return senders
    .filter((r) => r.state === 'streaming' && running.has(r.application_name ?? ''))
    .map((r) => r.application_name ?? '')
    .sort();
}
