import { describe, expect, it } from 'vitest';
import type { ClusterView, SwitchoverIntent } from '../../../src/view/cluster-view.js';
import type { LeaderChange } from '../../../src/http/types.js';
import {
  INITIAL_LEADER_HISTORY,
  LEADER_HISTORY_MAX,
  leaderStep,
  nextLeaderHistory,
  noPrimaryMsTotal,
  type LeaderHistoryState,
} from '../../../src/metrics/leader-history.js';
import { member, view } from '../proxy/helpers/view.js';

const members = [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3' })];

/** Feeds (primary, at) steps as views of increasing generation, from the initial state. */
function run(steps: ReadonlyArray<readonly [string | null, number]>): { state: LeaderHistoryState; leaderChanges: number; outages: number[] } {
  let state = INITIAL_LEADER_HISTORY;
  let leaderChanges = 0;
  const outages: number[] = [];
  steps.forEach(([primary, at], i) => {
    const next = nextLeaderHistory(state, view(i + 1, members, primary), at);
    const step = leaderStep(state, next);
    if (step.leaderChanged) leaderChanges++;
    if (step.outageEndedMs !== null) outages.push(step.outageEndedMs);
    state = next;
  });
  return { state, leaderChanges, outages };
}

describe('nextLeaderHistory', () => {
  it('records the first confirmation at startup without counting the time before it as an outage', () => {
    const { state, leaderChanges, outages } = run([
      [null, 1_000],
      ['n1', 5_000],
    ]);
    expect(state.changes).toEqual([{ at: 5_000, from: null, to: 'n1', reason: 'n1 confirmed', generation: 2, outage_ms: null }]);
    expect(noPrimaryMsTotal(state, 9_000)).toBe(0);
    expect(leaderChanges).toBe(0);
    expect(outages).toEqual([]);
  });

  it('measures a switchover (primary → none → new primary) as one leader change and one outage', () => {
    const { state, leaderChanges, outages } = run([
      ['n1', 0],
      [null, 10_000],
      ['n2', 11_250],
    ]);
    expect(state.changes.map((c) => [c.from, c.to, c.outage_ms])).toEqual([
      [null, 'n2', 1_250],
      ['n1', null, null],
      [null, 'n1', null],
    ]);
    expect(state.noPrimaryMs).toBe(1_250);
    expect(state.outageStartedAt).toBeNull();
    expect(leaderChanges).toBe(1);
    expect(outages).toEqual([1_250]);
  });

  it('records a direct move from one primary to another with a 0 ms outage', () => {
    const { state, leaderChanges, outages } = run([
      ['n1', 0],
      ['n2', 3_000],
    ]);
    expect(state.changes[0]).toMatchObject({ from: 'n1', to: 'n2', outage_ms: 0, generation: 2 });
    expect(state.noPrimaryMs).toBe(0);
    expect(leaderChanges).toBe(1);
    expect(outages).toEqual([0]);
  });

  it('counts a running outage after a crash until a new primary is confirmed', () => {
    const crashed = run([
      ['n1', 0],
      [null, 20_000],
    ]).state;
    expect(crashed.outageStartedAt).toBe(20_000);
    expect(crashed.changes[0]).toMatchObject({ from: 'n1', to: null, outage_ms: null });
    expect(noPrimaryMsTotal(crashed, 27_500)).toBe(7_500);
    const recovered = nextLeaderHistory(crashed, view(3, members, 'n3'), 33_000);
    expect(recovered.changes[0]).toMatchObject({ from: null, to: 'n3', outage_ms: 13_000 });
    expect(noPrimaryMsTotal(recovered, 99_000)).toBe(13_000);
  });

  it('sums every outage of a flapping primary and counts a leader change only when the member changes', () => {
    const { state, leaderChanges, outages } = run([
      ['n1', 0],
      [null, 1_000],
      ['n1', 1_400],
      [null, 2_000],
      ['n1', 2_100],
      [null, 3_000],
      ['n2', 3_500],
    ]);
    expect(outages).toEqual([400, 100, 500]);
    expect(state.noPrimaryMs).toBe(1_000);
    expect(leaderChanges).toBe(1);
    expect(state.changes).toHaveLength(7);
    expect(state.changes[0]).toMatchObject({ to: 'n2', outage_ms: 500 });
  });

  it('keeps only the newest 20 changes, newest first', () => {
    const steps: Array<[string | null, number]> = [];
    for (let i = 0; i < 30; i++) steps.push([i % 2 === 0 ? 'n1' : null, i * 100]);
    const { state } = run(steps);
    expect(state.changes).toHaveLength(LEADER_HISTORY_MAX);
    expect(state.changes[0]?.generation).toBe(30);
    expect(state.changes[LEADER_HISTORY_MAX - 1]?.generation).toBe(11);
  });

  it('ignores a view that is not newer, and returns the same state when the primary did not change', () => {
    const one = nextLeaderHistory(INITIAL_LEADER_HISTORY, view(5, members, 'n1'), 0);
    expect(nextLeaderHistory(one, view(4, members, 'n2'), 10)).toBe(one);
    const same = nextLeaderHistory(one, view(6, members, 'n1'), 10);
    expect(same.changes).toBe(one.changes);
    expect(same.generation).toBe(6);
  });

  it('takes the reason from the view', () => {
    const v: ClusterView = { ...view(1, members, 'n2'), primary_reason: 'leader key n2 confirmed by /primary' };
    expect(nextLeaderHistory(INITIAL_LEADER_HISTORY, v, 0).changes[0]?.reason).toBe('leader key n2 confirmed by /primary');
  });
});

describe('nextLeaderHistory and switchovers (issue 13)', () => {
  const T = 1_000_000;
  const intent = (over: Partial<SwitchoverIntent> = {}): SwitchoverIntent => ({ from: 'n1', to: 'n2', scheduled_at: null, announced_at: T, ...over });
  /** Feeds (primary, intent, at, heldTotal) steps; returns the final state and what each step reported. */
  function steps(
    list: ReadonlyArray<readonly [string | null, SwitchoverIntent | null, number, number]>,
    holds = true,
  ): { state: LeaderHistoryState; ended: LeaderChange[]; outcomes: string[]; started: number } {
    let state = INITIAL_LEADER_HISTORY;
    const ended: LeaderChange[] = [];
    const outcomes: string[] = [];
    let started = 0;
    list.forEach(([primary, sw, at, held], i) => {
      const v: ClusterView = { ...view(i + 1, members, primary), mode: 'etcd', switchover: sw };
      const next = nextLeaderHistory(state, v, at, held, holds);
      const step = leaderStep(state, next);
      if (step.switchoverStarted) started++;
      if (step.switchoverEnded) ended.push(step.switchoverEnded);
      if (step.switchoverOutcome) outcomes.push(step.switchoverOutcome);
      state = next;
    });
    return { state, ended, outcomes, started };
  }

  it('adds the held time and the held clients to the change that confirms the new leader', () => {
    const { state, ended, started } = steps([
      ['n1', null, T - 10_000, 0],
      ['n1', intent(), T + 20, 3], // announced at T, seen a little later
      [null, intent(), T + 400, 5],
      [null, null, T + 900, 6], // the new leader took the key and cleared the failover key
      ['n2', null, T + 1_300, 9],
    ]);
    expect(started).toBe(1);
    expect(state.changes[0]).toMatchObject({ from: null, to: 'n2', outage_ms: 900, held_ms: 1_300, held_clients: 6 });
    expect(ended).toEqual([state.changes[0]]);
    expect(state.switchover).toBeNull();
    // The loss itself carries nothing: the hold is reported once, when it ends.
    expect(state.changes[1]).not.toHaveProperty('held_ms');
  });

  it('tracks no hold when no listener holds for a switchover (on_switchover: route everywhere)', () => {
    const { state, ended, started } = steps(
      [
        ['n1', null, T - 10_000, 0],
        ['n1', intent(), T, 0],
        [null, intent(), T + 400, 2],
        ['n2', null, T + 1_300, 4],
      ],
      false,
    );
    expect([started, ended, state.switchover]).toEqual([0, [], null]);
    expect(state.changes[0]).toMatchObject({ from: null, to: 'n2', outage_ms: 900 });
    expect(state.changes[0]).not.toHaveProperty('held_ms');
  });

  it('records an abandoned switchover as an entry from the leader to itself, with no outage', () => {
    const { state, ended } = steps([
      ['n1', null, T - 10_000, 0],
      ['n1', intent(), T, 0],
      ['n1', null, T + 700, 2],
    ]);
    expect(state.changes[0]).toMatchObject({ from: 'n1', to: 'n1', outage_ms: 0, held_ms: 700, held_clients: 2, reason: 'switchover to n2 abandoned; n1 takes new sessions again' });
    expect(ended).toHaveLength(1);
    expect(state.leaderChanges).toBe(0);
  });

  it('calls a switchover completed when another member leads, and abandoned when its leader is confirmed again after an outage', () => {
    const completed = steps([
      ['n1', null, T - 10_000, 0],
      ['n1', intent(), T, 0],
      [null, intent(), T + 400, 1],
      ['n2', null, T + 1_300, 2],
    ]);
    expect(completed.outcomes).toEqual(['completed']);
    // The candidate failed after the leader let go, and Patroni gave the key back to n1.
    const back = steps([
      ['n1', null, T - 10_000, 0],
      ['n1', intent(), T, 0],
      [null, intent(), T + 400, 1],
      ['n1', null, T + 2_000, 3],
    ]);
    expect(back.state.changes[0]).toMatchObject({ from: null, to: 'n1', outage_ms: 1_600, held_ms: 2_000, held_clients: 3 });
    expect(back.outcomes).toEqual(['abandoned']);
  });

  it('starts a scheduled switchover at its time, even when the first view after it is the leader going away', () => {
    const { state } = steps([
      ['n1', null, T - 10_000, 0],
      ['n1', intent({ scheduled_at: T + 60_000 }), T, 0],
      [null, intent({ scheduled_at: T + 60_000 }), T + 60_500, 0],
      ['n2', null, T + 61_000, 0],
    ]);
    expect(state.changes[0]).toMatchObject({ to: 'n2', held_ms: 1_000 });
  });

  it('ignores an intent that names another leader, and one not due yet', () => {
    const { state, started } = steps([
      ['n1', null, T - 10_000, 0],
      ['n1', intent({ from: 'n3' }), T, 0],
      ['n1', intent({ scheduled_at: T + 60_000 }), T + 1, 0],
      ['n1', null, T + 2, 0],
    ]);
    expect(started).toBe(0);
    expect(state.changes).toHaveLength(1);
  });

  it('does not count an abandoned switchover as an outage that ended', () => {
    const prev = steps([
      ['n1', null, T - 10_000, 0],
      ['n1', intent(), T, 0],
    ]).state;
    const next = nextLeaderHistory(prev, { ...view(3, members, 'n1'), mode: 'etcd', switchover: null }, T + 10, 0);
    expect(leaderStep(prev, next)).toMatchObject({ outageEndedMs: null, leaderChanged: false, switchoverEnded: { from: 'n1', to: 'n1' } });
  });
});
