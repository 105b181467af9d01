// The client's TLS, when a listener terminates it (ssl: terminate): a phase of the client
// session between its SSLRequest (answered 'S' by the session) or its first TLS record
// (PostgreSQL 17 direct TLS) and its StartupMessage, which then arrives through TLS.
//
// The TLS server socket wraps the accepted socket's handle. Bytes already read from it (the
// ClientHello of direct TLS) are put back first: Node feeds a wrapped socket's buffered bytes
// to the TLS engine before it reads on. After the handshake:
//   - direct TLS requires ALPN "postgresql", as PostgreSQL 17 does. Node never calls an ALPN
//     callback when the client sends no ALPN, so the negotiated protocol is checked here;
//   - with client_ca, the client's certificate must verify. A TLS server socket made outside a
//     tls.Server only requests the certificate; the verdict is read from it here (fail closed
//     when Node does not offer it).
import type net from 'node:net';
import tls from 'node:tls';
import { describeError } from '../errors.js';
import { PG_ALPN, type TlsContextStore } from './tls-context-store.js';

export interface ClientTlsEvents {
  /** The handshake is done and checked: the session reads its StartupMessage from `socket`. */
  clientTlsReady(socket: tls.TLSSocket): void;
  clientTlsFailed(reason: 'tls_handshake' | 'tls_alpn', detail: string): void;
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
}

/** Starts the server side of TLS on `raw` (paused, its session's listeners removed); `hello` was already read from it. */
export function startClientTls(raw: net.Socket, store: TlsContextStore, direct: boolean, hello: Buffer, events: ClientTlsEvents): tls.TLSSocket {
  if (hello.length > 0) raw.unshift(hello);
  const verify = store.verifyClients;
  const socket = new tls.TLSSocket(raw, {
    isServer: true,
    secureContext: store.context,
    requestCert: verify,
    rejectUnauthorized: verify,
    ALPNProtocols: [PG_ALPN],
  });
  let settled = false;
  const fail = (reason: 'tls_handshake' | 'tls_alpn', detail: string): void => {
    if (settled) return;
    settled = true;
    socket.destroy();
    events.clientTlsFailed(reason, detail);
  };
  // Stays for the socket's life: a late error after a failure must not be unhandled.
  socket.on('error', events.guard((err: Error) => fail('tls_handshake', describeError(err))));
  socket.once('close', events.guard(() => fail('tls_handshake', 'closed during the TLS handshake')));
  socket.once(
    'secure',
    events.guard(() => {
      const problem = checkHandshake(socket, direct, verify);
      if (problem) return fail(problem.reason, problem.detail);
      settled = true;
      events.clientTlsReady(socket);
    }),
  );
  return socket;
}

interface TlsVerdict {
  verifyError?: () => Error | null;
}

function checkHandshake(socket: tls.TLSSocket, direct: boolean, verify: boolean): { reason: 'tls_handshake' | 'tls_alpn'; detail: string } | null {
  if (direct && socket.alpnProtocol !== PG_ALPN) {
    return { reason: 'tls_alpn', detail: `direct TLS without ALPN "${PG_ALPN}" (got ${socket.alpnProtocol === false ? 'none' : String(socket.alpnProtocol)})` };
  }
  if (!verify) return null;
  // What tls.Server does for its own sockets (onServerSocketSecure): the handle's verify result.
  const handle = (socket as unknown as { ssl?: TlsVerdict }).ssl;
  if (typeof handle?.verifyError !== 'function') return { reason: 'tls_handshake', detail: 'cannot verify the client certificate' };
  const error = handle.verifyError();
  return error ? { reason: 'tls_handshake', detail: `client certificate: ${describeError(error)}` } : null;
}
