// Decoder of the first packet a client sends (PURE, never throws).
//
// PostgreSQL docs, "Message Flow / Start-up" and "Message Formats": the first packet has no
// type byte, only Int32 length (including itself) and Int32 code. The code tells what it is:
//   SSLRequest      80877103, length exactly 8
//   GSSENCRequest   80877104, length exactly 8
//   CancelRequest   80877102, Int32 pid then the secret key: 4 bytes in protocol 3.0,
//                   4..256 bytes in protocol 3.2 (PostgreSQL 18); the length tells which
//   StartupMessage  196608 (3.0) or 196610 (3.2), then NUL-terminated name/value pairs and a
//                   final NUL; `user` is required
// The server rejects packets over 10,000 bytes (MAX_STARTUP_PACKET_LENGTH in the backend), and
// so do we, before buffering them. Codes are matched exactly: an unknown minor version would
// need NegotiateProtocolVersion, which a router cannot answer on the server's behalf.
import { MAX_CANCEL_KEY, MIN_CANCEL_KEY } from './cancel-key.js';

export const MAX_STARTUP_PACKET = 10_000;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
export const PROTOCOL_3_0 = 196608;
export const PROTOCOL_3_2 = 196610;
/** First byte of a TLS record carrying a ClientHello (PostgreSQL 17 direct TLS). */
const TLS_HANDSHAKE_RECORD = 0x16;

export type StartupDecode =
  | { readonly kind: 'incomplete'; readonly consumed: 0 }
  | { readonly kind: 'ssl_request'; readonly consumed: number }
  | { readonly kind: 'gssenc_request'; readonly consumed: number }
  | { readonly kind: 'cancel'; readonly pid: number; readonly key: Buffer; readonly consumed: number }
  | {
      readonly kind: 'startup';
      readonly version: '3.0' | '3.2';
      readonly params: Readonly<Record<string, string>>;
      /** A copy of the whole packet, to forward to the backend unchanged. */
      readonly packet: Buffer;
      readonly consumed: number;
    }
  /** A TLS record (PostgreSQL 17 direct TLS): the caller starts TLS with these bytes, or refuses. */
  | { readonly kind: 'direct_tls'; readonly consumed: 0 }
  | { readonly kind: 'invalid'; readonly reason: string; readonly consumed: 0 };

const INCOMPLETE: StartupDecode = Object.freeze({ kind: 'incomplete', consumed: 0 });
const DIRECT_TLS: StartupDecode = Object.freeze({ kind: 'direct_tls', consumed: 0 });

function invalid(reason: string): StartupDecode {
  return { kind: 'invalid', reason, consumed: 0 };
}

/**
 * Decodes the packet at the start of `buf` (bytes accumulated so far). `consumed` is the packet
 * length once complete; anything after it was pipelined by the client.
 */
export function decodeStartup(buf: Buffer): StartupDecode {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] === TLS_HANDSHAKE_RECORD) return DIRECT_TLS;
  // A length over 10,000 has a non-zero first or second byte: reject before waiting for more.
  if (buf[0] !== 0 || (buf.length > 1 && buf[1] !== 0)) return invalid('packet length over 10000 bytes');
  if (buf.length < 4) return INCOMPLETE;

  const length = buf.readUInt32BE(0);
  if (length < 8) return invalid(`packet length ${length} below 8`);
  if (length > MAX_STARTUP_PACKET) return invalid(`packet length ${length} over ${MAX_STARTUP_PACKET} bytes`);
  if (buf.length < 8) return INCOMPLETE;

  const code = buf.readUInt32BE(4);
  switch (code) {
    case SSL_REQUEST_CODE:
      return length === 8 ? { kind: 'ssl_request', consumed: 8 } : invalid(`SSLRequest length ${length}, expected 8`);
    case GSSENC_REQUEST_CODE:
      return length === 8 ? { kind: 'gssenc_request', consumed: 8 } : invalid(`GSSENCRequest length ${length}, expected 8`);
    case CANCEL_REQUEST_CODE:
      return decodeCancel(buf, length);
    case PROTOCOL_3_0:
    case PROTOCOL_3_2:
      return decodeStartupMessage(buf, length, code === PROTOCOL_3_0 ? '3.0' : '3.2');
    default:
      return invalid(`unsupported protocol ${code >>> 16}.${code & 0xffff}`);
  }
}

function decodeCancel(buf: Buffer, length: number): StartupDecode {
  const keyLength = length - 12;
  if (keyLength < MIN_CANCEL_KEY || keyLength > MAX_CANCEL_KEY) {
    return invalid(`CancelRequest length ${length}, key must be ${MIN_CANCEL_KEY}..${MAX_CANCEL_KEY} bytes`);
  }
  if (buf.length < length) return INCOMPLETE;
  return {
    kind: 'cancel',
    pid: buf.readUInt32BE(8),
    key: Buffer.from(buf.subarray(12, length)),
    consumed: length,
  };
}

function decodeStartupMessage(buf: Buffer, length: number, version: '3.0' | '3.2'): StartupDecode {
  if (buf.length < length) return INCOMPLETE;
  const body = buf.subarray(8, length);
  // Null prototype: a parameter named "__proto__" must stay a plain entry.
  const params = Object.create(null) as Record<string, string>;
  let pos = 0;
  for (;;) {
    const nameEnd = body.indexOf(0, pos);
    if (nameEnd < 0) return invalid('startup parameters not terminated by a NUL');
    if (nameEnd === pos) {
      // The empty name is the final terminator; it must be the last byte of the packet.
      if (nameEnd !== body.length - 1) return invalid('data after the startup parameters terminator');
      break;
    }
    const valueEnd = body.indexOf(0, nameEnd + 1);
    if (valueEnd < 0) return invalid('startup parameter without a NUL-terminated value');
    params[body.toString('utf8', pos, nameEnd)] = body.toString('utf8', nameEnd + 1, valueEnd);
    pos = valueEnd + 1;
  }
  // PostgreSQL: "no PostgreSQL user name specified in startup packet".
  const user = params['user'];
  if (user === undefined || user === '') return invalid('no user name in startup packet');
  return { kind: 'startup', version, params, packet: Buffer.from(buf.subarray(0, length)), consumed: length };
}
