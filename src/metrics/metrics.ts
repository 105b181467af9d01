// Every Prometheus metric pgrouter exports, declared here and nowhere else (docs/metrics.md
// describes each one). Names are pgrouter_<part>_<name>_<unit>; counters end in _total.
//
// Metrics live in a registry passed in, never prom-client's global one, so tests and (later)
// cluster workers each have their own.
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Failover-sized buckets: a switchover takes ~1 s, a crash up to the Patroni ttl (10-30 s). */
export const OUTAGE_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60];
/** Patroni REST answers in ms on a LAN; checks.timeout is 1-2 s. */
export const PROBE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface MetricsOptions {
  readonly register: Registry;
  /** Also export prom-client's process_* and nodejs_* metrics (default true). */
  readonly processMetrics?: boolean;
  /** Export the etcd metrics (default true); false in static mode, where they would only say 0. */
  readonly etcd?: boolean;
  /** pgrouter's version, for pgrouter_build_info. */
  readonly version: string;
  /**
   * Called before sampled metrics are read at scrape time (the traffic counters, the running
   * no-primary time, the etcd status). Installed as their prom-client `collect` hook.
   */
  readonly sample?: () => void;
}

export type Metrics = ReturnType<typeof declareMetrics>;

export function declareMetrics(opts: MetricsOptions) {
  const registers = [opts.register];
  const sample = opts.sample;
  // All sampled metrics share one hook; RouterMetrics makes it run once per scrape.
  const collect = sample
    ? function collect(): void {
        sample();
      }
    : undefined;
  const sampled = collect ? { collect } : {};
  const etcdRegisters = opts.etcd === false ? [] : registers;
  const L = ['listener'] as const;
  const LB = ['listener', 'backend'] as const;

  const m = {
    // ---- listeners (sampled from the data path's traffic counters) ---------------------------
    listenerCurrentSessions: new Gauge({
      name: 'pgrouter_listener_current_sessions',
      help: 'Client connections open on the listener now, in any phase (handshake, queued, held, relaying).',
      labelNames: L,
      registers,
      ...sampled,
    }),
    listenerSessions: new Counter({
      name: 'pgrouter_listener_sessions_total',
      help: 'Client connections accepted by the listener.',
      labelNames: L,
      registers,
      ...sampled,
    }),
    listenerQueuedSessions: new Gauge({
      name: 'pgrouter_listener_queued_sessions',
      help: 'Clients waiting in the maxconn queue of the listener.',
      labelNames: L,
      registers,
      ...sampled,
    }),
    listenerHeldSessions: new Gauge({
      name: 'pgrouter_listener_held_sessions',
      help: 'Clients held for a backend now: none to route to, a switchover held for, or a paused listener.',
      labelNames: L,
      registers,
      ...sampled,
    }),
    listenerRefusals: new Counter({
      name: 'pgrouter_listener_refusals_total',
      help: 'Clients closed before their session was relayed, by reason (no_backend, queue_timeout, invalid_startup, ...).',
      labelNames: ['listener', 'reason'] as const,
      registers,
      ...sampled,
    }),
    listenerClosedSessions: new Counter({
      name: 'pgrouter_listener_closed_sessions_total',
      help: 'Relayed sessions that ended, by reason (client_closed, server_closed, client_timeout, killed_not_primary, ...).',
      labelNames: ['listener', 'reason'] as const,
      registers,
      ...sampled,
    }),
    listenerInBytes: new Counter({
      name: 'pgrouter_listener_in_bytes_total',
      help: 'Bytes relayed from clients to servers.',
      labelNames: L,
      registers,
      ...sampled,
    }),
    listenerOutBytes: new Counter({
      name: 'pgrouter_listener_out_bytes_total',
      help: 'Bytes relayed from servers to clients.',
      labelNames: L,
      registers,
      ...sampled,
    }),
    cancelRequests: new Counter({
      name: 'pgrouter_proxy_cancel_requests_total',
      help: 'CancelRequests by the listener they arrived on and outcome: exact, broadcast, no_target, dropped_unknown, dropped_limit, forwarded_peer, send_failed_<error>.',
      labelNames: ['listener', 'outcome'] as const,
      registers,
      ...sampled,
    }),

    // ---- backends per listener (sampled traffic; state set on every view / admin change) ------
    backendUp: new Gauge({
      name: 'pgrouter_backend_up',
      help: '1 when the member may take new sessions of the listener (eligible, admin state ready), else 0.',
      labelNames: LB,
      registers,
    }),
    backendState: new Gauge({
      name: 'pgrouter_backend_state',
      help: '1 for the member\'s current state on the listener (UP, DOWN, DRAIN, MAINT), 0 for the others.',
      labelNames: ['listener', 'backend', 'state'] as const,
      registers,
    }),
    backendCurrentSessions: new Gauge({
      name: 'pgrouter_backend_current_sessions',
      help: 'Sessions relaying to the member now.',
      labelNames: LB,
      registers,
      ...sampled,
    }),
    backendMaxSessions: new Gauge({
      name: 'pgrouter_backend_max_sessions',
      help: 'Highest pgrouter_backend_current_sessions since start.',
      labelNames: LB,
      registers,
      ...sampled,
    }),
    backendSessions: new Counter({
      name: 'pgrouter_backend_sessions_total',
      help: 'Sessions relayed to the member.',
      labelNames: LB,
      registers,
      ...sampled,
    }),
    backendConnectErrors: new Counter({
      name: 'pgrouter_backend_connect_errors_total',
      help: 'Failed backend connections (refused, timeout, 57P03 at startup); the client was moved on or held.',
      labelNames: LB,
      registers,
      ...sampled,
    }),
    backendKilledSessions: new Counter({
      name: 'pgrouter_backend_killed_sessions_total',
      help: 'Relaying sessions the router closed, by reason (not_primary, marked_down, not_sync, admin, drain_timeout).',
      labelNames: ['listener', 'backend', 'reason'] as const,
      registers,
      ...sampled,
    }),
    backendInBytes: new Counter({
      name: 'pgrouter_backend_in_bytes_total',
      help: 'Bytes relayed from clients to the member.',
      labelNames: LB,
      registers,
      ...sampled,
    }),
    backendOutBytes: new Counter({
      name: 'pgrouter_backend_out_bytes_total',
      help: 'Bytes relayed from the member to clients.',
      labelNames: LB,
      registers,
      ...sampled,
    }),

    // ---- members (from views and probes) ------------------------------------------------------
    backendRole: new Gauge({
      name: 'pgrouter_backend_role',
      help: 'Role the member published in etcd (or derived from probes in static mode): 1 for the current role.',
      labelNames: ['backend', 'role'] as const,
      registers,
    }),
    backendReplicationLag: new Gauge({
      name: 'pgrouter_backend_replication_lag_bytes',
      help: 'Replication lag of the member behind the leader\'s last known optime, when known.',
      labelNames: ['backend'] as const,
      registers,
    }),
    probeDuration: new Histogram({
      name: 'pgrouter_backend_probe_duration_seconds',
      help: 'Duration of Patroni REST probes, by check (primary, replica:<max_lag>, sync:<max_lag>, read_only:<max_lag>), failed ones included.',
      labelNames: ['backend', 'check'] as const,
      buckets: PROBE_BUCKETS,
      registers,
    }),
    probeFailures: new Counter({
      name: 'pgrouter_backend_probe_failures_total',
      help: 'Probes that did not answer 200 (503, timeout, connection error), by check.',
      labelNames: ['backend', 'check'] as const,
      registers,
    }),

    // ---- the cluster ----------------------------------------------------------------------
    primaryConfirmed: new Gauge({
      name: 'pgrouter_cluster_primary_confirmed',
      help: '1 while there is a confirmed primary (leader key holder confirmed by /primary), else 0.',
      registers,
    }),
    leaderChanges: new Counter({
      name: 'pgrouter_cluster_leader_changes_total',
      help: 'Times the confirmed primary became a different member than the previous confirmed one.',
      registers,
    }),
    noPrimarySeconds: new Counter({
      name: 'pgrouter_cluster_no_primary_seconds_total',
      help: 'Time without a confirmed primary since the first confirmation (the running outage included).',
      registers,
      ...sampled,
    }),
    outageDuration: new Histogram({
      name: 'pgrouter_cluster_outage_duration_seconds',
      help: 'Each period without a confirmed primary, observed when a primary is confirmed again (0 for a direct move).',
      buckets: OUTAGE_BUCKETS,
      registers,
    }),
    viewGeneration: new Gauge({
      name: 'pgrouter_cluster_view_generation',
      help: 'Generation of the last published ClusterView (bumps on every change the router acts on).',
      registers,
    }),
    etcdConnected: new Gauge({
      name: 'pgrouter_etcd_connected',
      help: '1 while the etcd watch is connected and the prefix readable (etcd mode only).',
      registers: etcdRegisters,
      ...sampled,
    }),
    etcdLastResync: new Gauge({
      name: 'pgrouter_etcd_last_resync_timestamp_seconds',
      help: 'Unix time of the last full read of the Patroni prefix in etcd (etcd mode only).',
      registers: etcdRegisters,
      ...sampled,
    }),
    // ---- the byte relay (issue 12) -------------------------------------------------------------
    relayEngine: new Gauge({
      name: 'pgrouter_relay_engine',
      help: 'Data-path processes relaying with this engine (native: the relay thread of the addon; js: Node streams). 1 for the engine in use with workers: 1, the number of workers using it in cluster mode.',
      labelNames: ['engine'] as const,
      registers,
      ...sampled,
    }),
    // ---- TLS termination (issue 11) ------------------------------------------------------------
    tlsCertExpiry: new Gauge({
      name: 'pgrouter_tls_cert_expiry_timestamp_seconds',
      help: 'Unix time when the certificate a listener with ssl: terminate presents expires (the leaf notAfter).',
      labelNames: L,
      registers,
      ...sampled,
    }),
    // ---- the process layout ------------------------------------------------------------------
    workerRespawns: new Counter({
      name: 'pgrouter_worker_respawns_total',
      help: 'Data-path worker processes that exited unasked and were replaced (workers > 1; always 0 with workers: 1).',
      registers,
      ...sampled,
    }),
    // ---- planned maintenance (issue 13) -------------------------------------------------------
    listenerPaused: new Gauge({
      name: 'pgrouter_listener_paused',
      help: '1 while the operator has paused the listener (new clients held, /health/<listener> 503), else 0.',
      labelNames: L,
      registers,
      ...sampled,
    }),
    listenerHeldTotal: new Counter({
      name: 'pgrouter_listener_held_sessions_total',
      help: 'Clients held for a backend (no backend, a switchover, a paused listener), each counted once.',
      labelNames: L,
      registers,
      ...sampled,
    }),
    switchoverHold: new Histogram({
      name: 'pgrouter_cluster_switchover_hold_seconds',
      help: 'How long new RW sessions were held for each switchover (announced and due until the new leader was confirmed, or Patroni gave up).',
      buckets: OUTAGE_BUCKETS,
      registers,
    }),
    switchovers: new Counter({
      name: 'pgrouter_cluster_switchovers_total',
      help: 'Switchovers new RW sessions were held for, by outcome (completed, abandoned).',
      labelNames: ['outcome'] as const,
      registers,
    }),

    // ---- faults (issue 10) ------------------------------------------------------------------
    discoveryErrors: new Counter({
      name: 'pgrouter_discovery_errors_total',
      help: 'Exceptions caught in discovery callbacks (a bug), by where; the router ran on with its last view.',
      labelNames: ['where'] as const,
      registers,
    }),

    buildInfo: new Gauge({
      name: 'pgrouter_build_info',
      help: 'Always 1; labels carry the pgrouter and Node.js versions.',
      labelNames: ['version', 'nodejs'] as const,
      registers,
    }),
  };
  m.buildInfo.set({ version: opts.version, nodejs: process.version }, 1);
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: opts.register });
  return m;
}
