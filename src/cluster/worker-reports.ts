// Router-wide figures read from the workers' last reports (PURE): what the synchronous getters
// of the supervisor (stats page, exporter) show between refreshes.
import type { RelayReport } from '../sessions/types.js';
import type { WorkerReport } from './types.js';

/**
 * The certificates by listener: the earliest notAfter any of `current` (the serving generation)
 * reports. Each worker watches the files itself; one that has not rotated yet is the one to
 * alert on.
 */
export function earliestCertExpiry(current: readonly (WorkerReport | null)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of current) {
    for (const [listener, at] of Object.entries(r?.tls_cert_expiry ?? {})) out[listener] = Math.min(out[listener] ?? at, at);
  }
  return out;
}

/** Sessions per worker pid (StatsSnapshot.workers). */
export function sessionsByPid(reports: readonly WorkerReport[]): Record<string, number> {
  return Object.fromEntries(reports.map((r) => [String(r.pid), r.sessions]));
}

/** Relay engine per worker pid; a worker too old to report one is left out. */
export function relayByPid(reports: readonly WorkerReport[]): Record<string, RelayReport> {
  return Object.fromEntries(reports.flatMap((r) => (r.relay ? [[String(r.pid), r.relay]] : [])));
}
