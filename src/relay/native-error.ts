// The native relay's typed errors. Their codes belong in src/errors.ts (PgrErrorCode) once the
// relay is wired into the data path; until then they live here so this part stands alone.

export type NativeRelayErrorCode =
  /** The addon is not built or cannot load on this host (another OS, a failed build). */
  | 'PGR_ERR_RELAY_UNAVAILABLE'
  /** A handover precondition does not hold; the sockets are left as they were. */
  | 'PGR_ERR_RELAY_HANDOVER'
  /** Every session slot is taken (`capacity`); relay this session in JavaScript. */
  | 'PGR_ERR_RELAY_FULL'
  /** The relay was closed. */
  | 'PGR_ERR_RELAY_CLOSED'
  /** Bad options, or the relay thread could not start. */
  | 'PGR_ERR_RELAY_START';

export class NativeRelayError extends Error {
  readonly code: NativeRelayErrorCode;

  constructor(code: NativeRelayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeRelayError';
    this.code = code;
  }
}
