// The certificate of a terminated listener: built and checked before it is swapped in, rotated
// by a reload or by a change in its directory (a Kubernetes-style symlink swap), and kept when
// the new pair is bad.
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ListenerTlsConfig } from '../../../src/config/types.js';
import { TlsContextStore } from '../../../src/proxy/tls-context-store.js';
import { silentLogger } from '../../../src/log.js';
import { makePki, type Leaf, type Pki } from '../../harness/pki.js';
import { captureLog } from '../../helpers/capture-log.js';
import { waitFor } from './helpers/wait-for.js';

let dir: string;
let pki: Pki;
const stores: TlsContextStore[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-tls-store-'));
  pki = makePki(path.join(dir, 'pki'), [
    { name: 'one', kind: 'server', sans: ['localhost'], days: 10 },
    { name: 'two', kind: 'server', sans: ['localhost'], days: 20 },
  ]);
});

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function leaf(name: string): Leaf {
  const l = pki.leaves[name];
  if (!l) throw new Error(`no leaf ${name}`);
  return l;
}

const read = (f: string): string => fs.readFileSync(f, 'utf8');

function config(cert: string, key: string, paths = true): ListenerTlsConfig {
  return {
    cert: { pem: read(cert), path: paths ? cert : null },
    key: { pem: read(key), path: paths ? key : null },
    client_ca: null,
    require: false,
    min_version: 'TLSv1.2',
  };
}

function store(cfg: ListenerTlsConfig, logger = silentLogger()): TlsContextStore {
  const s = new TlsContextStore(cfg, { listener: 'rw', logger, debounceMs: 20 });
  stores.push(s);
  return s;
}

const notAfterOf = (certFile: string): number => Date.parse(new X509Certificate(read(certFile)).validTo);

/** One handshake against the store's current context (as a session starts it), by a client capped at `maxVersion`: the version agreed, or 'refused'. */
async function handshake(s: TlsContextStore, maxVersion: tls.SecureVersion): Promise<string> {
  const server = net.createServer((raw) => {
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: s.context });
    secure.on('error', () => raw.destroy());
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = server.address() as net.AddressInfo;
  try {
    return await new Promise<string>((resolve) => {
      const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion });
      client.once('secureConnect', () => {
        resolve(client.getProtocol() ?? 'unknown');
        client.destroy();
      });
      client.once('error', () => resolve('refused'));
      client.once('close', () => resolve('refused'));
    });
  } finally {
    server.close();
  }
}

describe('TlsContextStore', () => {
  it('builds the context and knows the leaf: its notAfter and its DER', () => {
    const s = store(config(leaf('one').cert, leaf('one').key));
    expect(s.notAfter).toBe(notAfterOf(leaf('one').cert));
    expect(s.leafDer.equals(new X509Certificate(read(leaf('one').cert)).raw)).toBe(true);
    expect(s.verifyClients).toBe(false);
  });

  it('refuses a pair whose key is not the certificate\'s with PGR_ERR_TLS', () => {
    expect(() => store(config(leaf('one').cert, leaf('two').key))).toThrow(expect.objectContaining({ code: 'PGR_ERR_TLS' }));
  });

  it('swaps in a reloaded pair, and keeps the current one when the new pair is bad, logging why but never the key', () => {
    const log = captureLog();
    const s = store(config(leaf('one').cert, leaf('one').key), log.logger);
    s.update(config(leaf('two').cert, leaf('one').key));
    expect(s.notAfter).toBe(notAfterOf(leaf('one').cert));
    expect(log.lines.at(-1)).toMatchObject({ event: 'tls_reload_failed', listener: 'rw', source: 'reload' });
    expect(log.text()).not.toContain('PRIVATE KEY');
    s.update(config(leaf('two').cert, leaf('two').key));
    expect(s.notAfter).toBe(notAfterOf(leaf('two').cert));
    expect(log.lines.at(-1)).toMatchObject({ event: 'tls_reloaded', listener: 'rw', source: 'reload', subject: 'CN=two' });
  });

  it('applies a reload that changes only min_version: a TLSv1.2 client is refused from then on', async () => {
    const cfg = config(leaf('one').cert, leaf('one').key);
    const s = store(cfg);
    expect(await handshake(s, 'TLSv1.2')).toBe('TLSv1.2');
    s.update({ ...cfg, min_version: 'TLSv1.3' });
    expect(await handshake(s, 'TLSv1.2')).toBe('refused');
    expect(await handshake(s, 'TLSv1.3')).toBe('TLSv1.3');
  });

  it('follows a Kubernetes-style rotation: the ..data symlink swapped in the watched directory', async () => {
    // secret volume layout: tls.crt -> ..data/tls.crt, ..data -> ..2026_a (a timestamped dir)
    const vol = fs.mkdtempSync(path.join(dir, 'secret-'));
    const version = (name: string, from: Leaf): void => {
      fs.mkdirSync(path.join(vol, name));
      fs.copyFileSync(from.cert, path.join(vol, name, 'tls.crt'));
      fs.copyFileSync(from.key, path.join(vol, name, 'tls.key'));
    };
    version('..2026_a', leaf('one'));
    fs.symlinkSync('..2026_a', path.join(vol, '..data'));
    fs.symlinkSync('..data/tls.crt', path.join(vol, 'tls.crt'));
    fs.symlinkSync('..data/tls.key', path.join(vol, 'tls.key'));
    const log = captureLog();
    const s = store(config(path.join(vol, 'tls.crt'), path.join(vol, 'tls.key')), log.logger);
    s.start();
    expect(s.notAfter).toBe(notAfterOf(leaf('one').cert));

    version('..2026_b', leaf('two'));
    fs.symlinkSync('..2026_b', path.join(vol, '..data_tmp'));
    fs.renameSync(path.join(vol, '..data_tmp'), path.join(vol, '..data'));
    await waitFor(() => s.notAfter === notAfterOf(leaf('two').cert), { what: 'the rotated certificate' });
    expect(log.lines.find((l) => l.event === 'tls_reloaded')).toMatchObject({ source: 'watch', subject: 'CN=two' });
  });

  it('waits out a rotation written file by file: a certificate without its key yet is kept back', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'plain-'));
    const cert = path.join(d, 'server.crt');
    const key = path.join(d, 'server.key');
    fs.copyFileSync(leaf('one').cert, cert);
    fs.copyFileSync(leaf('one').key, key);
    const log = captureLog();
    const s = store(config(cert, key), log.logger);
    s.start();
    fs.copyFileSync(leaf('two').cert, cert);
    await waitFor(() => log.lines.some((l) => l.event === 'tls_reload_failed'), { what: 'the half rotation to be refused' });
    expect(s.notAfter).toBe(notAfterOf(leaf('one').cert));
    fs.copyFileSync(leaf('two').key, key);
    await waitFor(() => s.notAfter === notAfterOf(leaf('two').cert), { what: 'the completed rotation' });
  });

  it('does not watch PEM that came from an environment variable, and stops watching on close', () => {
    const s = store(config(leaf('one').cert, leaf('one').key, false));
    s.start();
    expect(s.watching()).toEqual([]);
    s.close();
    const watched = store(config(leaf('one').cert, leaf('one').key));
    watched.start();
    expect(watched.watching()).toEqual([path.dirname(leaf('one').cert)]);
    watched.close();
    expect(watched.watching()).toEqual([]);
  });
});
