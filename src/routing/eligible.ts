// Which members may take new sessions of a listener, and which may hold its existing ones (PURE).
import type { ListenerConfig } from '../config/types.js';
import type { ClusterView, MemberView } from '../view/cluster-view.js';
import { listenerCheck, notSyncStandby, sessionVerdict } from './kill.js';
import { switchoverHold } from './switchover.js';

/**
 * Operator override per member name (HAProxy "set server state"): drain and maint both stop
 * new sessions; existing ones are left to sessionsToKill / the operator.
 */
export type AdminState = 'ready' | 'drain' | 'maint';
export const ADMIN_STATES: readonly AdminState[] = ['ready', 'drain', 'maint'];
export type AdminStates = Readonly<Record<string, AdminState>>;

/**
 * A member's admin state. Member names come from outside (etcd, the operator), and states
 * arrive as parsed JSON (IPC, HTTP): only an own property counts, so a member named
 * "constructor" or "__proto__" is not mistaken for one with a state (issue 10).
 */
export function adminStateOf(states: AdminStates | undefined, member: string): AdminState {
  return states !== undefined && Object.hasOwn(states, member) ? (states[member] ?? 'ready') : 'ready';
}

/** A null-prototype copy of `states`: assigning any member name to it stays a plain entry. */
export function adminStatesCopy(states: AdminStates): Record<string, AdminState> {
  return Object.assign(Object.create(null) as Record<string, AdminState>, states);
}

export interface Eligible {
  readonly members: readonly MemberView[];
  /** True when a replica listener fell back to the primary because no replica is fit. */
  readonly usingFallback: boolean;
}

const NONE: Eligible = Object.freeze({ members: Object.freeze([]), usingFallback: false });

function takesNewSessions(member: MemberView, adminStates: AdminStates | undefined): boolean {
  return adminStateOf(adminStates, member.name) === 'ready';
}

function primaryMember(view: ClusterView): MemberView | undefined {
  return view.primary === null ? undefined : view.members.find((m) => m.name === view.primary);
}

/**
 * A member fit for new sessions of a replica, sync or read_only listener: not tagged
 * noloadbalance, named in the `sync` key for a sync listener, and up on the listener's check
 * (kill.ts: the same rules judge its sessions). The confirmed primary only for a read_only
 * listener, whatever its tags: Patroni's /read-only answers 200 on the leader.
 */
function isFit(view: ClusterView, listener: ListenerConfig, member: MemberView): boolean {
  if (member.name === view.primary) return listener.role === 'read_only';
  if (member.noloadbalance || notSyncStandby(view, listener, member)) return false;
  return listenerCheck(listener, member)?.up === true;
}

/**
 * Members that may take a new session of `listener`. Fails closed: a primary listener gets
 * only the confirmed primary (view.primary), never a leader-key holder that is not confirmed,
 * and, with on_switchover: hold, not while a due switchover moves the leadership away from it
 * (switchover.ts; `now` defaults to the view's own time).
 */
export function eligibleBackends(view: ClusterView, listener: ListenerConfig, adminStates?: AdminStates, now: number = view.at): Eligible {
  const primary = primaryMember(view);
  if (listener.role === 'primary') {
    const held = listener.on_switchover === 'hold' && switchoverHold(view, now) !== null;
    const usable = primary && takesNewSessions(primary, adminStates) && !held;
    return usable ? { members: [primary], usingFallback: false } : NONE;
  }
  const fit = view.members.filter((m) => isFit(view, listener, m) && takesNewSessions(m, adminStates));
  if (fit.length > 0) return { members: fit, usingFallback: false };
  // A read_only listener has no fallback: the primary is one of its members already.
  if (listener.fallback === 'primary' && primary && takesNewSessions(primary, adminStates)) {
    return { members: [primary], usingFallback: true };
  }
  return NONE;
}

/**
 * Members to send a CancelRequest to when its key is unknown here (the session lives in another
 * worker or router instance): every member that may currently hold a session of this listener,
 * by the same rule that kills sessions (kill.ts sessionVerdict). PostgreSQL ignores a cancel
 * with a wrong key, so a broadcast is safe; picking one at random (what HAProxy does) loses it.
 */
export function cancelTargets(view: ClusterView, listener: ListenerConfig): MemberView[] {
  const targets = view.members.filter((m) => m.name !== view.primary && sessionVerdict(view, listener, { backend: m.name }) === null);
  // The primary, last: RW sessions, RO fallback ones, and with on_marked_down: keep, the
  // sessions of a replica that was promoted under them.
  const primary = primaryMember(view);
  if (primary && (listener.role === 'primary' || listener.role === 'read_only' || listener.fallback === 'primary' || listener.on_marked_down === 'keep')) targets.push(primary);
  return targets;
}
