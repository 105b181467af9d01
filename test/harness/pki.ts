// A throwaway PKI for tests that need TLS for real: one CA, then leaf certificates signed by
// it, made with the openssl command line (always on Debian). Each leaf carries the names it is
// reached by as subjectAltName (DNS and IP entries), because clients check SANs, not the CN.
//
// Server leaves also allow clientAuth: Patroni uses its own `restapi.certfile` as its client
// certificate when it calls another member's REST API (patroni/request.py falls back from
// `ctl.certfile` to `restapi.certfile`), so with `verify_client: required` one certificate
// plays both parts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isIP } from 'node:net';
import { HarnessError } from './errors.js';

export interface Leaf {
  readonly cert: string;
  readonly key: string;
}

export interface Pki {
  readonly dir: string;
  /** The CA certificate file. */
  readonly ca: string;
  /** Leaf certificate and key files by name. */
  readonly leaves: Readonly<Record<string, Leaf>>;
}

export interface LeafSpec {
  readonly name: string;
  /** Host names and IP addresses the leaf is reached by (server leaves). */
  readonly sans?: readonly string[];
  /** 'server' (serverAuth + clientAuth) or 'client' (clientAuth only). */
  readonly kind: 'server' | 'client';
  /** Days of validity (default 30, at least 1). */
  readonly days?: number;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new HarnessError(`openssl ${args[0] ?? ''} failed: ${stderr.trim()}`, { cause: err });
  }
}

function sanLine(sans: readonly string[]): string {
  return sans.map((s) => (isIP(s) ? `IP:${s}` : `DNS:${s}`)).join(',');
}

/** Makes a CA and the leaves in `dir` (created). Keys are mode 0600. */
export function makePki(dir: string, leaves: readonly LeafSpec[]): Pki {
  fs.mkdirSync(dir, { recursive: true });
  const ca = path.join(dir, 'ca.crt');
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30']
      .concat(['-subj', '/CN=pgrouter test CA', '-keyout', 'ca.key', '-out', 'ca.crt'])
      .concat(['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']),
    dir,
  );
  const out: Record<string, Leaf> = {};
  for (const spec of leaves) {
    const key = path.join(dir, `${spec.name}.key`);
    const cert = path.join(dir, `${spec.name}.crt`);
    const usage = spec.kind === 'server' ? 'serverAuth,clientAuth' : 'clientAuth';
    const ext = [`extendedKeyUsage=${usage}`, 'keyUsage=critical,digitalSignature,keyEncipherment'];
    if (spec.sans && spec.sans.length > 0) ext.push(`subjectAltName=${sanLine(spec.sans)}`);
    const extFile = path.join(dir, `${spec.name}.ext`);
    fs.writeFileSync(extFile, `${ext.join('\n')}\n`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${spec.name}`, '-keyout', key, '-out', `${spec.name}.csr`], dir);
    const days = String(spec.days ?? 30);
    openssl(['x509', '-req', '-in', `${spec.name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', days, '-extfile', extFile, '-out', cert], dir);
    fs.chmodSync(key, 0o600);
    out[spec.name] = { cert, key };
  }
  fs.chmodSync(path.join(dir, 'ca.key'), 0o600);
  return { dir, ca, leaves: out };
}

/** Hands the PKI's files to the account the cluster runs as (PostgreSQL wants to own its key). */
export function chownPki(pki: Pki, uid: number, gid: number): void {
  fs.chownSync(pki.dir, uid, gid);
  for (const f of fs.readdirSync(pki.dir)) fs.chownSync(path.join(pki.dir, f), uid, gid);
}
