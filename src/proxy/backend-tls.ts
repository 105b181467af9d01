// TLS from pgrouter to PostgreSQL (server_tls), libpq's sslmode words:
//   prefer       TLS if the server answers 'S', plaintext after 'N'; nothing verified
//   require      TLS or no connection; nothing verified
//   verify-ca    and the chain must lead to `ca` (Node's CA list without it)
//   verify-full  and the member's host (from Patroni's conn_url) must be in the certificate: a
//                DNS name against DNS SANs, an IP address against IP SANs. Node refuses an IP
//                address as SNI, so servername is only set for names.
// The SSLRequest, its one-byte answer and the rule that nothing may follow 'S' in the same read
// (CVE-2021-23214, with pgrouter as the client) are BackendStartup's; this builds the context
// once per listener and runs the handshake over the connected socket.
import { isIP } from 'node:net';
import type net from 'node:net';
import tls from 'node:tls';
import type { ServerTlsConfig, ServerTlsMode } from '../config/types.js';
import { describeError, PgrError } from '../errors.js';
import { PG_ALPN } from './tls-context-store.js';

export interface UpstreamTls {
  readonly mode: Exclude<ServerTlsMode, 'disable'>;
  readonly context: tls.SecureContext;
}

/** The listener's upstream TLS, or null for mode disable. Throws PGR_ERR_TLS on material OpenSSL refuses. */
export function upstreamTlsOf(listener: string, cfg: ServerTlsConfig): UpstreamTls | null {
  if (cfg.mode === 'disable') return null;
  try {
    const context = tls.createSecureContext({
      ...(cfg.ca === null ? {} : { ca: cfg.ca }),
      ...(cfg.cert === null || cfg.key === null ? {} : { cert: cfg.cert, key: cfg.key }),
    });
    return { mode: cfg.mode, context };
  } catch (err) {
    throw new PgrError('PGR_ERR_TLS', `listener ${listener}: server_tls material cannot be used (${describeError(err)})`, { cause: err });
  }
}

export type UpstreamTlsResult = { readonly ok: true; readonly socket: tls.TLSSocket } | { readonly ok: false; readonly reason: string };

/** Runs the TLS handshake over `socket` (the server answered 'S'); `done` is called once. */
export function connectUpstreamTls(socket: net.Socket, host: string, cfg: UpstreamTls, done: (result: UpstreamTlsResult) => void): tls.TLSSocket {
  const verify = cfg.mode === 'verify-ca' || cfg.mode === 'verify-full';
  const secure = tls.connect({
    socket,
    host,
    ...(isIP(host) === 0 ? { servername: host } : {}),
    secureContext: cfg.context,
    rejectUnauthorized: verify,
    // verify-ca checks the chain only; verify-full adds the name (Node's checkServerIdentity).
    checkServerIdentity: cfg.mode === 'verify-full' ? tls.checkServerIdentity : () => undefined,
    // PostgreSQL 17 accepts only "postgresql" when a client sends ALPN; older servers ignore it.
    ALPNProtocols: [PG_ALPN],
  });
  let settled = false;
  const finish = (result: UpstreamTlsResult): void => {
    if (settled) return;
    settled = true;
    secure.removeListener('secureConnect', onSecure);
    if (!result.ok) secure.destroy();
    done(result);
  };
  const onSecure = (): void => finish({ ok: true, socket: secure });
  secure.once('secureConnect', onSecure);
  // Stays for the socket's life: errors after the handshake are the session's, but never unhandled.
  secure.on('error', (err: Error) => finish({ ok: false, reason: `TLS: ${describeError(err)}` }));
  secure.once('close', () => finish({ ok: false, reason: 'TLS: closed during the handshake' }));
  return secure;
}
