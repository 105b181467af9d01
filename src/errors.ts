// Typed errors with a stable code, so logs, metrics labels and tests match on codes, not text.

export type PgrErrorCode =
  | 'PGR_ERR_CONFIG'
  | 'PGR_ERR_CONFIG_FILE'
  | 'PGR_ERR_ETCD'
  | 'PGR_ERR_PROBE'
  | 'PGR_ERR_STARTUP_PACKET'
  | 'PGR_ERR_STARTUP_TIMEOUT'
  | 'PGR_ERR_SSL_PIPELINED'
  | 'PGR_ERR_NO_BACKEND'
  | 'PGR_ERR_BACKEND_CONNECT'
  | 'PGR_ERR_QUEUE_TIMEOUT'
  | 'PGR_ERR_BIND'
  | 'PGR_ERR_HARNESS';

export class PgrError extends Error {
  readonly code: PgrErrorCode;

  constructor(code: PgrErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PgrError';
    this.code = code;
  }
}

/** The `code` of a thrown value (ENOENT, EADDRINUSE, PGR_ERR_BIND, ...), or null. */
export function errorCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : null;
}

/** A short, loggable description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = errorCode(err);
    return code === null ? err.message : `${code}: ${err.message}`;
  }
  return String(err);
}

/** The code alone when there is one (a stable label: counters, "cannot read X (ENOENT)"), else the description. */
export function errorLabel(err: unknown): string {
  return errorCode(err) ?? describeError(err);
}
