// The confirmed primary over time (PURE): the last changes, and how long the cluster had no
// confirmed primary. This is the number the product is judged on (write outage during a
// switchover or a crash), so it is measured from the views the router acts on.
//
// Time before the first confirmation does not count: a router that just started has no
// primary yet, but the cluster had one all along.
import type { ClusterView } from '../view/cluster-view.js';
import type { LeaderChange } from '../http/types.js';
import { abandonedEntry, heldFields, switchoverStart, type TrackedSwitchover } from './switchover-history.js';

export const LEADER_HISTORY_MAX = 20;

export interface LeaderHistoryState {
  /** Newest first, at most LEADER_HISTORY_MAX. */
  readonly changes: readonly LeaderChange[];
  /** view.primary of the last view taken. */
  readonly primary: string | null;
  /** The last member that was the confirmed primary (stays set through an outage). */
  readonly lastConfirmed: string | null;
  readonly generation: number;
  /** Epoch ms when the running period without a confirmed primary began; null when there is one (or before the first). */
  readonly outageStartedAt: number | null;
  /** Finished periods without a confirmed primary, in ms. */
  readonly noPrimaryMs: number;
  /** Times the confirmed primary became a different member than `lastConfirmed`. */
  readonly leaderChanges: number;
  /** A switchover new RW sessions are held for (switchover-history.ts); null when none. */
  readonly switchover?: TrackedSwitchover | null;
}

export const INITIAL_LEADER_HISTORY: LeaderHistoryState = Object.freeze({
  changes: Object.freeze([]),
  primary: null,
  lastConfirmed: null,
  generation: 0,
  outageStartedAt: null,
  noPrimaryMs: 0,
  leaderChanges: 0,
  switchover: null,
});

function push(changes: readonly LeaderChange[], change: LeaderChange): readonly LeaderChange[] {
  return Object.freeze([Object.freeze(change), ...changes.slice(0, LEADER_HISTORY_MAX - 1)]);
}

/**
 * Takes one view (ignored unless newer than the last one taken). `heldTotal`: the primary
 * listeners' held_total now, to count the clients a switchover held. `holds`: whether a
 * switchover holds new sessions at all (holdsForSwitchovers); when not, none is tracked.
 */
export function nextLeaderHistory(state: LeaderHistoryState, view: ClusterView, now: number, heldTotal = 0, holds = true): LeaderHistoryState {
  if (view.generation <= state.generation) return state;
  const tracked = state.switchover ?? (holds ? switchoverStart(view, state.lastConfirmed, now, heldTotal) : null);
  const next = primaryStep({ ...state, switchover: tracked }, view, now);
  if (!tracked) return next;
  const added = next.changes !== state.changes ? next.changes[0] : undefined;
  if (added && added.to !== null) {
    // The next confirmed primary ends the hold: that change carries the held time.
    const annotated = Object.freeze({ ...added, ...heldFields(tracked, now, heldTotal) });
    return { ...next, switchover: null, changes: Object.freeze([annotated, ...next.changes.slice(1)]) };
  }
  const abandoned = added ? null : abandonedEntry(tracked, view, now, heldTotal);
  return abandoned ? { ...next, switchover: null, changes: push(next.changes, abandoned) } : next;
}

function primaryStep(state: LeaderHistoryState, view: ClusterView, now: number): LeaderHistoryState {
  const to = view.primary;
  const from = state.primary;
  if (to === from) return { ...state, generation: view.generation };
  const base = { at: now, from, to, reason: view.primary_reason, generation: view.generation };

  if (to === null) {
    // A loss: the outage starts now (only once a primary was ever confirmed).
    return { ...state, primary: null, generation: view.generation, changes: push(state.changes, { ...base, outage_ms: null }), outageStartedAt: now };
  }
  const changedMember = state.lastConfirmed !== null && to !== state.lastConfirmed;
  const leaderChanges = state.leaderChanges + (changedMember ? 1 : 0);
  if (state.lastConfirmed === null) {
    // The first confirmation since start: no outage ended here.
    return { ...state, primary: to, lastConfirmed: to, generation: view.generation, changes: push(state.changes, { ...base, outage_ms: null }) };
  }
  // Either the end of an outage, or a direct move from one primary to another (0 ms).
  const outageMs = state.outageStartedAt === null ? 0 : Math.max(0, now - state.outageStartedAt);
  return {
    ...state,
    primary: to,
    lastConfirmed: to,
    generation: view.generation,
    changes: push(state.changes, { ...base, outage_ms: outageMs }),
    outageStartedAt: null,
    noPrimaryMs: state.noPrimaryMs + outageMs,
    leaderChanges,
  };
}

/** Total ms without a confirmed primary since the first confirmation, the running outage included. */
export function noPrimaryMsTotal(state: LeaderHistoryState, now: number): number {
  return state.noPrimaryMs + (state.outageStartedAt === null ? 0 : Math.max(0, now - state.outageStartedAt));
}

export interface LeaderStep {
  readonly leaderChanged: boolean;
  readonly outageEndedMs: number | null;
  /** A switchover hold that began with this step. */
  readonly switchoverStarted: TrackedSwitchover | null;
  /** The change that ended a switchover hold (it has held_ms). */
  readonly switchoverEnded: LeaderChange | null;
  /**
   * How it ended: completed (another member leads now) or abandoned (the leader it started from
   * takes new sessions again: the entry from it to itself, or its confirmation after an outage).
   */
  readonly switchoverOutcome: 'completed' | 'abandoned' | null;
}

/** What one step did, for the exporter and the log: a leader change (+1), an outage that ended, a switchover hold. */
export function leaderStep(prev: LeaderHistoryState, next: LeaderHistoryState): LeaderStep {
  const added = next.changes !== prev.changes ? next.changes[0] : undefined;
  const sw = next.switchover ?? null;
  const leaderChanged = next.leaderChanges > prev.leaderChanges;
  const ended = added?.held_ms !== undefined ? added : null;
  return {
    leaderChanged,
    // An abandoned switchover's entry (from === to) ends no outage.
    outageEndedMs: added && added.to !== null && added.from !== added.to ? added.outage_ms : null,
    switchoverStarted: sw !== null && sw !== (prev.switchover ?? null) ? sw : null,
    switchoverEnded: ended,
    // A hold is tracked from the last confirmed primary, so only a change of member completes it.
    switchoverOutcome: ended === null ? null : leaderChanged ? 'completed' : 'abandoned',
  };
}
