import { describe, expect, it } from 'vitest';
import { accountPath, type FinalBooks } from '../../../bench/chaos/accounting.js';
import { possibleHolders, type KeyObservation } from '../../../bench/chaos/key-timeline.js';
import type { Ack, ClientError } from '../../../bench/chaos/workload.js';

/** Polls every 50 ms from t=0, each taking 5 ms; `holderAt(t)` decides what each one saw. */
function polls(until: number, holderAt: (t: number) => string | null): KeyObservation[] {
  const out: KeyObservation[] = [];
  for (let s = 0; s <= until; s += 50) out.push({ s, e: s + 5, holder: holderAt(s) });
  return out;
}

const ack = (id: string, member: string, at: number): Ack => ({ id, writer: 0, member, sentAt: at - 2, ackAt: at });

function books(ids: string[], over: Partial<FinalBooks> = {}): FinalBooks {
  return { leader: 'node2', ledgerIds: new Set(ids), balanceSum: 4000, expectedSum: 4000, ledgerMismatches: 0, ...over };
}

describe('possibleHolders', () => {
  const obs = polls(1000, (t) => (t < 500 ? 'node1' : 'node2'));

  it('gives the one holder every poll around a commit saw', () => {
    expect(possibleHolders(obs, 200, 210)).toEqual(new Set(['node1']));
  });

  it('gives both holders for a commit within one poll of a change of holder', () => {
    expect(possibleHolders(obs, 470, 480)).toEqual(new Set(['node1', 'node2']));
  });

  it('cannot judge a commit after the last poll', () => {
    expect(possibleHolders(obs, 2000, 2010)).toBeNull();
  });
});

describe('accountPath', () => {
  const noErrors: ClientError[] = [];
  const faults = [{ name: 'freeze', startedAt: 100 }];

  it('counts writes acknowledged after their member lost the key as non-holder writes, and their loss as the router’s, in one group', () => {
    const obs = polls(3000, (t) => (t < 1000 ? 'node1' : t < 1500 ? null : 'node2'));
    const acks = [ack('a', 'node1', 500), ack('b', 'node1', 1200), ack('b2', 'node1', 1300), ack('c', 'node2', 2000)];
    const acc = accountPath({ acks, errors: noErrors, faults, endedAt: 3000, obs, books: books(['a', 'c']) });
    expect(acc.nonHolderAcks).toBe(2);
    expect(acc.nonHolderByMember).toEqual({ node1: 2 });
    expect(acc.missing).toBe(2);
    expect(acc.missingByCause.non_holder).toBe(2);
    expect(acc.losses).toMatchObject([{ cause: 'non_holder', member: 'node1', count: 2, sample: ['b', 'b2'] }]);
  });

  it('blames Patroni for a loss when the key went back to the member it had been taken from', () => {
    const obs = polls(5000, (t) => (t < 1000 ? 'node1' : t < 1500 ? null : t < 3000 ? 'node2' : 'node1'));
    const acc = accountPath({ acks: [ack('x', 'node2', 2000)], errors: noErrors, faults, endedAt: 5000, obs, books: books([]) });
    expect(acc.nonHolderAcks).toBe(0);
    expect(acc.missingByCause.handed_back).toBe(1);
    expect(acc.losses).toMatchObject([{ cause: 'handed_back', member: 'node2', count: 1, sample: ['x'] }]);
    expect(acc.losses[0]?.keyHistory.map((t) => t.to)).toEqual([null, 'node2', 'node1']);
  });

  it('blames the failover, not Patroni, when the key went back to the former holder only after expiring', () => {
    const obs = polls(5000, (t) => (t < 1000 ? 'node1' : t < 1500 ? null : t < 3000 ? 'node2' : t < 3500 ? null : 'node1'));
    const acc = accountPath({ acks: [ack('x', 'node2', 2000)], errors: noErrors, faults, endedAt: 5000, obs, books: books([]) });
    expect(acc.missingByCause.failover).toBe(1);
  });

  it('blames the failover for a loss when the key moved on to a third member', () => {
    const obs = polls(5000, (t) => (t < 1000 ? 'node1' : t < 3000 ? 'node2' : 'node3'));
    const acc = accountPath({ acks: [ack('x', 'node2', 2000)], errors: noErrors, faults, endedAt: 5000, obs, books: books([]) });
    expect(acc.missingByCause.failover).toBe(1);
  });

  it('counts kept rows nobody saw acknowledged, client errors per fault, and the longest gap between commits', () => {
    const obs = polls(3000, () => 'node1');
    const acks = [ack('a', 'node1', 50), ack('b', 'node1', 400), ack('c', 'node1', 2400)];
    const errors: ClientError[] = [
      { at: 60, writer: 0, kind: '57P01', message: 'terminated', inCommit: false },
      { at: 500, writer: 0, kind: '57P01', message: 'terminated', inCommit: true },
    ];
    const acc = accountPath({ acks, errors, faults, endedAt: 2500, obs, books: books(['a', 'b', 'c', 'in-doubt']) });
    expect(acc.inDoubtKept).toBe(1);
    expect(acc.errorsByFault).toEqual({ 'warm-up': 1, freeze: 1 });
    expect(acc.longestGapByFault.freeze).toBe(2);
  });

  it('says when the books do not balance or a balance disagrees with its ledger', () => {
    const acc = accountPath({ acks: [], errors: noErrors, faults, endedAt: 10, obs: [], books: books([], { balanceSum: 3990, ledgerMismatches: 2 }) });
    expect(acc.booksBalance).toBe(false);
    expect(acc.ledgerMatches).toBe(false);
  });
});
