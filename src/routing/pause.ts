// A listener paused by the operator (issue 13; pgbouncer's PAUSE/RESUME per port): new clients
// are held, as if the listener had no backend, up to `hold_ms`; established sessions are not
// touched. Plain data, set by the admin API in the router and sent to every data path (IPC in
// cluster mode), like the admin states of members.

export interface ListenerPause {
  /** Epoch ms when the pause began. */
  readonly since: number;
  /** How long a new client may be held while the listener is paused (the call's timeout, or timeouts.connect_wait). */
  readonly hold_ms: number;
}

/** Paused listeners by name; a listener not in it is not paused. */
export type PausedListeners = Readonly<Record<string, ListenerPause>>;

export const NO_PAUSES: PausedListeners = Object.freeze({});

/** The pause of `listener`, or null. Own properties only: a listener named "constructor" is not paused by the prototype. */
export function pauseOf(paused: PausedListeners, listener: string): ListenerPause | null {
  return Object.prototype.hasOwnProperty.call(paused, listener) ? (paused[listener] ?? null) : null;
}
