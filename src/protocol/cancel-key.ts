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
