// What to do with the bytes a client sent before its session is established (PURE).
//
// The decoding is in protocol/startup-decoder.ts; this adds the per-connection rules around it:
//   - SSLRequest and GSSENCRequest at most once each ("Message Flow: SSL Session Encryption",
//     "GSSAPI Session Encryption"); after our 'N' the client continues on the same connection;
//   - nothing may follow an SSLRequest/GSSENCRequest before it is answered (CVE-2021-23214:
//     plaintext injected ahead of the TLS handshake would otherwise be taken as encrypted);
//   - ssl: passthrough relays the SSLRequest to a backend unless one already answered 'N';
//   - ssl: terminate answers 'S' and starts TLS itself, and takes a TLS ClientHello as the
//     first bytes too (PostgreSQL 17 direct TLS). Inside that TLS an SSLRequest gets 'N', and
//     with tls.require a plaintext StartupMessage is refused (28000). A CancelRequest is
//     served either way: libpq before 17 always sends it in plaintext.
import { errorResponse, SQLSTATE } from '../protocol/messages.js';
import { decodeStartup, MAX_STARTUP_PACKET } from '../protocol/startup-decoder.js';
import type { RefusalReason } from '../sessions/close-reason.js';
import type { SslMode } from '../config/types.js';

export interface HandshakeState {
  readonly ssl: SslMode;
  readonly sslDone: boolean;
  readonly gssDone: boolean;
  /** The bytes arrive through pgrouter's own TLS (after its 'S', or direct TLS). */
  readonly inTls: boolean;
  /** ssl: terminate with tls.require: a StartupMessage outside TLS is refused. */
  readonly requireTls: boolean;
}

export type HandshakeStep =
  | { readonly step: 'wait' }
  | { readonly step: 'reject'; readonly reason: RefusalReason; readonly detail?: string; readonly message?: Buffer }
  /** Answer 'N' ourselves and keep reading the same connection. */
  | { readonly step: 'answer_no'; readonly request: 'ssl' | 'gssenc' }
  /** Relay the SSLRequest to a backend and relay its one-byte answer. */
  | { readonly step: 'ssl_passthrough' }
  /** Terminate TLS: answer 'S' first unless `direct`; `hello` are TLS bytes already read (direct: the ClientHello). */
  | { readonly step: 'start_tls'; readonly direct: boolean; readonly hello: Buffer }
  | { readonly step: 'cancel'; readonly pid: number; readonly key: Buffer }
  /** Forward `packet`, then `tail` (bytes the client pipelined after it). */
  | { readonly step: 'startup'; readonly packet: Buffer; readonly tail: Buffer; readonly user: string };

const WAIT: HandshakeStep = Object.freeze({ step: 'wait' });
const EMPTY = Buffer.alloc(0);

/** What a plaintext client of a listener with tls.require reads (pgbouncer: client_tls_sslmode=require). */
export const TLS_REQUIRED_MESSAGE = 'this pgrouter listener requires TLS: connect with sslmode=require (or verify-ca, verify-full)';

export function handshakeStep(acc: Buffer, state: HandshakeState): HandshakeStep {
  const d = decodeStartup(acc);
  switch (d.kind) {
    case 'incomplete':
      return acc.length > MAX_STARTUP_PACKET ? { step: 'reject', reason: 'invalid_startup', detail: 'startup packet too long' } : WAIT;
    case 'invalid':
      return { step: 'reject', reason: 'invalid_startup', detail: d.reason };
    case 'direct_tls':
      if (state.ssl === 'terminate' && !state.inTls && !state.sslDone) return { step: 'start_tls', direct: true, hello: Buffer.from(acc) };
      return { step: 'reject', reason: 'direct_tls', detail: state.inTls ? 'a TLS record inside TLS' : `direct TLS on a listener with ssl: ${state.ssl}` };
    case 'ssl_request':
    case 'gssenc_request': {
      const ssl = d.kind === 'ssl_request';
      if (ssl ? state.sslDone : state.gssDone) return { step: 'reject', reason: 'invalid_startup', detail: `repeated ${d.kind}` };
      if (acc.length > d.consumed) return { step: 'reject', reason: ssl ? 'ssl_pipelined' : 'gssenc_pipelined' };
      if (!ssl || state.inTls) return { step: 'answer_no', request: ssl ? 'ssl' : 'gssenc' };
      if (state.ssl === 'terminate') return { step: 'start_tls', direct: false, hello: EMPTY };
      return state.ssl === 'passthrough' ? { step: 'ssl_passthrough' } : { step: 'answer_no', request: 'ssl' };
    }
    case 'cancel':
      return { step: 'cancel', pid: d.pid, key: d.key };
    case 'startup':
      if (state.requireTls && !state.inTls) {
        return { step: 'reject', reason: 'tls_required', message: errorResponse(SQLSTATE.INVALID_AUTHORIZATION_SPECIFICATION, TLS_REQUIRED_MESSAGE) };
      }
      return { step: 'startup', packet: d.packet, tail: Buffer.from(acc.subarray(d.consumed)), user: d.params['user'] ?? '' };
  }
}

/** One client's side of the handshake: the bytes so far and what it already negotiated. */
export class ClientHandshake {
  private acc: Buffer = EMPTY;
  private sslDone = false;
  private gssDone = false;
  private inTls = false;

  /** Feeds client bytes and says what to do; an SSLRequest or GSSENCRequest handled is remembered. */
  feed(chunk: Buffer, ssl: SslMode, requireTls = false): HandshakeStep {
    this.acc = this.acc.length === 0 ? chunk : Buffer.concat([this.acc, chunk]);
    const step = handshakeStep(this.acc, { ssl, requireTls, sslDone: this.sslDone, gssDone: this.gssDone, inTls: this.inTls });
    if (step.step === 'wait') return step;
    this.acc = EMPTY;
    if (step.step === 'ssl_passthrough' || (step.step === 'answer_no' && step.request === 'ssl')) this.sslDone = true;
    if (step.step === 'start_tls') {
      this.inTls = true;
      // An SSLRequest inside direct TLS gets 'N'; after our 'S' a second one is a protocol error.
      this.sslDone = !step.direct;
    }
    if (step.step === 'answer_no' && step.request === 'gssenc') this.gssDone = true;
    return step;
  }
}
