// What can be told about TLS material before a handshake needs it: the certificates parse, the
// key is the certificate's, and when the leaf expires. Used when the config is loaded (an error
// names the key), by `pgrouter check` (the expiry warning), and by a listener's TLS context
// store before it swaps in a rotated pair (src/proxy/tls-context-store.ts). Messages never
// quote a key.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { errorLabel } from '../errors.js';
import type { UnitResult } from './units.js';

export interface CertificatePair {
  /** The leaf's notAfter, epoch ms. */
  readonly notAfter: number;
  /** The leaf certificate in DER (SCRAM channel binding compares it with PostgreSQL's). */
  readonly leafDer: Buffer;
  /** The leaf's subject, for log lines ("CN=db.example.com"). */
  readonly subject: string;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM text (a chain, or a CA bundle), parsed; an error names the first bad one. */
export function parseCertificates(pem: string): UnitResult<X509Certificate[]> {
  const blocks = pem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) return { ok: false, message: 'contains no certificate (no -----BEGIN CERTIFICATE----- block)' };
  const out: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      out.push(new X509Certificate(block));
    } catch (err) {
      return { ok: false, message: `certificate ${i + 1} of ${blocks.length} does not parse (${errorLabel(err)})` };
    }
  }
  return { ok: true, value: out };
}

/** The chain parses, the key parses (unencrypted), and the key belongs to the first certificate. */
export function inspectKeyPair(certPem: string, keyPem: string): UnitResult<CertificatePair> {
  const chain = parseCertificates(certPem);
  if (!chain.ok) return chain;
  const leaf = chain.value[0];
  if (!leaf) return { ok: false, message: 'contains no certificate' };
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    // An encrypted key lands here too: pgrouter has no passphrase to give it.
    return { ok: false, message: `the private key does not load (${errorLabel(err)}; an encrypted key is not supported)` };
  }
  if (!leaf.checkPrivateKey(key)) return { ok: false, message: `the private key does not belong to the certificate (${leaf.subject.replaceAll('\n', ', ')})` };
  return { ok: true, value: { notAfter: Date.parse(leaf.validTo), leafDer: leaf.raw, subject: leaf.subject.replaceAll('\n', ', ') } };
}

/** "in 5 days (2026-12-04T10:00:00.000Z)" or "5 days ago (...)"; whole days, rounded down. */
export function describeExpiry(notAfter: number, now: number): string {
  const days = Math.floor(Math.abs(notAfter - now) / 86_400_000);
  const when = new Date(notAfter).toISOString();
  return notAfter >= now ? `expires in ${days} ${days === 1 ? 'day' : 'days'} (${when})` : `expired ${days} ${days === 1 ? 'day' : 'days'} ago (${when})`;
}
