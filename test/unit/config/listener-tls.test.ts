// A listener's TLS keys (issue 11): ssl: terminate with its `tls` block, server_tls, and what
// `pgrouter check` says about a certificate that expires soon.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWarnings, formatWarnings, loadConfigText, type ConfigIssue } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';
import { PassThrough } from 'node:stream';
import { main } from '../../../src/cli/main.js';
import { makePki, type Pki } from '../../harness/pki.js';

const HEAD = 'cluster:\n  scope: s\n  etcd: { hosts: [127.0.0.1:2379] }\nlisteners:\n';

let dir: string;
let pki: Pki;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-tls-config-'));
  pki = makePki(dir, [
    { name: 'front', kind: 'server', sans: ['localhost', '127.0.0.1'] },
    { name: 'other', kind: 'server', sans: ['localhost'] },
    { name: 'soon', kind: 'server', sans: ['localhost'], days: 5 },
  ]);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function leaf(name: string): { cert: string; key: string } {
  const l = pki.leaves[name];
  if (!l) throw new Error(`no leaf ${name}`);
  return l;
}

function load(listener: string, env: NodeJS.ProcessEnv = {}, file?: string): { config: Config | null; issues: ConfigIssue[] } {
  const r = loadConfigText(`${HEAD}  - ${listener}\n`, { env, ...(file ? { file } : {}) });
  return r.ok ? { config: r.config, issues: [] } : { config: null, issues: r.issues };
}

function messages(listener: string): string[] {
  return load(listener).issues.map((i) => `${i.path}: ${i.message}`);
}

describe('ssl: terminate', () => {
  it('keeps the PEM text and the absolute path of each file, with the defaults', () => {
    const { cert, key } = leaf('front');
    const { config } = load(`{ name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${cert}, key: ${key} } }`);
    const l = config?.listeners[0];
    expect(l?.ssl).toBe('terminate');
    expect(l?.tls).toMatchObject({ cert: { path: cert }, key: { path: key }, client_ca: null, require: false, min_version: 'TLSv1.2' });
    expect(l?.tls?.cert.pem).toContain('-----BEGIN CERTIFICATE-----');
    expect(l?.server_tls).toEqual({ mode: 'disable', ca: null, cert: null, key: null });
  });

  it('reads relative paths from the config file directory, and { env } PEM without a path (not watchable)', () => {
    const { cert, key } = leaf('front');
    const env = { KEY_PEM: fs.readFileSync(key, 'utf8') };
    const { config } = load(
      `{ name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${path.basename(cert)}, key: { env: KEY_PEM }, require: true, min_version: TLSv1.3 } }`,
      env,
      path.join(dir, 'pgrouter.yaml'),
    );
    expect(config?.listeners[0]?.tls).toMatchObject({ cert: { path: cert }, key: { path: null }, require: true, min_version: 'TLSv1.3' });
  });

  it('requires the tls block, and its cert and key', () => {
    expect(messages('{ name: rw, bind: ":6432", role: primary, ssl: terminate }')).toEqual([
      'listeners[0].tls: required with ssl: terminate (at least cert and key: the certificate pgrouter presents to clients)',
    ]);
    expect(messages(`{ name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${leaf('front').cert} } }`)).toEqual([
      'listeners[0].tls.key: required key is missing',
    ]);
  });

  it('rejects tls on a listener that does not terminate', () => {
    const { cert, key } = leaf('front');
    expect(messages(`{ name: rw, bind: ":6432", role: primary, tls: { cert: ${cert}, key: ${key} } }`)).toEqual([
      'listeners[0].tls: only applies with ssl: terminate (this listener has ssl: passthrough)',
    ]);
  });

  it('names the key when it does not belong to the certificate, and never prints it', () => {
    const out = messages(`{ name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${leaf('front').cert}, key: ${leaf('other').key} } }`);
    expect(out).toEqual([expect.stringMatching(/^listeners\[0\]\.tls\.key: the private key does not belong to the certificate \(CN=front\)$/)]);
    expect(out.join('')).not.toContain('PRIVATE KEY');
  });

  it('names a certificate file that holds no certificate, and a client_ca that does not parse', () => {
    const { key } = leaf('front');
    expect(messages(`{ name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${key}, key: ${key} } }`)).toEqual([
      'listeners[0].tls.cert: contains no certificate (no -----BEGIN CERTIFICATE----- block)',
    ]);
    expect(messages(`{ name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${leaf('front').cert}, key: ${key}, client_ca: ${key} } }`)).toEqual([
      'listeners[0].tls.client_ca: contains no certificate (no -----BEGIN CERTIFICATE----- block)',
    ]);
  });
});

describe('server_tls', () => {
  it('takes libpq words, a CA for the verify modes and a client certificate', () => {
    const { cert, key } = leaf('other');
    const { config } = load(`{ name: rw, bind: ":6432", role: primary, ssl: disable, server_tls: { mode: verify-full, ca: ${pki.ca}, cert: ${cert}, key: ${key} } }`);
    expect(config?.listeners[0]?.server_tls.mode).toBe('verify-full');
    expect(config?.listeners[0]?.server_tls.ca).toContain('-----BEGIN CERTIFICATE-----');
  });

  it("is an error with ssl: passthrough, where the client's own TLS goes end to end", () => {
    expect(messages('{ name: rw, bind: ":6432", role: primary, server_tls: { mode: require } }')).toEqual([
      "listeners[0].server_tls: does not apply with ssl: passthrough: the client's own TLS goes end to end to PostgreSQL (use ssl: terminate, or ssl: disable for plaintext clients)",
    ]);
  });

  it('rejects a CA that no mode reads, and a client certificate with mode disable', () => {
    expect(messages(`{ name: rw, bind: ":6432", role: primary, ssl: disable, server_tls: { mode: require, ca: ${pki.ca} } }`)).toEqual([
      "listeners[0].server_tls.ca: is only read by mode verify-ca or verify-full (mode require does not check PostgreSQL's certificate)",
    ]);
    const { cert, key } = leaf('other');
    expect(messages(`{ name: rw, bind: ":6432", role: primary, ssl: disable, server_tls: { cert: ${cert}, key: ${key} } }`)).toEqual([
      'listeners[0].server_tls.mode: is disable, but a client certificate is set: use prefer, require, verify-ca or verify-full',
    ]);
  });

  it('checks the client key against its certificate', () => {
    expect(messages(`{ name: rw, bind: ":6432", role: primary, ssl: disable, server_tls: { mode: require, cert: ${leaf('other').cert}, key: ${leaf('front').key} } }`)).toEqual([
      expect.stringMatching(/^listeners\[0\]\.server_tls\.key: the private key does not belong to the certificate/),
    ]);
  });
});

describe('pgrouter check warnings', () => {
  it('warns about a certificate that expires within 14 days, and not about one that does not', () => {
    const soon = leaf('soon');
    const { config } = load(`{ name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${soon.cert}, key: ${soon.key} } }`);
    if (!config) throw new Error('invalid');
    const warnings = configWarnings(config, Date.now());
    expect(warnings).toEqual([{ path: 'listeners[0].tls.cert', line: null, message: expect.stringMatching(/^certificate expires in [45] days \(/) }]);
    expect(formatWarnings('p.yaml', warnings)).toMatch(/^\[WARNING\] p\.yaml: listeners\[0\]\.tls\.cert: certificate expires in/);
    const front = leaf('front');
    const fine = load(`{ name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${front.cert}, key: ${front.key} } }`).config;
    if (!fine) throw new Error('invalid');
    expect(configWarnings(fine, Date.now())).toEqual([]);
    expect(configWarnings(fine, Date.now() + 20 * 86_400_000)[0]?.message).toMatch(/^certificate expires in 9 days/);
  });
});

describe('pgrouter check', () => {
  const run = async (yaml: string): Promise<{ code: number; out: string; err: string }> => {
    const file = path.join(dir, `check-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, yaml);
    const out = new PassThrough();
    const err = new PassThrough();
    let o = '';
    let e = '';
    out.on('data', (d: Buffer) => (o += d.toString()));
    err.on('data', (d: Buffer) => (e += d.toString()));
    const code = await main(['check', '--config', file], out, err);
    return { code, out: o, err: e };
  };

  it('prints a [WARNING] for a certificate that expires within 14 days and still exits 0', async () => {
    const { cert, key } = leaf('soon');
    const r = await run(`${HEAD}  - { name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${cert}, key: ${key} } }\n`);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\[WARNING\] .*: listeners\[0\]\.tls\.cert: certificate expires in [45] days/);
    expect(r.out).toContain('Configuration file is valid');
  });

  it('fails on a key that does not belong to the certificate', async () => {
    const r = await run(`${HEAD}  - { name: rw, bind: ":6432", role: primary, ssl: terminate, tls: { cert: ${leaf('front').cert}, key: ${leaf('other').key} } }\n`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\[ALERT\] .*listeners\[0\]\.tls\.key: the private key does not belong to the certificate/);
  });
});
