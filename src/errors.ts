// Typed errors with a stable code, so logs, metrics labels and tests match on codes, not text.
// Part of the kernel at the root of src/: every part may import it.
//
// A code exists only where something throws it. What closes one client connection is not an
// exception but a CloseReason (sessions/close-reason.ts), counted and logged by that name; a
// config file's mistakes are ConfigIssues, all reported at once (config/validate.ts).

export type PgrErrorCode =
  /** A config change could not be applied (DataPath.reconfigure while closing). */
  | 'PGR_ERR_CONFIG'
  /** etcd: a range read failed, a watch broke or was not created in time (discovery/etcd-source.ts). */
  | 'PGR_ERR_ETCD'
  /** A listening socket could not be bound (listeners, http.bind, admin.bind). */
  | 'PGR_ERR_BIND'
  /** A listener's TLS material does not make a TLS context: ssl: terminate (proxy/tls-context-store.ts) or server_tls (proxy/backend-tls.ts). */
  | 'PGR_ERR_TLS'
  // ---- the native relay (issue 12; src/relay/native-*.ts) ----
  /** The addon is not built or cannot load on this host; `relay: native` fails the start with it. */
  | 'PGR_ERR_RELAY_UNAVAILABLE'
  /** A handover precondition does not hold (native-handover.ts); the sockets are left as they were. */
  | 'PGR_ERR_RELAY_HANDOVER'
  /** Every session slot of the native relay is taken; the session stays with the JS relay. */
  | 'PGR_ERR_RELAY_FULL'
  /** The native relay was closed. */
  | 'PGR_ERR_RELAY_CLOSED'
  /** Bad options, or the relay thread could not start. */
  | 'PGR_ERR_RELAY_START';

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
