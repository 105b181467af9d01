// SCRAM channel binding through a listener that terminates TLS (issue 11, part 3).
//
// PostgreSQL offers SCRAM-SHA-256-PLUS when its own leg is TLS. The -PLUS mechanisms bind the
// login to the certificate of the TLS connection the *client* sees (tls-server-end-point),
// and a router that terminates TLS is that connection's server:
//   client plaintext, PostgreSQL TLS  → -PLUS is offered over what the client sees as plaintext,
//                                       and libpq aborts: strip -PLUS (correct: there is no
//                                       client TLS to bind to);
//   client TLS, PostgreSQL plaintext  → no -PLUS is offered: nothing to do;
//   client TLS, PostgreSQL TLS        → the client binds to pgrouter's certificate and the
//                                       server checks against its own: "SCRAM channel binding
//                                       check failed". Stripping -PLUS does not help (the
//                                       client's "y" flag is covered by its proof, and the
//                                       server calls it a downgrade). So the client's choice is
//                                       read, and -PLUS is refused with a message that says why
//                                       and what to do — unless pgrouter presents the very
//                                       certificate PostgreSQL does: then the binding matches.
import type tls from 'node:tls';
import { errorResponse, SQLSTATE } from '../protocol/messages.js';
import { clientSaslMechanism, PLUS_SUFFIX, withoutPlusMechanisms, type ServerSasl } from '../protocol/sasl.js';

export const CHANNEL_BINDING_MESSAGE =
  'SCRAM channel binding (SCRAM-SHA-256-PLUS) cannot work through this pgrouter listener: it terminates TLS and ' +
  'reaches PostgreSQL over TLS, so the certificate the client binds to (pgrouter\'s) is not PostgreSQL\'s. ' +
  'Connect with channel_binding=disable, or have the operator use server_tls mode disable on a trusted network, ' +
  'ssl: passthrough, or the same certificate on pgrouter and PostgreSQL.';

export type ChannelBindingPlan =
  /** Relay the server's first bytes (maybe rewritten) and start the relay. */
  | { readonly plan: 'relay'; readonly hello: Buffer }
  /** Deliver the server's first bytes, then read the client's mechanism before relaying on. */
  | { readonly plan: 'check_client'; readonly hello: Buffer };

/**
 * What to do with the server's first bytes after the StartupMessage. `sasl` is null when the
 * PostgreSQL leg is plaintext (no -PLUS can be offered then). `sameCertificate` is asked only
 * when TLS on both legs meets a -PLUS offer: reading the two certificates costs a session that.
 */
export function channelBindingPlan(hello: Buffer, sasl: ServerSasl | null, clientTls: boolean, sameCertificate: () => boolean): ChannelBindingPlan {
  if (sasl?.kind !== 'sasl' || !sasl.mechanisms.some((m) => m.endsWith(PLUS_SUFFIX))) return { plan: 'relay', hello };
  if (!clientTls) return { plan: 'relay', hello: withoutPlusMechanisms(hello, sasl) };
  if (sameCertificate()) return { plan: 'relay', hello };
  return { plan: 'check_client', hello };
}

/** The certificate `client` was given (pgrouter's) is the one PostgreSQL presented (`theirs`, DER). */
export function sameCertificate(client: tls.TLSSocket | null, theirs: Buffer | null): boolean {
  const ours = theirs ? client?.getCertificate() : null;
  const raw = ours && 'raw' in ours ? (ours as tls.PeerCertificate).raw : null;
  return !!raw && !!theirs && raw.equals(theirs);
}

export type GateVerdict =
  | { readonly verdict: 'wait' }
  /** Forward `bytes` to the server and relay from here. */
  | { readonly verdict: 'pass'; readonly bytes: Buffer }
  | { readonly verdict: 'refuse'; readonly message: Buffer; readonly detail: string };

/** Holds the client's first bytes after AuthenticationSASL until its mechanism is known. */
export class SaslGate {
  private acc: Buffer = Buffer.alloc(0);

  feed(chunk: Buffer): GateVerdict {
    this.acc = this.acc.length === 0 ? chunk : Buffer.concat([this.acc, chunk]);
    const choice = clientSaslMechanism(this.acc);
    if (choice.kind === 'incomplete') return { verdict: 'wait' };
    // Anything but a -PLUS choice is PostgreSQL's to judge (a malformed message included).
    if (choice.kind === 'mechanism' && choice.mechanism.endsWith(PLUS_SUFFIX)) {
      return { verdict: 'refuse', message: errorResponse(SQLSTATE.INVALID_AUTHORIZATION_SPECIFICATION, CHANNEL_BINDING_MESSAGE), detail: `client chose ${choice.mechanism}` };
    }
    return { verdict: 'pass', bytes: this.acc };
  }
}
