// Shapes the primary and the workers exchange inside `reply` messages (plain JSON data).
import type { ListenerTraffic, RelayReport } from '../sessions/types.js';

/** A worker's answer to `query { what: 'stats' }`: everything the stats page and exporter read. */
export interface WorkerReport {
  readonly pid: number;
  /** Config generation the worker runs (bumped by every reload). */
  readonly generation: number;
  /** Draining after a reload: no longer accepting, waiting for its sessions to end. */
  readonly draining: boolean;
  /** Sessions with a backend (connecting or relaying). */
  readonly sessions: number;
  readonly addresses: Readonly<Record<string, { host: string; port: number }>>;
  /** Per listener, CancelRequests by outcome included. */
  readonly traffic: Readonly<Record<string, ListenerTraffic>>;
  /** The worker's relay engine (each worker picks its own, config.relay) and what it did. */
  readonly relay: RelayReport;
  /** ssl: terminate listeners: the notAfter of the certificate this worker presents (epoch seconds). */
  readonly tls_cert_expiry?: Readonly<Record<string, number>>;
}

/** One row per worker process, for logs, tests and a future /stats worker table. */
export interface WorkerInfo {
  readonly id: number;
  readonly pid: number | null;
  readonly generation: number;
  readonly state: WorkerState;
  readonly startedAt: number;
  readonly report: WorkerReport | null;
}

/**
 * starting: forked, not yet bound; ready: accepting; draining: reload, keeps its sessions;
 * stopping: shutdown, closing its sessions after the grace period.
 */
export type WorkerState = 'starting' | 'ready' | 'draining' | 'stopping';
