// What a pending switchover means for new read-write sessions (PURE; issue 13).
//
// Patroni writes its `failover` key BEFORE the leader demotes itself (ha.py
// process_manual_failover_from_leader), so between that write and the demotion a new session
// sent to the outgoing leader would be cut a moment later, or refused with 57P03 while it
// shuts down. While a switchover is announced and due, the outgoing leader therefore takes no
// NEW read-write session; new clients are held by the existing waiter (timeouts.connect_wait)
// until the new leader is confirmed, or until Patroni gives up and clears the key (then the
// old leader takes them again). Established sessions are left to on_marked_down, as always.
//
// Due: no scheduled_at, or scheduled_at has passed (Patroni acts at that time, never before:
// should_run_scheduled_action). Stale: a key due for longer than SWITCHOVER_STALE_MS that
// Patroni has not acted on (its own REST call gives up polling after 20 s, poll_failover_result)
// is ignored, so a forgotten key cannot block writes for good.
import type { ClusterView, SwitchoverIntent } from '../view/cluster-view.js';

/** How long after it became due an unanswered switchover intent still holds new RW sessions. */
export const SWITCHOVER_STALE_MS = 30_000;

/** Since when (epoch ms) the intent has been due at `now`; null while it is scheduled later. */
export function switchoverDueSince(intent: SwitchoverIntent, now: number): number | null {
  if (intent.scheduled_at !== null && now < intent.scheduled_at) return null;
  // A key first seen after its time (a router started late) counts from when we saw it.
  return Math.max(intent.scheduled_at ?? intent.announced_at, intent.announced_at);
}

/** The member the intent moves the leadership away from: its `leader`, or the current leader key holder. */
export function outgoingMember(view: ClusterView, intent: SwitchoverIntent): string | null {
  return intent.from ?? view.leader_key;
}

export interface SwitchoverHold {
  /** The outgoing leader, which takes no new read-write session now. */
  readonly member: string;
  /** Epoch ms since when new read-write sessions are held. */
  readonly since: number;
}

/**
 * The confirmed primary when a due, fresh switchover moves the leadership away from it; null
 * otherwise (no intent, scheduled later, stale, another member named as the leader, or the
 * candidate already leads).
 */
export function switchoverHold(view: ClusterView, now: number): SwitchoverHold | null {
  const intent = view.switchover ?? null;
  const primary = view.primary;
  if (intent === null || primary === null) return null;
  if (outgoingMember(view, intent) !== primary || intent.to === primary) return null;
  const since = switchoverDueSince(intent, now);
  if (since === null || now - since > SWITCHOVER_STALE_MS) return null;
  return { member: primary, since };
}
