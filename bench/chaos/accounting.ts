// The chaos suite's books, per router path and phase: which acknowledged transactions the final
// leader lacks and why, which writes a member acknowledged without holding the leader key, and
// the client errors and write gaps per fault. Pure functions over what the run recorded.
import { keyTransitions, possibleHolders, type KeyObservation, type KeyTransition } from './key-timeline.js';
import type { Ack, ClientError } from './workload.js';

/** One fault of a phase; it owns the time from its start to the next fault's start. */
export interface FaultWindow {
  name: string;
  startedAt: number;
}

/** What the final leader holds for one path, read directly from its PostgreSQL. */
export interface FinalBooks {
  leader: string;
  ledgerIds: ReadonlySet<string>;
  balanceSum: number;
  expectedSum: number;
  /** Accounts whose balance differs from initial + ledger credits - ledger debits. */
  ledgerMismatches: number;
}

export type LossCause = 'non_holder' | 'failover' | 'handed_back' | 'unexplained';

/** Losses of one cause, acknowledged by one member while the key stayed as it was. */
export interface LossGroup {
  cause: LossCause;
  member: string;
  count: number;
  /** A few of the lost ids. */
  sample: string[];
  firstAckAt: number;
  lastAckAt: number;
  /** Key changes from 30 s before the first ack to 60 s after the last: the evidence. */
  keyHistory: KeyTransition[];
}

export interface PathAccount {
  acked: number;
  /** Acknowledged, then absent from the final leader. */
  missing: number;
  missingByCause: Record<LossCause, number>;
  /** The losses, grouped by cause, member and the key's state when they were acknowledged. */
  losses: LossGroup[];
  /** Acknowledged by a member that no poll of the key around the COMMIT saw as the holder. */
  nonHolderAcks: number;
  nonHolderByMember: Record<string, number>;
  /** Acks that could not be judged (no key poll before or after the COMMIT). */
  unjudged: number;
  /** Ledger rows the final leader has whose COMMIT the client never saw acknowledged. */
  inDoubtKept: number;
  booksBalance: boolean;
  balanceSum: number;
  expectedSum: number;
  ledgerMatches: boolean;
  errorsByFault: Record<string, number>;
  errorKindsByFault: Record<string, Record<string, number>>;
  nonHolderByFault: Record<string, number>;
  /** Longest time without an acknowledged commit on this path, per fault window (s). */
  longestGapByFault: Record<string, number>;
}

export const WARM_UP = 'warm-up';

/** The fault whose window holds `at` (windows are ordered by start). */
export function faultAt(faults: readonly FaultWindow[], at: number): string {
  let name = WARM_UP;
  for (const f of faults) if (f.startedAt <= at) name = f.name;
  return name;
}

function bump(rec: Record<string, number>, key: string, by = 1): void {
  rec[key] = (rec[key] ?? 0) + by;
}

/**
 * Why an acknowledged transaction is gone. Acknowledged by a non-holder: the router's doing.
 * Else the key later moved on to another member that lacked it. When that member overwrote the
 * key with no release or expiry in between (no poll saw it empty), and it is the member the key
 * had been taken from, Patroni handed the key back (3.0.2 without a watchdog does this to a
 * thawed old leader, which then rewinds the promoted member): Patroni's doing. Otherwise it
 * was a failover (a crash, an expired lease): with asynchronous replication, the cluster's.
 */
export function lossCause(ack: Ack, changes: readonly KeyTransition[], nonHolder: boolean): LossCause {
  if (nonHolder) return 'non_holder';
  const next = changes.find((t) => t.firstSeenAfter > ack.sentAt && t.to !== null && t.to !== ack.member);
  if (!next) return 'unexplained';
  if (next.from !== ack.member) return 'failover';
  const tenureStart = [...changes].reverse().find((t) => t.firstSeenAfter <= ack.ackAt && t.to === ack.member);
  const takenFrom = tenureStart
    ? [...changes].reverse().find((t) => t.firstSeenAfter <= tenureStart.firstSeenAfter && t.from !== null && t.from !== ack.member)?.from
    : undefined;
  return next.to === takenFrom ? 'handed_back' : 'failover';
}

function longestGap(times: readonly number[], from: number, to: number): number {
  let prev = from;
  for (const t of times) if (t <= from) prev = t;
  let worst = 0;
  for (const t of times) {
    if (t <= from) continue;
    worst = Math.max(worst, Math.min(t, to) - prev);
    if (t >= to) return worst / 1000;
    prev = t;
  }
  return Math.max(worst, to - prev) / 1000;
}

export function accountPath(input: {
  acks: readonly Ack[];
  errors: readonly ClientError[];
  faults: readonly FaultWindow[];
  endedAt: number;
  obs: readonly KeyObservation[];
  books: FinalBooks;
}): PathAccount {
  const { acks, errors, faults, obs, books } = input;
  const causes: Record<LossCause, number> = { non_holder: 0, failover: 0, handed_back: 0, unexplained: 0 };
  const acc: PathAccount = {
    ...{ acked: acks.length, missing: 0, missingByCause: causes, losses: [], nonHolderAcks: 0, nonHolderByMember: {}, unjudged: 0 },
    ...{ inDoubtKept: 0, booksBalance: books.balanceSum === books.expectedSum, balanceSum: books.balanceSum, expectedSum: books.expectedSum },
    ...{ ledgerMatches: books.ledgerMismatches === 0, errorsByFault: {}, errorKindsByFault: {}, nonHolderByFault: {}, longestGapByFault: {} },
  };
  const changes = keyTransitions(obs);
  const ackedIds = new Set<string>();
  const groups = new Map<string, LossGroup>();
  for (const ack of acks) {
    ackedIds.add(ack.id);
    const holders = possibleHolders(obs, ack.sentAt, ack.ackAt);
    const nonHolder = holders !== null && !holders.has(ack.member);
    if (holders === null) acc.unjudged++;
    if (nonHolder) {
      acc.nonHolderAcks++;
      bump(acc.nonHolderByMember, ack.member);
      bump(acc.nonHolderByFault, faultAt(faults, ack.ackAt));
    }
    if (books.ledgerIds.has(ack.id)) continue;
    const cause = lossCause(ack, changes, nonHolder);
    acc.missing++;
    causes[cause]++;
    // Acks made while the key stayed in one state share their story: one group each.
    const epoch = changes.filter((t) => t.firstSeenAfter <= ack.ackAt).length;
    const key = `${cause}|${ack.member}|${epoch}`;
    const group = groups.get(key) ?? { cause, member: ack.member, count: 0, sample: [], firstAckAt: ack.ackAt, lastAckAt: ack.ackAt, keyHistory: [] };
    group.count++;
    if (group.sample.length < 5) group.sample.push(ack.id);
    group.lastAckAt = ack.ackAt;
    groups.set(key, group);
  }
  for (const g of groups.values()) {
    g.keyHistory = changes.filter((t) => t.firstSeenAfter >= g.firstAckAt - 30_000 && t.lastSeenBefore <= g.lastAckAt + 60_000);
    acc.losses.push(g);
  }
  for (const id of books.ledgerIds) if (!ackedIds.has(id)) acc.inDoubtKept++;
  for (const err of errors) {
    const f = faultAt(faults, err.at);
    bump(acc.errorsByFault, f);
    bump((acc.errorKindsByFault[f] ??= {}), err.kind);
  }
  const times = acks.map((a) => a.ackAt).sort((a, b) => a - b);
  faults.forEach((f, i) => {
    const end = faults[i + 1]?.startedAt ?? input.endedAt;
    acc.longestGapByFault[f.name] = longestGap(times, f.startedAt, end);
  });
  return acc;
}
