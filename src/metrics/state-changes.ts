// When did each backend last change state on each listener (PURE)? The stats page shows it
// like HAProxy's "LastChk / last status change" column, so an operator sees at a glance what
// moved during an incident.
import type { BackendState } from '../http/types.js';

export interface StateChanges {
  /** Last state seen, by backendKey(). */
  readonly states: Readonly<Record<string, BackendState>>;
  /** Epoch ms of the last change, by backendKey(); the first sighting counts as a change. */
  readonly at: Readonly<Record<string, number>>;
}

export const NO_STATE_CHANGES: StateChanges = Object.freeze({ states: Object.freeze({}), at: Object.freeze({}) });

/**
 * Takes the states now. A key seen for the first time (or again, after its member had left the
 * view) or with another state than before is stamped `now`; a key that vanished keeps its stamp
 * until it comes back.
 */
export function nextStateChanges(prev: StateChanges, states: Readonly<Record<string, BackendState>>, now: number): StateChanges {
  let changed = false;
  const at: Record<string, number> = { ...prev.at };
  for (const [key, state] of Object.entries(states)) {
    if (prev.states[key] === state) continue;
    at[key] = now;
    changed = true;
  }
  const vanished = Object.keys(prev.states).some((key) => !(key in states));
  if (!changed && !vanished) return prev;
  return { states: { ...states }, at };
}
