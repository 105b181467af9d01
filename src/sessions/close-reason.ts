// Why a client connection ended: ONE vocabulary for the logs (`reason` of client_rejected and
// session lines), the counters (ListenerTraffic.refusals and .closed), the metrics
// (pgrouter_listener_refusals_total and pgrouter_listener_closed_sessions_total, label `reason`)
// and the stats page. Every place that closes a client names one of these; docs/metrics.md
// explains each.
import type { KillReason } from '../routing/kill.js';

/** A client closed before its session reached the relay (ListenerTraffic.refusals). */
export const REFUSAL_REASONS = [
  'no_backend',
  'queue_timeout',
  'startup_timeout',
  'invalid_startup',
  'direct_tls',
  'ssl_pipelined',
  'gssenc_pipelined',
  'client_closed',
  'client_error',
  'backend_protocol',
  'shutdown',
  'listener_removed',
  'internal_error',
  // TLS termination (issue 11)
  'tls_required',
  'tls_handshake',
  'tls_alpn',
  'channel_binding',
  'backend_closed',
  // Who may connect (proxy/front-door.ts): before the handshake reads a byte.
  'proxy_untrusted',
  'proxy_missing',
  'proxy_invalid',
  'not_allowed',
  // issue 13: held past the hold limit while its listener was paused by the operator
  'paused',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** A relayed session ended (ListenerTraffic.closed). */
export const END_REASONS = [
  'client_closed',
  'server_closed',
  'client_error',
  'server_error',
  'client_timeout',
  'server_timeout',
  'killed_not_primary',
  'killed_marked_down',
  'killed_admin',
  'shutdown',
  'internal_error',
  // issue 13: the sync standby moved on; a drain's deadline passed
  'killed_not_sync',
  'killed_drain_timeout',
  // Faults (issue 10): a reload's old worker reached timeouts.reload_drain with this session.
  'reload_drain_timeout',
] as const satisfies ReadonlyArray<string>;
export type EndReason = (typeof END_REASONS)[number];

export type CloseReason = RefusalReason | EndReason;

/** A kill's end reason. Typed as EndReason, so a new KillReason fails to compile until listed. */
export function killedReason(reason: KillReason): EndReason {
  return `killed_${reason}`;
}

/** The kill reason inside an end reason (null when a side closed or it timed out). */
export function killReasonOf(reason: EndReason): KillReason | null {
  switch (reason) {
    case 'killed_not_primary':
      return 'not_primary';
    case 'killed_marked_down':
      return 'marked_down';
    case 'killed_admin':
      return 'admin';
    case 'killed_not_sync':
      return 'not_sync';
    case 'killed_drain_timeout':
      return 'drain_timeout';
    default:
      return null;
  }
}
