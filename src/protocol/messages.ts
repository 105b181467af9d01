// The few protocol messages the router writes itself (PostgreSQL docs, "Message Formats").
import { CANCEL_REQUEST_CODE, SSL_REQUEST_CODE } from './startup-decoder.js';

/** Answer to SSLRequest / GSSENCRequest: "not supported, continue in plaintext" ("Message Flow: SSL Session Encryption"). */
export const NO_ENCRYPTION: Buffer = Buffer.from('N', 'latin1');

/** Answer to SSLRequest when pgrouter terminates TLS itself: "go ahead with the TLS handshake". */
export const SSL_ACCEPTED: Buffer = Buffer.from('S', 'latin1');

/** SQLSTATEs the router sends (PostgreSQL "Appendix A. Error Codes"). */
export const SQLSTATE = Object.freeze({
  /** cannot_connect_now: the listener has no backend right now. */
  CANNOT_CONNECT_NOW: '57P03',
  /** too_many_connections: the maxconn queue timed out. */
  TOO_MANY_CONNECTIONS: '53300',
  /** admin_shutdown: the router is shutting down. */
  ADMIN_SHUTDOWN: '57P01',
  /** invalid_authorization_specification: the client's address is not in the listener's `allow`. */
  INVALID_AUTHORIZATION_SPECIFICATION: '28000',
});

/**
 * ErrorResponse (B): Byte1('E'), Int32 length, then fields (Byte1 type, String value) and a
 * final zero byte. S and V carry the severity (V is never localized), C the SQLSTATE, M the
 * message. Clients waiting for the startup reply (even one that sent SSLRequest; libpq accepts
 * 'E' there) report it as a normal server error.
 */
export function errorResponse(sqlstate: string, message: string, severity: 'FATAL' | 'ERROR' = 'FATAL'): Buffer {
  const fields: Array<[string, string]> = [
    ['S', severity],
    ['V', severity],
    ['C', sqlstate],
    ['M', message],
  ];
  const parts = fields.map(([type, value]) => Buffer.from(`${type}${value.replaceAll('\0', '')}\0`, 'utf8'));
  const bodyLength = parts.reduce((n, p) => n + p.length, 0) + 1;
  const head = Buffer.alloc(5);
  head.write('E', 0, 'latin1');
  head.writeUInt32BE(4 + bodyLength, 1);
  return Buffer.concat([head, ...parts, Buffer.alloc(1)]);
}

/** CancelRequest: Int32 length, Int32 80877102, Int32 pid, the key (4 bytes in 3.0, 4..256 in 3.2). */
export function cancelRequestPacket(pid: number, key: Buffer): Buffer {
  const packet = Buffer.alloc(12 + key.length);
  packet.writeUInt32BE(packet.length, 0);
  packet.writeUInt32BE(CANCEL_REQUEST_CODE, 4);
  packet.writeUInt32BE(pid >>> 0, 8);
  key.copy(packet, 12);
  return packet;
}

/** SSLRequest as forwarded to the backend in passthrough mode. */
export function sslRequestPacket(): Buffer {
  const packet = Buffer.alloc(8);
  packet.writeUInt32BE(8, 0);
  packet.writeUInt32BE(SSL_REQUEST_CODE, 4);
  return packet;
}
