// What to do with the bytes a client sent before its session is established (PURE).
//
// The decoding is in protocol/startup-decoder.ts; this adds the per-connection rules around it:
//   - SSLRequest and GSSENCRequest at most once each ("Message Flow: SSL Session Encryption",
//     "GSSAPI Session Encryption"); after our 'N' the client continues on the same connection;
//   - nothing may follow an SSLRequest/GSSENCRequest before it is answered (CVE-2021-23214:
//     plaintext injected ahead of the TLS handshake would otherwise be taken as encrypted);
//   - ssl: passthrough relays the SSLRequest to a backend unless one already answered 'N'.
import { decodeStartup, MAX_STARTUP_PACKET } from '../protocol/startup-decoder.js';
import type { RefusalReason } from '../sessions/close-reason.js';

export interface HandshakeState {
  readonly ssl: 'passthrough' | 'disable';
  readonly sslDone: boolean;
  readonly gssDone: boolean;
}

export type HandshakeStep =
  | { readonly step: 'wait' }
  | { readonly step: 'reject'; readonly reason: RefusalReason; readonly detail?: string }
  /** Answer 'N' ourselves and keep reading the same connection. */
  | { readonly step: 'answer_no'; readonly request: 'ssl' | 'gssenc' }
  /** Relay the SSLRequest to a backend and relay its one-byte answer. */
  | { readonly step: 'ssl_passthrough' }
  | { readonly step: 'cancel'; readonly pid: number; readonly key: Buffer }
  /** Forward `packet`, then `tail` (bytes the client pipelined after it). */
  | { readonly step: 'startup'; readonly packet: Buffer; readonly tail: Buffer; readonly user: string };

const WAIT: HandshakeStep = Object.freeze({ step: 'wait' });

export function handshakeStep(acc: Buffer, state: HandshakeState): HandshakeStep {
  const d = decodeStartup(acc);
  switch (d.kind) {
    case 'incomplete':
      return acc.length > MAX_STARTUP_PACKET ? { step: 'reject', reason: 'invalid_startup', detail: 'startup packet too long' } : WAIT;
    case 'invalid':
      return { step: 'reject', reason: acc[0] === 0x16 ? 'direct_tls' : 'invalid_startup', detail: d.reason };
    case 'ssl_request':
    case 'gssenc_request': {
      const ssl = d.kind === 'ssl_request';
      if (ssl ? state.sslDone : state.gssDone) return { step: 'reject', reason: 'invalid_startup', detail: `repeated ${d.kind}` };
      if (acc.length > d.consumed) return { step: 'reject', reason: ssl ? 'ssl_pipelined' : 'gssenc_pipelined' };
      if (ssl && state.ssl === 'passthrough') return { step: 'ssl_passthrough' };
      return { step: 'answer_no', request: ssl ? 'ssl' : 'gssenc' };
    }
    case 'cancel':
      return { step: 'cancel', pid: d.pid, key: d.key };
    case 'startup':
      return { step: 'startup', packet: d.packet, tail: Buffer.from(acc.subarray(d.consumed)), user: d.params['user'] ?? '' };
  }
}

const EMPTY = Buffer.alloc(0);

/** One client's side of the handshake: the bytes so far and what it already negotiated. */
export class ClientHandshake {
  private acc: Buffer = EMPTY;
  private sslDone = false;
  private gssDone = false;

  /** Feeds client bytes and says what to do; an SSLRequest or GSSENCRequest handled is remembered. */
  feed(chunk: Buffer, ssl: HandshakeState['ssl']): HandshakeStep {
    this.acc = this.acc.length === 0 ? chunk : Buffer.concat([this.acc, chunk]);
    const step = handshakeStep(this.acc, { ssl, sslDone: this.sslDone, gssDone: this.gssDone });
    if (step.step === 'wait') return step;
    this.acc = EMPTY;
    if (step.step === 'ssl_passthrough' || (step.step === 'answer_no' && step.request === 'ssl')) this.sslDone = true;
    if (step.step === 'answer_no' && step.request === 'gssenc') this.gssDone = true;
    return step;
  }
}
