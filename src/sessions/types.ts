// What the data path reports about its sessions: traffic per listener and per backend, and the
// live session list. The sessions part owns these shapes (TrafficCounter and the registry fill
// them); the planes, metrics and the HTTP surface read them. Plain JSON data: in cluster mode
// every worker sends its own over IPC and the primary sums them (cluster/aggregate.ts).

/** Per listener, per backend member: counted by the data path. */
export interface BackendTraffic {
  /** Sessions open now. */
  readonly current: number;
  /** Highest `current` seen since start. */
  readonly max: number;
  /** Sessions relayed since start. */
  readonly total: number;
  /** Bytes client → server and server → client. */
  readonly bytes_in: number;
  readonly bytes_out: number;
  readonly connect_errors: number;
  /** Sessions killed by reason (not_primary, marked_down, admin). */
  readonly killed: Readonly<Record<string, number>>;
}

export interface ListenerTraffic {
  readonly current: number;
  readonly total: number;
  readonly queued: number;
  readonly held: number;
  /** Clients that were held for a backend (no backend, a switchover, a paused listener) since start; each counted once. */
  readonly held_total?: number;
  readonly bytes_in: number;
  readonly bytes_out: number;
  /** Clients closed before their session reached the relay, by RefusalReason (close-reason.ts). */
  readonly refusals: Readonly<Record<string, number>>;
  /** Relayed sessions that ended, by EndReason (client_closed, server_timeout, killed_not_primary, ...). */
  readonly closed: Readonly<Record<string, number>>;
  readonly backends: Readonly<Record<string, BackendTraffic>>;
  /**
   * CancelRequests that arrived on the listener, by outcome (exact, broadcast, no_target,
   * dropped_unknown, dropped_limit, forwarded_peer, send_failed_<error>; issue 10). Absent: none.
   */
  readonly cancels?: Readonly<Record<string, number>>;
}

/** One live session, for the admin API's session list. */
export interface SessionInfo {
  readonly id: string;
  readonly listener: string;
  readonly backend: string;
  readonly backend_address: string;
  readonly client_address: string;
  readonly started_at: number;
  readonly bytes_in: number;
  readonly bytes_out: number;
  /** Azure Private Link's LINKID from the client's PROXY v2 header; absent when none was sent. */
  readonly link_id?: number;
}

// ---- the byte relay (issue 12) ------------------------------------------------------------

/**
 * Bytes a relay moved and counts elsewhere than in the session's record: the native relay's
 * thread writes them into a table shared with JS. Read when someone asks (stats, metrics, the
 * session list), never per chunk; folded into the record's own counts when the relay ends.
 */
export interface LiveBytes {
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** The byte relay of one data-path process (one per worker in cluster mode). */
export interface RelayReport {
  /**
   * native: plaintext and TLS-pass-through sessions are handed to the native relay thread once
   * their startup phase is over (TLS-terminated ones stay in JS); js: every session stays in JS.
   */
  readonly engine: 'native' | 'js';
  /** Sessions the native relay moves now. */
  readonly native_sessions: number;
  /** Sessions kept in JS although the engine is native, by reason (tls, full, handover). */
  readonly js_fallbacks: Readonly<Record<string, number>>;
}
