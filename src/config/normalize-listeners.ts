// listeners: one TCP port each, routing to the primary or to replicas (HAProxy `listen`).
// Keys that only mean something on replica listeners are rejected on primary ones: a key that
// silently does nothing is a misunderstanding waiting to happen.
import type { HostPort, ListenerConfig } from './types.js';
import type { RawListener } from './schema.js';
import type { KeyPath } from './path.js';
import { DEFAULTS } from './defaults.js';
import { bindAt, has, sizeAt, type Loose, type Report } from './normalize-values.js';
import { normalizeListenerTls } from './normalize-listener-tls.js';
import type { SecretContext } from './secrets.js';
import { normalizeAllow, normalizeProxyProtocol } from './normalize-access.js';

export interface NormalizedListener {
  readonly config: ListenerConfig;
  /** Null when the bind was missing or invalid (already reported); skipped by conflict checks. */
  readonly bind: HostPort | null;
  readonly path: KeyPath;
}

export function normalizeListeners(
  raw: readonly (Loose<RawListener> | undefined)[] | undefined,
  ctx: SecretContext,
  report: Report,
): NormalizedListener[] {
  const list: readonly (Loose<RawListener> | undefined)[] = raw ?? DEFAULTS.listeners;
  const out: NormalizedListener[] = [];
  const names = new Map<string, number>();
  list.forEach((l, i) => {
    if (l === undefined) return;
    const at: KeyPath = ['listeners', i];
    if (l.name !== undefined) {
      const first = names.get(l.name);
      if (first !== undefined) report([...at, 'name'], `listener name "${l.name}" is already used by listeners[${first}]`);
      else names.set(l.name, i);
    }
    const role = l.role ?? 'primary';
    if (l.role === 'primary') rejectReplicaOnlyKeys(l, at, report);
    else if (has(l, 'on_switchover')) report([...at, 'on_switchover'], 'only applies to primary listeners');
    // The leader already serves a read_only listener: there is nothing to fall back to.
    if (l.role === 'read_only' && l.fallback === 'primary') {
      report([...at, 'fallback'], 'fallback: primary does not apply to read_only listeners (the primary is one of their backends)');
    }
    const bind = bindAt(l.bind, [...at, 'bind'], report);
    const d = DEFAULTS.listener;
    const ssl = l.ssl ?? d.ssl;
    out.push({
      path: [...at, 'bind'],
      bind,
      config: {
        name: l.name ?? '',
        bind: bind ?? { host: '', port: 0 },
        role,
        // On a primary listener max_lag was rejected above; do not report its value twice.
        max_lag: l.role === 'primary' || l.max_lag === null ? null : sizeAt(l.max_lag, [...at, 'max_lag'], report),
        balance: l.balance ?? d.balance,
        fallback: l.fallback ?? d.fallback[role],
        ssl,
        ...normalizeListenerTls(l, at, ssl, ctx, report),
        maxconn: l.maxconn ?? d.maxconn,
        on_marked_down: l.on_marked_down ?? d.on_marked_down,
        on_lag: l.on_lag ?? d.on_lag,
        on_switchover: l.on_switchover ?? d.on_switchover,
        proxy_protocol: normalizeProxyProtocol(l.proxy_protocol, [...at, 'proxy_protocol'], report),
        allow: normalizeAllow(l.allow, [...at, 'allow'], report),
      },
    });
  });
  return out;
}

function rejectReplicaOnlyKeys(l: Loose<RawListener>, at: KeyPath, report: Report): void {
  if (has(l, 'max_lag')) report([...at, 'max_lag'], 'only applies to replica, sync and read_only listeners');
  if (has(l, 'on_lag')) report([...at, 'on_lag'], 'only applies to replica, sync and read_only listeners');
  if (l.fallback === 'primary') {
    report([...at, 'fallback'], 'fallback: primary only applies to replica listeners (a primary listener has no fallback)');
  }
}
