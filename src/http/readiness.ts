// What /ready and /health/:listener answer. Pure functions of a snapshot, so the policies are
// table-tested without a router. Load balancers (Azure LB counts only 200 as healthy) and
// Kubernetes probes read the status code; the reason is for the operator reading the body.
import type { ReadyPolicy } from '../config/types.js';
import type { ListenerRow, StatsSnapshot } from './types.js';

export interface Verdict {
  readonly ok: boolean;
  readonly reason: string;
}

export function readiness(s: StatsSnapshot, policy: ReadyPolicy): Verdict {
  switch (policy) {
    case 'primary':
      return s.primary !== null
        ? { ok: true, reason: `confirmed primary ${s.primary} (${s.primary_reason})` }
        : { ok: false, reason: `no confirmed primary (${s.primary_reason})` };
    case 'replica':
      return replicaReadiness(s);
    case 'any': {
      const routing = s.listeners.filter((l) => l.can_route).map((l) => l.name);
      return routing.length > 0
        ? { ok: true, reason: `listeners that can route: ${routing.join(', ')}` }
        : { ok: false, reason: `no listener can route (${s.listeners.map((l) => l.name).join(', ') || 'none configured'})` };
    }
  }
}

/**
 * A fit replica is an UP backend of a replica listener that is not the primary: the primary
 * fallback keeps an RO listener routable, but an RO-only sidecar is not ready on it.
 */
function replicaReadiness(s: StatsSnapshot): Verdict {
  const replicaListeners = s.listeners.filter((l) => l.role === 'replica');
  const fit = new Set<string>();
  for (const l of replicaListeners) {
    for (const b of l.backends) if (b.state === 'UP' && b.name !== s.primary) fit.add(b.name);
  }
  if (fit.size > 0) return { ok: true, reason: `fit replicas: ${[...fit].sort().join(', ')}` };
  const names = replicaListeners.map((l) => l.name).join(', ');
  return { ok: false, reason: names === '' ? 'no replica listener configured' : `no fit replica on ${names}` };
}

export function listenerHealth(row: ListenerRow): Verdict {
  // Issue 13: a paused listener answers 503 so a load balancer in front moves new flows to
  // another router while this one holds its clients.
  if (row.paused) return { ok: false, reason: `listener ${row.name} is paused by the operator` };
  const up = row.backends.filter((b) => b.state === 'UP').map((b) => b.name);
  if (row.can_route) return { ok: true, reason: `can route (${up.length > 0 ? `up: ${up.join(', ')}` : 'fallback'})` };
  return { ok: false, reason: `no backend to route to on ${row.name} (${row.role})` };
}
