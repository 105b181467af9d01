// A listener's TLS (issue 11): `tls` when pgrouter terminates the client's TLS (ssl: terminate),
// `server_tls` when pgrouter speaks TLS to PostgreSQL. The certificate pgrouter presents is
// checked here, at load, so that a key that does not match or a chain that does not parse is a
// config error naming its key, never the first client's failed handshake. The paths are kept
// next to the PEM text: the listener watches those files and re-reads them when they change.
import type { ListenerTlsConfig, PemSource, ServerTlsConfig, SslMode } from './types.js';
import type { RawListener, RawListenerTls, RawServerTls } from './schema.js';
import type { KeyPath } from './path.js';
import { DEFAULTS } from './defaults.js';
import { has, type Loose, type Report } from './normalize-values.js';
import { normalizeTlsFiles } from './normalize-tls.js';
import { pemSourcePath, resolveSecret, type SecretContext, type SecretSource } from './secrets.js';
import { inspectKeyPair, parseCertificates } from './tls-material.js';

export interface NormalizedListenerTls {
  readonly tls: ListenerTlsConfig | null;
  readonly server_tls: ServerTlsConfig;
}

export function normalizeListenerTls(l: Loose<RawListener>, at: KeyPath, ssl: SslMode, ctx: SecretContext, report: Report): NormalizedListenerTls {
  if (ssl === 'terminate' && !has(l, 'tls')) {
    report([...at, 'tls'], 'required with ssl: terminate (at least cert and key: the certificate pgrouter presents to clients)');
  }
  if (ssl !== 'terminate' && has(l, 'tls')) report([...at, 'tls'], `only applies with ssl: terminate (this listener has ssl: ${ssl})`);
  if (ssl === 'passthrough' && has(l, 'server_tls')) {
    report(
      [...at, 'server_tls'],
      "does not apply with ssl: passthrough: the client's own TLS goes end to end to PostgreSQL (use ssl: terminate, or ssl: disable for plaintext clients)",
    );
  }
  const tls = ssl === 'terminate' && l.tls !== undefined ? clientSide(l.tls, [...at, 'tls'], ctx, report) : null;
  return { tls, server_tls: serverSide(l.server_tls, [...at, 'server_tls'], ctx, report) };
}

function clientSide(raw: Loose<RawListenerTls>, at: KeyPath, ctx: SecretContext, report: Report): ListenerTlsConfig | null {
  const cert = pemAt(raw.cert, [...at, 'cert'], ctx, report);
  const key = pemAt(raw.key, [...at, 'key'], ctx, report);
  const clientCa = raw.client_ca === undefined ? null : pemAt(raw.client_ca, [...at, 'client_ca'], ctx, report);
  if (clientCa) {
    const cas = parseCertificates(clientCa.pem);
    if (!cas.ok) report([...at, 'client_ca'], cas.message);
  }
  if (!cert || !key) return null;
  if (!checkPair(cert.pem, key.pem, at, report)) return null;
  const d = DEFAULTS.listener;
  return { cert, key, client_ca: clientCa, require: raw.require ?? d.tls_require, min_version: raw.min_version ?? d.tls_min_version };
}

function serverSide(raw: Loose<RawServerTls> | undefined, at: KeyPath, ctx: SecretContext, report: Report): ServerTlsConfig {
  const mode = raw?.mode ?? DEFAULTS.listener.server_tls_mode;
  const files = normalizeTlsFiles(raw, at, ctx, report);
  // A CA that nothing reads is a misunderstanding: only verify-ca and verify-full check the server.
  if (raw?.ca !== undefined && mode !== 'verify-ca' && mode !== 'verify-full') {
    report([...at, 'ca'], `is only read by mode verify-ca or verify-full (mode ${mode} does not check PostgreSQL's certificate)`);
  }
  if (raw !== undefined && mode === 'disable' && (raw.cert !== undefined || raw.key !== undefined)) {
    report([...at, 'mode'], 'is disable, but a client certificate is set: use prefer, require, verify-ca or verify-full');
  }
  if (files.ca !== null) {
    const cas = parseCertificates(files.ca);
    if (!cas.ok) report([...at, 'ca'], cas.message);
  }
  if (files.cert !== null && files.key !== null) checkPair(files.cert, files.key, at, report);
  return { mode, ...files };
}

function pemAt(source: SecretSource | undefined, at: KeyPath, ctx: SecretContext, report: Report): PemSource | null {
  if (source === undefined) return null;
  const read = resolveSecret(source, 'pem-path', ctx);
  if (!read.ok) {
    report(at, read.message);
    return null;
  }
  return { pem: read.value, path: pemSourcePath(source, ctx) };
}

/** Reports a chain that does not parse on `cert`, a key that does not load or match on `key`. */
function checkPair(certPem: string, keyPem: string, at: KeyPath, report: Report): boolean {
  const chain = parseCertificates(certPem);
  if (!chain.ok) {
    report([...at, 'cert'], chain.message);
    return false;
  }
  const pair = inspectKeyPair(certPem, keyPem);
  if (!pair.ok) report([...at, 'key'], pair.message);
  return pair.ok;
}
