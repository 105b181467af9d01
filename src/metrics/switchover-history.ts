// The switchovers the router held new read-write sessions for (PURE; issue 13), as part of the
// leader history: when the hold began, and how it ended. A hold begins with the first view in
// which Patroni's switchover intent is due for the last confirmed primary (routing/switchover.ts;
// the view may come after the fact, e.g. a scheduled switchover first seen when the leader key
// goes, so the start is the intent's own due time). It ends with the next confirmed primary:
// another member (completed), or the same one (abandoned), once the intent is gone or when it
// is confirmed again after an outage (leaderStep names the outcome).
import type { ListenerConfig } from '../config/types.js';
import type { ClusterView } from '../view/cluster-view.js';
import type { LeaderChange } from '../http/types.js';
import { outgoingMember, SWITCHOVER_STALE_MS, switchoverDueSince, switchoverHold } from '../routing/switchover.js';

export interface TrackedSwitchover {
  readonly from: string;
  readonly to: string | null;
  /** Epoch ms since when new RW sessions were held. */
  readonly since: number;
  /** The listeners' held_total when it began: held clients = held_total at the end − this. */
  readonly heldAtStart: number;
}

/**
 * Whether a switchover holds new sessions anywhere: some primary listener has on_switchover: hold
 * (the default). With route everywhere the outgoing leader keeps taking them, and there is no
 * hold to show, time or count.
 */
export function holdsForSwitchovers(listeners: readonly ListenerConfig[]): boolean {
  return listeners.some((l) => l.role === 'primary' && l.on_switchover === 'hold');
}

/** A switchover that starts holding with this view, or null. `lastConfirmed`: the last confirmed primary. */
export function switchoverStart(view: ClusterView, lastConfirmed: string | null, now: number, heldTotal: number): TrackedSwitchover | null {
  const intent = view.switchover ?? null;
  if (intent === null || lastConfirmed === null) return null;
  if ((outgoingMember(view, intent) ?? lastConfirmed) !== lastConfirmed || intent.to === lastConfirmed) return null;
  const since = switchoverDueSince(intent, now);
  if (since === null || now - since > SWITCHOVER_STALE_MS) return null;
  return Object.freeze({ from: lastConfirmed, to: intent.to, since, heldAtStart: heldTotal });
}

/** What a finished hold adds to the leader change that ends it. */
export function heldFields(sw: TrackedSwitchover, now: number, heldTotal: number): Pick<LeaderChange, 'held_ms' | 'held_clients'> {
  return { held_ms: Math.max(0, now - sw.since), held_clients: Math.max(0, heldTotal - sw.heldAtStart) };
}

/**
 * The hold is over although the primary did not change: Patroni cleared the intent (or it went
 * stale) and the outgoing leader takes new sessions again. The entry for the leader history.
 */
export function abandonedEntry(sw: TrackedSwitchover, view: ClusterView, now: number, heldTotal: number): LeaderChange | null {
  if (view.primary !== sw.from || switchoverHold(view, now) !== null) return null;
  const target = sw.to === null ? 'a replica' : sw.to;
  return {
    at: now,
    from: sw.from,
    to: sw.from,
    reason: `switchover to ${target} abandoned; ${sw.from} takes new sessions again`,
    generation: view.generation,
    outage_ms: 0,
    ...heldFields(sw, now, heldTotal),
  };
}
