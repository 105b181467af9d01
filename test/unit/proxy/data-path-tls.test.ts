// Socket-level tests of TLS termination (ssl: terminate), PostgreSQL 17 direct TLS, TLS to
// PostgreSQL (server_tls) and SCRAM channel binding, against fake backends that speak real TLS.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ListenerConfig, ServerTlsConfig } from '../../../src/config/types.js';
import { CHANNEL_BINDING_MESSAGE } from '../../../src/proxy/channel-binding.js';
import { TLS_REQUIRED_MESSAGE } from '../../../src/proxy/handshake.js';
import { findServerSasl } from '../../../src/protocol/sasl.js';
import { available } from '../../../src/relay/native-relay.js';
import { makePki, type Pki } from '../../harness/pki.js';
import { listenerConfig, testConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import type { FakeBackendOptions } from './helpers/fake-backend.js';
import { backendMessage, cancelPacket, queryPacket, sslRequest, startupPacket } from './helpers/packets.js';
import { errorFields, RawClient } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait-for.js';

let dir: string;
let pki: Pki;
let foreign: Pki;
let f: Fixture | null = null;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-dp-tls-'));
  pki = makePki(path.join(dir, 'pki'), [
    { name: 'router', kind: 'server', sans: ['127.0.0.1', 'localhost'] },
    { name: 'pg', kind: 'server', sans: ['127.0.0.1'] },
    { name: 'pgname', kind: 'server', sans: ['db.invalid'] },
    { name: 'client', kind: 'client' },
  ]);
  foreign = makePki(path.join(dir, 'foreign'), [{ name: 'client', kind: 'client' }]);
});

afterEach(async () => {
  await f?.close();
  f = null;
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const read = (file: string): string => fs.readFileSync(file, 'utf8');

function pair(p: Pki, name: string): { cert: string; key: string } {
  const l = p.leaves[name];
  if (!l) throw new Error(`no leaf ${name}`);
  return { cert: read(l.cert), key: read(l.key) };
}

const NO_SERVER_TLS: ServerTlsConfig = { mode: 'disable', ca: null, cert: null, key: null };

function terminate(over: Partial<ListenerConfig['tls'] & object> = {}, serverTls: ServerTlsConfig = NO_SERVER_TLS, leaf = 'router'): ListenerConfig {
  const { cert, key } = pair(pki, leaf);
  return listenerConfig({
    name: 'rw',
    ssl: 'terminate',
    tls: { cert: { pem: cert, path: null }, key: { pem: key, path: null }, client_ca: null, require: false, min_version: 'TLSv1.2', ...over },
    server_tls: serverTls,
  });
}

async function start(listener: ListenerConfig, backend: FakeBackendOptions = {}): Promise<Fixture> {
  f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ listeners: [listener] }), backend });
  return f;
}

/** A TLS client of the router: after SSLRequest and 'S', or direct (PostgreSQL 17). */
async function tlsClient(port: number, opts: { direct?: boolean; alpn?: string[]; cert?: { cert: string; key: string } } = {}): Promise<RawClient> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ca: read(pki.ca),
    ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
    ...(opts.cert ?? {}),
    ...(opts.direct ? {} : { socket: await sslAccepted(port) }),
  });
  const client = RawClient.of(socket);
  await new Promise<void>((resolve) => {
    socket.once('secureConnect', () => resolve());
    socket.once('close', () => resolve());
  });
  return client;
}

/** A plain socket whose SSLRequest the router answered 'S'. */
async function sslAccepted(port: number): Promise<import('node:net').Socket> {
  const raw = await RawClient.connect(port);
  raw.write(sslRequest());
  expect((await raw.waitBytes(1)).toString()).toBe('S');
  raw.socket.removeAllListeners('data');
  return raw.socket;
}

const READY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

async function login(c: RawClient): Promise<void> {
  c.write(startupPacket({ user: 'app' }));
  await waitFor(() => c.received.includes(READY), { what: 'ReadyForQuery through TLS' });
}

const refusals = (fx: Fixture) => fx.dp.traffic()['rw']?.refusals ?? {};

describe('ssl: terminate', () => {
  it("answers 'S', does the TLS handshake itself and sends PostgreSQL the plaintext startup", async () => {
    const fx = await start(terminate());
    const c = await fx.pgClient('rw', { ssl: { ca: read(pki.ca), servername: 'localhost' } });
    expect((await c.query<{ backend: string }>('select 1')).rows[0]?.backend).toBe('n1');
    await c.end();
    expect(fx.backends['n1']?.sslRequests).toBe(0);
    expect(fx.backends['n1']?.startups).toEqual([expect.objectContaining({ user: 'app', database: 'db' })]);
  });

  it('still serves plaintext clients unless tls.require, which refuses them with 28000', async () => {
    const fx = await start(terminate({ require: true }));
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitClosed();
    expect(errorFields(raw.received)).toMatchObject({ C: '28000', M: TLS_REQUIRED_MESSAGE });
    expect(refusals(fx)).toEqual({ tls_required: 1 });
    const c = await tlsClient(fx.port('rw'));
    await login(c);
    c.destroy();
  });

  it('closes a client that pipelined bytes behind its SSLRequest (CVE-2021-23214)', async () => {
    const fx = await start(terminate());
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(Buffer.concat([sslRequest(), startupPacket({ user: 'app' })]));
    await raw.waitClosed();
    expect(raw.received.length).toBe(0);
    expect(refusals(fx)).toEqual({ ssl_pipelined: 1 });
  });

  it('takes a PostgreSQL 17 direct TLS ClientHello with ALPN postgresql, and answers an SSLRequest inside it with N', async () => {
    const fx = await start(terminate());
    const c = await tlsClient(fx.port('rw'), { direct: true, alpn: ['postgresql'] });
    c.write(sslRequest());
    expect((await c.waitBytes(1)).toString()).toBe('N');
    await login(c);
    c.destroy();
  });

  it('refuses direct TLS without ALPN postgresql (Node skips the ALPN callback then)', async () => {
    const fx = await start(terminate());
    const c = await tlsClient(fx.port('rw'), { direct: true });
    await c.waitClosed();
    expect(refusals(fx)).toEqual({ tls_alpn: 1 });
  });

  it('routes a CancelRequest sent inside direct TLS to the exact backend (libpq 17 encrypts its cancels)', async () => {
    const fx = await start(terminate());
    const c = await tlsClient(fx.port('rw'), { direct: true, alpn: ['postgresql'] });
    await login(c);
    const at = c.received.indexOf(Buffer.from([0x4b, 0, 0, 0, 12]));
    const pid = c.received.readUInt32BE(at + 5);
    const key = Buffer.from(c.received.subarray(at + 9, at + 13));
    // Only what comes after the login: a key byte may well be an 'E'.
    const mark = c.received.length;
    c.write(queryPacket('sleep'));
    await waitFor(() => fx.backends['n1']?.queries.includes('sleep'), { what: 'the query to reach the backend' });
    const cancel = await tlsClient(fx.port('rw'), { direct: true, alpn: ['postgresql'] });
    cancel.write(cancelPacket(pid, key));
    await waitFor(() => errorFields(c.received.subarray(mark)).C === '57014', { what: 'the cancelled query' });
    expect(fx.cancels()).toEqual({ exact: 1 });
    c.destroy();
  });

  it('verifies client certificates against client_ca: none or a foreign one is refused, its own works', async () => {
    const fx = await start(terminate({ client_ca: { pem: read(pki.ca), path: null } }));
    const none = await tlsClient(fx.port('rw'));
    await none.waitClosed();
    const stranger = await tlsClient(fx.port('rw'), { cert: pair(foreign, 'client') });
    await stranger.waitClosed();
    expect(refusals(fx)).toEqual({ tls_handshake: 2 });
    const known = await tlsClient(fx.port('rw'), { cert: pair(pki, 'client') });
    await login(known);
    known.destroy();
  });
});

describe('server_tls', () => {
  const upstream = (mode: ServerTlsConfig['mode'], ca: string | null = null): ServerTlsConfig => ({ mode, ca, cert: null, key: null });
  const plain = (serverTls: ServerTlsConfig): ListenerConfig => listenerConfig({ name: 'rw', ssl: 'disable', server_tls: serverTls });

  it('sends its own SSLRequest and speaks TLS to PostgreSQL for a plaintext client (the sidecar case)', async () => {
    const fx = await start(plain(upstream('verify-full', read(pki.ca))), { sslAnswer: 'S', tls: pair(pki, 'pg') });
    const c = await fx.pgClient('rw');
    expect((await c.query<{ backend: string }>('select 1')).rows[0]?.backend).toBe('n1');
    await c.end();
    expect(fx.backends['n1']?.tlsSessions).toBe(1);
  });

  it('fails verify-full when the certificate does not name the member address, and verify-ca does not mind', async () => {
    const named = { sslAnswer: 'S', tls: pair(pki, 'pgname') } as const;
    const fx = await start(plain(upstream('verify-full', read(pki.ca))), named);
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitClosed();
    expect(errorFields(raw.received).C).toBe('57P03');
    expect(fx.dp.traffic()['rw']?.backends['n1']?.connect_errors).toBeGreaterThan(0);
    await fx.close();
    const ca = await start(plain(upstream('verify-ca', read(pki.ca))), named);
    const c = await ca.pgClient('rw');
    await c.end();
  });

  it("closes a backend that sends bytes behind its 'S' (CVE-2021-23214, pgrouter as the client)", async () => {
    const fx = await start(plain(upstream('require')), { sslAnswer: 'S', afterS: Buffer.from('R'), tls: pair(pki, 'pg') });
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitClosed();
    expect(fx.backends['n1']?.tlsSessions).toBe(0);
    expect(fx.dp.traffic()['rw']?.backends['n1']?.connect_errors).toBeGreaterThan(0);
  });

  it("continues in plaintext after 'N' with prefer, and refuses that backend with require", async () => {
    const fx = await start(plain(upstream('prefer')), { sslAnswer: 'N' });
    const c = await fx.pgClient('rw');
    await c.end();
    await fx.close();
    const strict = await start(plain(upstream('require')), { sslAnswer: 'N' });
    const raw = await RawClient.connect(strict.port('rw'));
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitClosed();
    expect(strict.backends['n1']?.startups).toEqual([]);
  });
});

describe('SCRAM channel binding', () => {
  const BOTH = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'];
  const saslBackend = (leaf: string): FakeBackendOptions => ({ sslAnswer: 'S', tls: pair(pki, leaf), sasl: BOTH });
  const upstream: ServerTlsConfig = { mode: 'require', ca: null, cert: null, key: null };

  /** SASLInitialResponse naming `mechanism`. */
  const initial = (mechanism: string): Buffer => backendMessage('p', Buffer.concat([Buffer.from(`${mechanism}\0`), Buffer.from([0, 0, 0, 3]), Buffer.from('n,,')]));

  async function offer(c: RawClient): Promise<readonly string[]> {
    c.write(startupPacket({ user: 'app' }));
    await waitFor(() => findServerSasl(c.received).kind === 'sasl', { what: 'AuthenticationSASL' });
    const found = findServerSasl(c.received);
    return found.kind === 'sasl' ? found.mechanisms : [];
  }

  it('strips SCRAM-SHA-256-PLUS for a plaintext client when PostgreSQL is reached over TLS', async () => {
    const fx = await start(listenerConfig({ name: 'rw', ssl: 'disable', server_tls: upstream }), saslBackend('pg'));
    const c = await RawClient.connect(fx.port('rw'));
    expect(await offer(c)).toEqual(['SCRAM-SHA-256']);
    c.write(initial('SCRAM-SHA-256'));
    await waitFor(() => c.received.includes(READY), { what: 'the login' });
    expect(fx.backends['n1']?.saslChoices).toEqual(['SCRAM-SHA-256']);
    c.destroy();
  });

  it('refuses a TLS client that chooses -PLUS with a 28000 that says why, and lets SCRAM-SHA-256 through', async () => {
    const fx = await start(terminate({}, upstream), saslBackend('pg'));
    const plus = await tlsClient(fx.port('rw'));
    expect(await offer(plus)).toEqual(BOTH);
    const mark = plus.received.length;
    plus.write(initial('SCRAM-SHA-256-PLUS'));
    await plus.waitClosed();
    expect(errorFields(plus.received.subarray(mark))).toMatchObject({ C: '28000', M: CHANNEL_BINDING_MESSAGE });
    expect(refusals(fx)).toEqual({ channel_binding: 1 });
    expect(fx.backends['n1']?.saslChoices).toEqual([]);
    const plain = await tlsClient(fx.port('rw'));
    await offer(plain);
    plain.write(initial('SCRAM-SHA-256'));
    await waitFor(() => plain.received.includes(READY), { what: 'the login without channel binding' });
    expect(fx.backends['n1']?.saslChoices).toEqual(['SCRAM-SHA-256']);
    plain.destroy();
  });

  it('lets -PLUS through when pgrouter presents the very certificate PostgreSQL does', async () => {
    const fx = await start(terminate({}, upstream, 'pg'), saslBackend('pg'));
    const c = await tlsClient(fx.port('rw'));
    expect(await offer(c)).toEqual(BOTH);
    c.write(initial('SCRAM-SHA-256-PLUS'));
    await waitFor(() => c.received.includes(READY), { what: 'the bound login' });
    expect(fx.backends['n1']?.saslChoices).toEqual(['SCRAM-SHA-256-PLUS']);
    c.destroy();
  });
});

describe('a reload', () => {
  /** The certificate a new TLS client of `port` is shown. */
  async function presented(port: number): Promise<Buffer> {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: read(pki.ca), socket: await sslAccepted(port) });
    const cert = await new Promise<Buffer>((resolve, reject) => {
      socket.once('secureConnect', () => resolve(socket.getPeerCertificate().raw));
      socket.once('error', reject);
    });
    socket.destroy();
    return cert;
  }
  const der = (leafName: string) => new X509Certificate(pair(pki, leafName).cert).raw;

  it('presents a new certificate to new handshakes while a session already in TLS keeps running', async () => {
    const fx = await start(terminate());
    const before = await fx.pgClient('rw', { ssl: { ca: read(pki.ca), servername: 'localhost' } });
    expect((await presented(fx.port('rw'))).equals(der('router'))).toBe(true);
    await fx.dp.reconfigure(testConfig({ listeners: [terminate({}, NO_SERVER_TLS, 'pg')] }));
    expect((await presented(fx.port('rw'))).equals(der('pg'))).toBe(true);
    expect((await before.query<{ backend: string }>('select 1')).rows[0]?.backend).toBe('n1');
    await before.end();
    expect(fx.dp.tlsCertExpiry()['rw']).toBeGreaterThan(Date.now() / 1000);
  });

  it('turns a kept passthrough listener into a terminating one', async () => {
    const fx = await start(listenerConfig({ name: 'rw' }));
    expect(fx.dp.tlsCertExpiry()).toEqual({});
    await fx.dp.reconfigure(testConfig({ listeners: [terminate()] }));
    const c = await tlsClient(fx.port('rw'));
    await login(c);
    c.destroy();
  });

  it('fails with PGR_ERR_TLS and changes nothing when OpenSSL refuses the new material', async () => {
    const fx = await start(terminate());
    const bad = terminate({}, { mode: 'require', ca: null, cert: pair(pki, 'pg').cert, key: pair(pki, 'router').key });
    await expect(fx.dp.reconfigure(testConfig({ listeners: [bad] }))).rejects.toMatchObject({ code: 'PGR_ERR_TLS' });
    const c = await fx.pgClient('rw', { ssl: { ca: read(pki.ca), servername: 'localhost' } });
    await c.end();
  });
});

describe.runIf(available())('TLS sessions and the native relay (issue 12)', () => {
  it('keeps a TLS-terminated session in the JS relay (its fd carries TLS records), counted as tls', async () => {
    const fx = await start(terminate());
    expect(fx.dp.relay.report().engine).toBe('native');
    const c = await fx.pgClient('rw', { ssl: { ca: read(pki.ca), servername: 'localhost' } });
    expect((await c.query<{ backend: string }>('select 1')).rows[0]?.backend).toBe('n1');
    expect(fx.dp.relay.report()).toEqual({ engine: 'native', native_sessions: 0, js_fallbacks: { tls: 1 } });
    await c.end();
  });

  it('keeps a session with TLS to PostgreSQL in the JS relay too', async () => {
    const server: ServerTlsConfig = { mode: 'verify-full', ca: read(pki.ca), cert: null, key: null };
    const fx = await start(listenerConfig({ name: 'rw', ssl: 'disable', server_tls: server }), { sslAnswer: 'S', tls: pair(pki, 'pg') });
    const c = await fx.pgClient('rw');
    expect((await c.query<{ backend: string }>('select 1')).rows[0]?.backend).toBe('n1');
    expect(fx.dp.relay.report()).toEqual({ engine: 'native', native_sessions: 0, js_fallbacks: { tls: 1 } });
    await c.end();
  });
});
