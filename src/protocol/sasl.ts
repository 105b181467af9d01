// SASL mechanism negotiation, as far as a router needs it for SCRAM channel binding (PURE,
// never throws). PostgreSQL docs, "SASL Authentication" and "Message Formats":
//   AuthenticationSASL   (B)  Byte1('R') Int32 len Int32 10, then mechanism names, each a
//                             NUL-terminated String, and an empty String ending the list
//   SASLInitialResponse  (F)  Byte1('p') Int32 len, String mechanism, Int32 data length (-1:
//                             none), data
// With TLS on the server leg PostgreSQL offers SCRAM-SHA-256-PLUS, which binds the exchange to
// the certificate of the TLS connection the client sees (tls-server-end-point). A router that
// terminates TLS is that connection's server, so the binding cannot match PostgreSQL's: the
// session strips -PLUS for a plaintext client, and recognizes a TLS client that chose it
// (proxy/channel-binding.ts). Lengths are never trusted: what is held is bounded below.

/** Authentication request codes ("Message Formats: AuthenticationOk ..."). */
export const AUTH_SASL = 10;
const TYPE_AUTH = 0x52; // 'R'
const TYPE_NEGOTIATE_VERSION = 0x76; // 'v'
const TYPE_SASL_INITIAL = 0x70; // 'p'
const HEADER = 5;
/** Largest server prefix held while looking for AuthenticationSASL (a mechanism list is tens of bytes). */
export const MAX_SASL_PREFIX = 8_192;
/** Largest client prefix held to read the mechanism a SASLInitialResponse names. */
export const MAX_SASL_MECHANISM_PREFIX = 512;
export const PLUS_SUFFIX = '-PLUS';

export type ServerSasl =
  | { readonly kind: 'incomplete' }
  /** The first authentication request is AuthenticationSASL at [start, end) of the buffer. */
  | { readonly kind: 'sasl'; readonly start: number; readonly end: number; readonly mechanisms: readonly string[] }
  /** Anything else comes first (AuthenticationOk, MD5, an ErrorResponse, ...), or it is not the protocol. */
  | { readonly kind: 'other' };

const INCOMPLETE = Object.freeze({ kind: 'incomplete' } as const);
const OTHER = Object.freeze({ kind: 'other' } as const);

/**
 * Finds the server's first authentication request in the start of its answer to a
 * StartupMessage; a NegotiateProtocolVersion may come before it ("Message Flow: Start-up").
 */
export function findServerSasl(buf: Buffer): ServerSasl {
  let pos = 0;
  for (;;) {
    if (buf.length - pos < HEADER) return buf.length >= MAX_SASL_PREFIX ? OTHER : INCOMPLETE;
    const type = buf[pos];
    const length = buf.readUInt32BE(pos + 1);
    if (length < 4 || pos + 1 + length > MAX_SASL_PREFIX) return OTHER;
    const end = pos + 1 + length;
    if (type === TYPE_NEGOTIATE_VERSION) {
      if (buf.length < end) return INCOMPLETE;
      pos = end;
      continue;
    }
    if (type !== TYPE_AUTH || length < 8) return OTHER;
    if (buf.length < pos + 9) return INCOMPLETE;
    if (buf.readUInt32BE(pos + 5) !== AUTH_SASL) return OTHER;
    if (buf.length < end) return INCOMPLETE;
    const mechanisms = mechanismList(buf.subarray(pos + 9, end));
    return mechanisms === null ? OTHER : { kind: 'sasl', start: pos, end, mechanisms };
  }
}

/** NUL-terminated names ended by an empty one, which must be the last byte; null if malformed. */
function mechanismList(body: Buffer): string[] | null {
  const names: string[] = [];
  let pos = 0;
  for (;;) {
    const nul = body.indexOf(0, pos);
    if (nul < 0) return null;
    if (nul === pos) return nul === body.length - 1 ? names : null;
    names.push(body.toString('utf8', pos, nul));
    pos = nul + 1;
  }
}

/** AuthenticationSASL offering `mechanisms`. */
export function authenticationSasl(mechanisms: readonly string[]): Buffer {
  const names = mechanisms.map((m) => Buffer.from(`${m.replaceAll('\0', '')}\0`, 'utf8'));
  const bodyLength = 4 + names.reduce((n, b) => n + b.length, 0) + 1;
  const head = Buffer.alloc(HEADER + 4);
  head[0] = TYPE_AUTH;
  head.writeUInt32BE(4 + bodyLength, 1);
  head.writeUInt32BE(AUTH_SASL, 5);
  return Buffer.concat([head, ...names, Buffer.alloc(1)]);
}

/**
 * `buf` with its AuthenticationSASL (found by findServerSasl) rewritten to offer no -PLUS
 * mechanism; the bytes around it are kept as they are.
 */
export function withoutPlusMechanisms(buf: Buffer, found: Extract<ServerSasl, { kind: 'sasl' }>): Buffer {
  const kept = found.mechanisms.filter((m) => !m.endsWith(PLUS_SUFFIX));
  return Buffer.concat([buf.subarray(0, found.start), authenticationSasl(kept), buf.subarray(found.end)]);
}

export type ClientSasl =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'mechanism'; readonly mechanism: string }
  | { readonly kind: 'invalid'; readonly reason: string };

/** The mechanism the client's first message after AuthenticationSASL chooses (SASLInitialResponse). */
export function clientSaslMechanism(buf: Buffer): ClientSasl {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] !== TYPE_SASL_INITIAL) return { kind: 'invalid', reason: `expected SASLInitialResponse ('p'), got byte ${buf[0] ?? 0}` };
  if (buf.length < HEADER) return INCOMPLETE;
  const length = buf.readUInt32BE(1);
  if (length < 4 + 1 + 4) return { kind: 'invalid', reason: `SASLInitialResponse length ${length}` };
  const end = Math.min(1 + length, buf.length, HEADER + MAX_SASL_MECHANISM_PREFIX);
  const nul = buf.indexOf(0, HEADER);
  if (nul >= 0 && nul < end) return { kind: 'mechanism', mechanism: buf.toString('utf8', HEADER, nul) };
  if (buf.length >= 1 + length) return { kind: 'invalid', reason: 'SASLInitialResponse mechanism not terminated' };
  if (buf.length >= HEADER + MAX_SASL_MECHANISM_PREFIX) return { kind: 'invalid', reason: 'SASLInitialResponse mechanism name too long' };
  return INCOMPLETE;
}
