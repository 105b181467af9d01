// ClusterView derivation (PURE): etcd keys + probe records + time in, one frozen view out.
//
// Who is primary, in order of trust:
//  - etcd mode, etcd reachable: ONLY the holder of the `leader` key, and only once its /primary
//    probe agrees. Patroni takes the key before promotion finishes (DESIGN.md facts), so the key
//    alone is not enough; a member without the key is never primary even if its /primary says 200
//    (split brain protection: Patroni's own lock is the arbiter).
//    Our reading of HAProxy `rise` for the holder: ONE successful /primary probe *sent after we saw
//    it take the key* confirms it, because the key is the second, independent signal. This is what
//    lets us fail over in ~one probe round trip instead of rise × inter. After that, the ordinary
//    `fall` applies (it stays primary through fall−1 failed probes) and staleness applies.
//  - etcd unreachable: on_etcd_loss=follow_probes → the single member whose /primary check is up
//    (rise/fall); none or several → nobody. fail_closed → nobody.
//  - static mode: the probes alone, with rise/fall, single member only.
import type { StaticMember } from '../config/types.js';
import { checkStatus, initialCheck, isStale, isUp, type CheckRecord } from './check-state.js';
import { lagBytes, normalizeRole, parseLeaderOptime, parseMember, type PatroniMember } from './patroni-member.js';
import { parseFailoverKey, syncStandbys } from './maintenance-keys.js';
import type { CheckStatus, ClusterView, EtcdStatus, MemberView, SwitchoverIntent } from '../view/cluster-view.js';

export interface EtcdInput {
  readonly connected: boolean;
  /** Keys relative to <namespace><scope>/: 'leader', 'members/node1', 'status', ... */
  readonly keys: ReadonlyMap<string, string>;
  readonly revision: string | null;
  readonly lastResyncAt: number | null;
  readonly error: string | null;
  /** Epoch ms when we first saw the current value of `leader` (baseline of the fast confirm). */
  readonly leaderSince: number | null;
  /** Epoch ms when we first saw the current value of `failover` (SwitchoverIntent.announced_at). */
  readonly failoverSince?: number | null;
}

export interface MemberChecks {
  readonly primary: CheckRecord;
  /** Keyed by replicaCheckKey(max_lag). */
  readonly replica: ReadonlyMap<string, CheckRecord>;
  /** /sync and /read-only, keyed like `replica`; only for the lags some listener needs. */
  readonly sync?: ReadonlyMap<string, CheckRecord>;
  readonly readOnly?: ReadonlyMap<string, CheckRecord>;
}

export interface DeriveInput {
  readonly mode: 'etcd' | 'static';
  readonly scope: string;
  readonly etcd: EtcdInput | null;
  readonly staticMembers: readonly StaticMember[] | null;
  readonly checks: ReadonlyMap<string, MemberChecks>;
  /** Every member gets these replica checks in the view (one per distinct listener max_lag). */
  readonly replicaKeys: readonly string[];
  /** The same for the sync and read_only listeners; empty or absent: no such checks in the view. */
  readonly syncKeys?: readonly string[];
  readonly readOnlyKeys?: readonly string[];
  readonly onEtcdLoss: 'follow_probes' | 'fail_closed';
  readonly fall: number;
  /** checks.interval * 2 + checks.timeout */
  readonly staleAfterMs: number;
  readonly now: number;
  readonly generation: number;
}

export interface IgnoredMember {
  readonly name: string;
  readonly reason: string;
}

const MEMBERS = 'members/';

/** Parses every members/<name> key; bad ones are returned with their reason, never thrown. */
export function collectMembers(keys: ReadonlyMap<string, string>): {
  members: PatroniMember[];
  ignored: IgnoredMember[];
} {
  const members: PatroniMember[] = [];
  const ignored: IgnoredMember[] = [];
  for (const [key, value] of keys) {
    if (!key.startsWith(MEMBERS)) continue;
    const name = key.slice(MEMBERS.length);
    if (name === '' || name.includes('/')) continue;
    const parsed = parseMember(name, value);
    if (parsed.ok) members.push(parsed.member);
    else ignored.push({ name, reason: parsed.reason });
  }
  return { members, ignored };
}

/** The `leader` key's member name, or null when absent/empty. */
export function leaderKeyValue(keys: ReadonlyMap<string, string>): string | null {
  const v = keys.get('leader')?.trim();
  return v ? v : null;
}

function checksOf(input: DeriveInput, name: string): MemberChecks {
  return input.checks.get(name) ?? { primary: initialCheck, replica: new Map() };
}

/** The holder's fast confirm: a success sent after the key was seen, fewer than `fall` failures since, not stale. */
export function holderConfirmed(rec: CheckRecord, leaderSince: number | null, input: DeriveInput): boolean {
  if (isStale(rec, input.now, input.staleAfterMs)) return false;
  if (leaderSince === null) return isUp(rec, input.now, input.staleAfterMs);
  return rec.lastOkStartedAt !== null && rec.lastOkStartedAt >= leaderSince && rec.failures < Math.max(1, input.fall);
}

function answersPrimary(rec: CheckRecord, input: DeriveInput): boolean {
  return rec.lastOk === true && !isStale(rec, input.now, input.staleAfterMs);
}

interface Decision {
  primary: string | null;
  reason: string;
  /** Effective /primary "up" per member where it differs from plain rise/fall. */
  upOverride: Map<string, boolean>;
}

function decideEtcdConnected(input: DeriveInput, etcd: EtcdInput, members: PatroniMember[], ignored: IgnoredMember[]): Decision {
  const upOverride = new Map<string, boolean>();
  const holder = leaderKeyValue(etcd.keys);
  const claimants = members
    .filter((m) => m.name !== holder && answersPrimary(checksOf(input, m.name).primary, input))
    .map((m) => m.name);
  const note = claimants.length ? `; ignoring ${claimants.join(', ')}: answers /primary without the leader key` : '';
  if (holder === null) return { primary: null, reason: `no leader key${note}`, upOverride };
  const member = members.find((m) => m.name === holder);
  if (!member) {
    const bad = ignored.find((i) => i.name === holder);
    const why = bad ? `members/${holder} unusable: ${bad.reason}` : `members/${holder} missing`;
    return { primary: null, reason: `leader key ${holder} but ${why}${note}`, upOverride };
  }
  if (member.api === null) {
    return { primary: null, reason: `leader key ${holder} has no api_url to confirm it${note}`, upOverride };
  }
  const rec = checksOf(input, holder).primary;
  const confirmed = holderConfirmed(rec, etcd.leaderSince, input);
  upOverride.set(holder, confirmed);
  if (!confirmed) {
    const why = isStale(rec, input.now, input.staleAfterMs)
      ? 'probe stale'
      : rec.failures > 0 && rec.error !== null
        ? rec.error
        : 'no probe since it took the key';
    return { primary: null, reason: `leader key ${holder} not confirmed by /primary yet (${why})${note}`, upOverride };
  }
  const roleNote = member.role === 'primary' ? '' : ` (members/${holder} says role ${member.rawRole ?? 'none'}; the probe wins)`;
  return { primary: holder, reason: `leader key ${holder} confirmed by /primary${roleNote}${note}`, upOverride };
}

function decideByProbes(input: DeriveInput, names: string[], prefix: string, lastHolder: string | null, leaderSince: number | null): Decision {
  const upOverride = new Map<string, boolean>();
  const up = names.filter((n) => {
    const rec = checksOf(input, n).primary;
    // The last known holder keeps its fast confirmation: losing etcd must not by itself
    // unconfirm a primary that was confirmed a moment ago.
    const effective = isUp(rec, input.now, input.staleAfterMs) || (n === lastHolder && holderConfirmed(rec, leaderSince, input));
    if (effective !== rec.up) upOverride.set(n, effective);
    return effective;
  });
  if (up.length === 1) return { primary: up[0] ?? null, reason: `${prefix}: ${up[0]} is the only member up on /primary`, upOverride };
  if (up.length === 0) return { primary: null, reason: `${prefix}: no member up on /primary`, upOverride };
  return { primary: null, reason: `${prefix}: ${up.join(', ')} are all up on /primary, refusing to guess`, upOverride };
}

function keyedChecks(input: DeriveInput, keys: readonly string[], records: ReadonlyMap<string, CheckRecord> | undefined, noApi: string | undefined): Readonly<Record<string, CheckStatus>> {
  const out: Record<string, CheckStatus> = {};
  for (const key of keys) {
    out[key] = checkStatus(records?.get(key) ?? initialCheck, input.now, input.staleAfterMs, undefined, noApi);
  }
  return Object.freeze(out);
}

function replicaChecks(input: DeriveInput, checks: MemberChecks, noApi: string | undefined): Readonly<Record<string, CheckStatus>> {
  return keyedChecks(input, input.replicaKeys, checks.replica, noApi);
}

/** The /sync and /read-only checks, only when a listener needs them (views stay as before otherwise). */
function roleChecks(input: DeriveInput, checks: MemberChecks, noApi: string | undefined): Pick<MemberView, 'sync_checks' | 'read_only_checks'> {
  const sync = input.syncKeys ?? [];
  const readOnly = input.readOnlyKeys ?? [];
  return {
    ...(sync.length > 0 ? { sync_checks: keyedChecks(input, sync, checks.sync, noApi) } : {}),
    ...(readOnly.length > 0 ? { read_only_checks: keyedChecks(input, readOnly, checks.readOnly, noApi) } : {}),
  };
}

/** The `failover` key as the view's switchover intent; null while etcd is unreachable (the key may be stale). */
function switchoverOf(etcd: EtcdInput | null, now: number): SwitchoverIntent | null {
  if (!etcd?.connected) return null;
  const key = parseFailoverKey(etcd.keys.get('failover'));
  if (key === null) return null;
  return Object.freeze({ from: key.from, to: key.to, scheduled_at: key.scheduledAt, announced_at: etcd.failoverSince ?? now });
}

function etcdMembers(input: DeriveInput, etcd: EtcdInput, members: PatroniMember[], d: Decision): MemberView[] {
  const holder = leaderKeyValue(etcd.keys);
  const holderMember = members.find((m) => m.name === holder);
  const optime = parseLeaderOptime(etcd.keys.get('status'), etcd.keys.get('optime/leader')) ?? holderMember?.xlogLocation ?? null;
  const sync = syncStandbys(etcd.keys.get('sync'), etcd.keys.get('config'));
  return members.map((m) => {
    const checks = checksOf(input, m.name);
    const noApi = m.api === null ? 'no api_url' : undefined;
    return Object.freeze({
      name: m.name,
      host: m.host,
      port: m.port,
      api: m.api,
      role: m.role,
      state: m.state,
      timeline: m.timeline,
      lag_bytes: lagBytes(optime, m.xlogLocation),
      tags: m.tags,
      noloadbalance: m.noloadbalance,
      in_dcs: true,
      leader_key: etcd.connected && m.name === holder,
      primary_check: checkStatus(checks.primary, input.now, input.staleAfterMs, d.upOverride.get(m.name), noApi),
      replica_checks: replicaChecks(input, checks, noApi),
      // The leader may be listed in a stale `sync` key during a switchover: it is not a standby.
      sync_standby: sync.has(m.name) && m.name !== holder,
      ...roleChecks(input, checks, noApi),
    });
  });
}

function staticMembers(input: DeriveInput, list: readonly StaticMember[], d: Decision): MemberView[] {
  return list.map((m) => {
    const checks = checksOf(input, m.name);
    const primaryCheck = checkStatus(checks.primary, input.now, input.staleAfterMs, d.upOverride.get(m.name));
    // No DCS in static mode: the role is what the member said about itself in its last answer.
    const role = primaryCheck.up ? 'primary' : checks.primary.lastAt === null ? 'unknown' : normalizeRole(checks.primary.role);
    return Object.freeze({
      name: m.name,
      host: m.host,
      port: m.port,
      api: m.api,
      role,
      state: checks.primary.state,
      timeline: null,
      lag_bytes: null,
      tags: Object.freeze({}),
      noloadbalance: false,
      in_dcs: false,
      leader_key: false,
      primary_check: primaryCheck,
      replica_checks: replicaChecks(input, checks, undefined),
      sync_standby: false,
      ...roleChecks(input, checks, undefined),
    });
  });
}

export function deriveView(input: DeriveInput): ClusterView {
  let decision: Decision;
  let members: MemberView[];
  let etcdStatus: EtcdStatus | null = null;
  let leaderKey: string | null = null;
  if (input.mode === 'etcd') {
    const etcd = input.etcd ?? { connected: false, keys: new Map(), revision: null, lastResyncAt: null, error: 'not started', leaderSince: null };
    const { members: parsed, ignored } = collectMembers(etcd.keys);
    if (etcd.connected) {
      decision = decideEtcdConnected(input, etcd, parsed, ignored);
      leaderKey = leaderKeyValue(etcd.keys);
    } else if (input.onEtcdLoss === 'fail_closed') {
      decision = { primary: null, reason: `etcd unreachable (${etcd.error ?? 'no connection'}); on_etcd_loss is fail_closed`, upOverride: new Map() };
    } else {
      const prefix = `etcd unreachable (${etcd.error ?? 'no connection'}); following probes`;
      decision = decideByProbes(input, parsed.map((m) => m.name), prefix, leaderKeyValue(etcd.keys), etcd.leaderSince);
    }
    members = etcdMembers(input, etcd, parsed, decision);
    etcdStatus = Object.freeze({
      connected: etcd.connected,
      last_resync_at: etcd.lastResyncAt,
      revision: etcd.revision,
      error: etcd.error,
    });
  } else {
    const list = input.staticMembers ?? [];
    decision = decideByProbes(input, list.map((m) => m.name), 'static members', null, null);
    members = staticMembers(input, list, decision);
  }
  members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Object.freeze({
    generation: input.generation,
    at: input.now,
    mode: input.mode,
    scope: input.scope,
    etcd: etcdStatus,
    leader_key: leaderKey,
    primary: decision.primary,
    primary_reason: decision.reason,
    members: Object.freeze(members),
    switchover: input.mode === 'etcd' ? switchoverOf(input.etcd, input.now) : null,
  });
}
