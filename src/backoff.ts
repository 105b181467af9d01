// Exponential backoff (PURE), shared by the etcd reconnects and the worker respawns.

/**
 * initialMs · 2^(n-1) for the n-th attempt in a row, capped at maxMs; 0 for n = 0. The exponent
 * is bounded so the number stays finite however long a failure lasts.
 */
export function exponentialDelay(attempt: number, initialMs: number, maxMs: number): number {
  if (attempt <= 0) return 0;
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
}
