// What a reloaded config does to the running listeners (PURE). DataPath.reconfigure applies it.
//
// A listener is identified by its name AND its bind: only then can its net.Server stay open,
// so that a reload never refuses a connection on it.
//   kept     same name, same bind: the socket stays; new settings apply to new sessions
//   changed  same name, new bind: the old socket stops accepting (its sessions run on), a new
//            one is bound; i.e. removed + added under one name
//   added    a new name
//   removed  a name that is gone: stops accepting; its sessions run on until they end
// `inherit` handles a bind that moves from one listener to another (a renamed listener, or
// two reloads' worth of shuffling): binding it again while the old socket still listens would
// fail with EADDRINUSE, so the new listener takes over the old one's open socket instead.
import type { ListenerConfig } from '../config/types.js';

export interface ListenerPlan {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
  readonly kept: string[];
  /** Kept listener → the settings that differ (role, balance, ...), for the reload log line. */
  readonly retuned: Record<string, string[]>;
  /** New listener (added or changed) → the retiring listener whose open socket it takes over. */
  readonly inherit: Record<string, string>;
}

type Bind = ListenerConfig['bind'];

function sameBind(a: Bind, b: Bind): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Port 0 asks the kernel for a fresh port each time: two such binds are never the same socket. */
function sameSocket(a: Bind, b: Bind): boolean {
  return a.port !== 0 && sameBind(a, b);
}

const SETTINGS = ['role', 'max_lag', 'balance', 'fallback', 'ssl', 'maxconn', 'on_marked_down', 'on_lag', 'on_switchover', 'proxy_protocol', 'allow', 'tls', 'server_tls'] as const satisfies ReadonlyArray<keyof ListenerConfig>;

/** Settings are plain data; the structured ones (proxy_protocol, allow, tls, server_tls) compare by content. */
function sameSetting(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

export function planListenerChanges(oldListeners: readonly ListenerConfig[], newListeners: readonly ListenerConfig[]): ListenerPlan {
  const before = new Map(oldListeners.map((l) => [l.name, l]));
  const after = new Set(newListeners.map((l) => l.name));
  const plan: ListenerPlan = { added: [], removed: [], changed: [], kept: [], retuned: {}, inherit: {} };
  /** Old listeners whose socket closes (removed, or moved to another bind). */
  const retiring: ListenerConfig[] = oldListeners.filter((l) => !after.has(l.name));
  const fresh: ListenerConfig[] = [];
  for (const l of newListeners) {
    const old = before.get(l.name);
    if (!old) {
      plan.added.push(l.name);
      fresh.push(l);
    } else if (!sameBind(old.bind, l.bind)) {
      plan.changed.push(l.name);
      retiring.push(old);
      fresh.push(l);
    } else {
      plan.kept.push(l.name);
      const diff = SETTINGS.filter((k) => !sameSetting(old[k], l[k]));
      if (diff.length > 0) plan.retuned[l.name] = diff;
    }
  }
  for (const l of oldListeners) if (!after.has(l.name)) plan.removed.push(l.name);
  for (const l of fresh) {
    const donor = retiring.find((r) => sameSocket(r.bind, l.bind));
    if (donor) plan.inherit[l.name] = donor.name;
  }
  return plan;
}
