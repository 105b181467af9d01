// The cancel key of a backend session (PURE): what BackendKeyData carries and a CancelRequest
// quotes back ("Message Flow: Canceling Requests in Progress"). One shape and one id for every
// part that keeps keys: the session registry (sessions/), the startup parsers here, and the
// primary's key map in cluster mode (cluster/cancel-key-map.ts).

/** Cancel key bounds: protocol 3.0 always sends 4 bytes, 3.2 (PostgreSQL 18) 4..256. */
export const MIN_CANCEL_KEY = 4;
export const MAX_CANCEL_KEY = 256;

/** BackendKeyData: the server process id and its secret key. */
export interface BackendKey {
  readonly pid: number;
  readonly key: Buffer;
}

/**
 * `pid:hex(key)`: pid as unsigned 32 bits, the key as bytes (any length 4..256). The one id of a
 * cancel key, in the worker's registry and in the primary's key map.
 */
export function cancelKeyId(pid: number, key: Buffer): string {
  return `${pid >>> 0}:${key.toString('hex')}`;
}

// ---- keys pgrouter makes (cancel.rewrite_keys, issue 10) -----------------------------------
//
// A rewritten pid is 31 bits, positive as libpq and pgjdbc read it (Int32):
//   bit 30       1: made by pgrouter. Real PostgreSQL pids stay below 2^22 (Linux pid_max), so
//                a key pgrouter never saw (TLS pass-through) is never taken for one of ours.
//   bits 29..22  the router instance (cancel.instance_id)
//   bits 21..14  the worker slot (0 in one process)
//   bits 13..0   a per-process counter
// The key bytes are random, of the server's key length (4 in protocol 3.0, up to 256 in 3.2),
// so the pid's layout costs no secrecy: the pair is what a cancel must quote.

const REWRITTEN = 1 << 30;

export function rewrittenPid(instance: number, slot: number, counter: number): number {
  return (REWRITTEN | ((instance & 0xff) << 22) | ((slot & 0xff) << 14) | (counter & 0x3fff)) >>> 0;
}

/** The instance and slot a rewritten pid names, or null for a pid pgrouter did not make. */
export function decodeRewrittenPid(pid: number): { readonly instance: number; readonly slot: number } | null {
  if (pid >>> 30 !== 1) return null;
  return { instance: (pid >>> 22) & 0xff, slot: (pid >>> 14) & 0xff };
}
