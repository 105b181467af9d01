// The front door over TLS, against a real cluster (etcd + 3 × Patroni + PostgreSQL 15 with
// ssl=on) and a role that must log in with SCRAM: pgrouter terminating TLS, speaking TLS to
// PostgreSQL, both, or passing the client's TLS through, driven by real clients — psql and
// psycopg2 (Debian's libpq 15), node-postgres, and a PostgreSQL 17 style direct-TLS client.
// The tables of docs/tls.md are built here from what those clients did (doc-tables.ts).
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import type { Router } from '../../src/router/router.js';
import { findFreePort, LocalCluster, waitFor } from '../harness/cluster.js';
import { makePki, type Pki } from '../harness/pki.js';
import { cancelPacket, queryPacket, sslRequest, startupPacket } from '../unit/proxy/helpers/packets.js';
import { cancelsOf } from '../unit/proxy/helpers/fixture.js';
import { errorFields, RawClient } from '../unit/proxy/helpers/raw-client.js';
import { docSection, markdownTable } from './doc-tables.js';
import { startRouter } from './router-fixture.js';
import * as m from './tls-matrix.js';

const run = promisify(execFile);
const DOC = fileURLToPath(new URL('../../docs/tls.md', import.meta.url));
const cancelScript = fileURLToPath(new URL('./cancel-client.py', import.meta.url));
const SCRAM = { user: 'scram', password: 'scram-secret' };
const READY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

describe('TLS at the front door, with real clients', () => {
  let cluster: LocalCluster;
  let router: Router;
  let dir: string;
  let pki: Pki;
  let bundle: string;
  const ports: Record<string, number> = {};
  let layouts: m.Layout[];

  const leaf = (p: Pki | null, name: string) => {
    const l = p?.leaves[name];
    if (!l) throw new Error(`no leaf ${name}`);
    return l;
  };

  function config(): Config {
    const pgPki = cluster.pki;
    if (!pgPki) throw new Error('the cluster has no PKI');
    const client = leaf(pgPki, 'client');
    const pgServer = leaf(pgPki, 'server');
    const ours = leaf(pki, 'router');
    const front = `tls: { cert: ${ours.cert}, key: ${ours.key} }`;
    const upstream = `server_tls: { mode: verify-full, ca: ${pgPki.ca} }`;
    const l = (name: string, role: string, rest: string) => `  - { name: ${name}, bind: "127.0.0.1:${ports[name]}", role: ${role}, ${rest} }`;
    const yaml = [
      'cluster:',
      `  scope: ${cluster.scope}`,
      `  namespace: ${cluster.namespace}`,
      `  etcd: { hosts: ["${cluster.etcdHost}:${cluster.etcdPort}"] }`,
      `checks: { interval: 1s, timeout: 2s, fall: 3, rise: 2, fast_interval: 100ms, tls: { ca: ${pgPki.ca}, cert: ${client.cert}, key: ${client.key} } }`,
      'listeners:',
      l('pass', 'primary', 'ssl: passthrough'),
      l('term', 'primary', `ssl: terminate, ${front}`),
      l('term_tls', 'primary', `ssl: terminate, ${front}, ${upstream}`),
      l('side', 'primary', `ssl: disable, ${upstream}`),
      l('same', 'primary', `ssl: terminate, tls: { cert: ${pgServer.cert}, key: ${pgServer.key} }, ${upstream}`),
      l('ro_term', 'replica', `ssl: terminate, ${front}, fallback: none`),
      l('rot', 'primary', `ssl: terminate, tls: { cert: ${path.join(dir, 'secret', 'tls.crt')}, key: ${path.join(dir, 'secret', 'tls.key')} }`),
      'timeouts: { connect: 2s, startup: 5s, connect_wait: 10s, shutdown_grace: 1s }',
      `http: { bind: "127.0.0.1:${ports['http']}" }`,
    ].join('\n');
    const loaded = loadConfigText(yaml, { env: {} });
    if (!loaded.ok) throw new Error(`test config invalid: ${JSON.stringify(loaded.issues)}`);
    return loaded.config;
  }

  /** A Kubernetes-style secret volume: tls.crt -> ..data/tls.crt, ..data -> a timestamped dir. */
  function secretVersion(version: string, from: { cert: string; key: string }): void {
    const vol = path.join(dir, 'secret');
    fs.mkdirSync(path.join(vol, version), { recursive: true });
    fs.copyFileSync(from.cert, path.join(vol, version, 'tls.crt'));
    fs.copyFileSync(from.key, path.join(vol, version, 'tls.key'));
    fs.symlinkSync(version, path.join(vol, '..data_tmp'));
    fs.renameSync(path.join(vol, '..data_tmp'), path.join(vol, '..data'));
    if (!fs.existsSync(path.join(vol, 'tls.crt'))) {
      fs.symlinkSync('..data/tls.crt', path.join(vol, 'tls.crt'));
      fs.symlinkSync('..data/tls.key', path.join(vol, 'tls.key'));
    }
  }

  beforeAll(async () => {
    cluster = await LocalCluster.start({ nodes: 3, tls: true, scram: SCRAM });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-tls-it-'));
    pki = makePki(path.join(dir, 'pki'), [
      { name: 'router', kind: 'server', sans: ['127.0.0.1', 'localhost'] },
      { name: 'rot1', kind: 'server', sans: ['127.0.0.1', 'localhost'], days: 10 },
      { name: 'rot2', kind: 'server', sans: ['127.0.0.1', 'localhost'], days: 20 },
    ]);
    bundle = path.join(dir, 'ca-bundle.crt');
    fs.writeFileSync(bundle, fs.readFileSync(cluster.pki?.ca ?? '', 'utf8') + fs.readFileSync(pki.ca, 'utf8'));
    secretVersion('..v1', leaf(pki, 'rot1'));
    for (const name of ['pass', 'term', 'term_tls', 'side', 'same', 'ro_term', 'rot', 'http']) ports[name] = await findFreePort();
    router = await startRouter(config());
    const leader = await cluster.leader();
    await waitFor(() => router.discovery.current().primary === leader, { timeoutMs: 20_000, what: 'router to confirm the leader over HTTPS probes' });
    await waitFor(() => router.discovery.current().members.filter((mv) => Object.values(mv.replica_checks).some((c) => c.up)).length === 2, {
      timeoutMs: 20_000,
      what: 'router to see two fit replicas',
    });
    const label = (name: string, text: string): m.Layout => ({ name, label: text, port: ports[name] ?? 0 });
    layouts = [
      label('pass', '`ssl: passthrough`'),
      label('term', '`ssl: terminate`'),
      label('term_tls', '`ssl: terminate`, `server_tls: verify-full`'),
      label('side', '`ssl: disable`, `server_tls: verify-full`'),
      label('same', "`ssl: terminate` with PostgreSQL's certificate, `server_tls: verify-full`"),
    ];
  });

  afterAll(async () => {
    await router?.close({ graceMs: 0 });
    await cluster?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const who = (): m.Credentials => ({ ...SCRAM, rootCert: bundle });

  it('psql with every sslmode and channel_binding through every layout: the table of docs/tls.md', async () => {
    const jobs = layouts.flatMap((l) => m.SSLMODES.flatMap((s) => m.BINDINGS.map((b) => async () => [m.key(l.name, s, b), await m.psqlLogin(l.port, s, b, who())] as const)));
    const results = new Map(await m.pool(3, jobs));
    // The rows that matter most, spelled out (the whole table is compared below).
    expect(m.cell(m.must(results, m.key('pass', 'verify-full', 'require')))).toBe('✓ TLS/TLS');
    expect(m.cell(m.must(results, m.key('term', 'verify-full', 'prefer')))).toBe('✓ TLS/plain');
    expect(m.cell(m.must(results, m.key('term_tls', 'require', 'prefer')))).toMatch(/^✗ pgrouter: /);
    expect(m.cell(m.must(results, m.key('term_tls', 'require', 'disable')))).toBe('✓ TLS/TLS');
    expect(m.cell(m.must(results, m.key('side', 'prefer', 'prefer')))).toBe('✓ plain/TLS');
    expect(m.cell(m.must(results, m.key('same', 'verify-full', 'require')))).toBe('✓ TLS/TLS');
    const matrix = docSection(DOC, 'psql-matrix', m.psqlTable(layouts, results));
    expect(matrix.committed).toBe(matrix.generated);

    const pick = (layout: string, sslmode: string): string[] => m.BINDINGS.map((b) => m.cell(m.must(results, m.key(layout, sslmode, b))));
    const binding = markdownTable(
      ['client ↔ pgrouter', 'pgrouter ↔ PostgreSQL', 'listener', 'channel_binding=prefer (libpq default)', 'require', 'disable'],
      [
        ['TLS (end to end)', 'TLS (end to end)', '`ssl: passthrough`', ...pick('pass', 'require')],
        ['plaintext', 'plaintext', '`ssl: terminate`', ...pick('term', 'disable')],
        ['TLS', 'plaintext', '`ssl: terminate`', ...pick('term', 'require')],
        ['plaintext', 'TLS', '`ssl: disable`, `server_tls`', ...pick('side', 'disable')],
        ['TLS', 'TLS', '`ssl: terminate`, `server_tls`', ...pick('term_tls', 'require')],
        ['TLS', "TLS, pgrouter presents PostgreSQL's certificate", '`ssl: terminate`, `server_tls`', ...pick('same', 'require')],
      ],
    );
    const cb = docSection(DOC, 'channel-binding', binding);
    expect(cb.committed).toBe(cb.generated);
  });

  it('node-postgres through every layout: the table of docs/tls.md', async () => {
    const ca = fs.readFileSync(bundle, 'utf8');
    const jobs = layouts.flatMap((l) => m.PG_MODES.map((mode) => async () => m.cell(await m.nodePgLogin(l.port, mode, { ...who(), ca }))));
    const cells = await m.pool(3, jobs);
    const rows = layouts.map((l, i) => [l.label, ...cells.slice(i * m.PG_MODES.length, (i + 1) * m.PG_MODES.length)]);
    expect(rows[1]?.slice(1)).toEqual(['✓ plain/plain', '✓ TLS/plain', '✓ plain/plain', '✓ TLS/plain']);
    const section = docSection(DOC, 'node-postgres', markdownTable(['listener', ...m.PG_MODES.map((x) => `\`${x}\``)], rows));
    expect(section.committed).toBe(section.generated);
  });

  it('psycopg2 through every layout: the table of docs/tls.md', async () => {
    const outcomes = await m.psycopgLogins(layouts.map((l) => l.port), who());
    const w = m.PSYCOPG_MODES.length;
    const rows = layouts.map((l, i) => [l.label, ...outcomes.slice(i * w, (i + 1) * w).map(m.cell)]);
    expect(rows[0]?.slice(1)).toEqual(['✓ plain/plain', '✓ TLS/TLS', '✓ TLS/TLS', '✓ TLS/TLS']);
    const section = docSection(DOC, 'psycopg2', markdownTable(['listener', ...m.PSYCOPG_MODES.map((x) => `sslmode=${x}`)], rows));
    expect(section.committed).toBe(section.generated);
  });

  /** A PostgreSQL 17 style client: TLS first (no SSLRequest), ALPN postgresql unless told otherwise. */
  async function directTls(port: number, alpn: string[] | null): Promise<RawClient> {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(bundle), ...(alpn ? { ALPNProtocols: alpn } : {}) });
    const client = RawClient.of(socket);
    await new Promise<void>((resolve) => {
      socket.once('secureConnect', () => resolve());
      socket.once('close', () => resolve());
    });
    return client;
  }

  it('takes PostgreSQL 17 direct TLS with ALPN postgresql, refuses it without, and cancels sent inside TLS reach PostgreSQL', async () => {
    const c = await directTls(ports['term'] ?? 0, ['postgresql']);
    c.write(startupPacket({ user: 'postgres', database: 'postgres' }));
    await waitFor(() => c.received.includes(READY), { timeoutMs: 15_000, what: 'a direct-TLS login' });
    const at = c.received.indexOf(Buffer.from([0x4b, 0, 0, 0, 12]));
    const pid = c.received.readUInt32BE(at + 5);
    const key = Buffer.from(c.received.subarray(at + 9, at + 13));
    const mark = c.received.length;
    c.write(queryPacket('select pg_sleep(5)'));
    await waitFor(async () => (await cluster.psql(await cluster.leader(), `select count(*) from pg_stat_activity where pid = ${pid} and wait_event = 'PgSleep'`)) === '1', {
      timeoutMs: 10_000,
      what: 'the query to sleep',
    });
    const cancel = await directTls(ports['term'] ?? 0, ['postgresql']);
    cancel.write(cancelPacket(pid, key));
    await waitFor(() => errorFields(c.received.subarray(mark)).C === '57014', { timeoutMs: 3_000, what: 'the query cancelled through TLS' });
    c.destroy();

    const before = router.dataPath.traffic()['term']?.refusals['tls_alpn'] ?? 0;
    const bare = await directTls(ports['term'] ?? 0, null);
    await bare.waitClosed();
    expect(router.dataPath.traffic()['term']?.refusals['tls_alpn']).toBe(before + 1);
  });

  it('cancels pg_sleep(5) through a terminated RO port with two replicas 10 of 10 times, each by its exact key', async () => {
    const before = cancelsOf(router.dataPath)['exact'] ?? 0;
    const nodes = cluster.nodes.map((n) => String(n.pgPort));
    const { stdout } = await run('/usr/bin/python3', [cancelScript, String(ports['ro_term']), '10', ...nodes], {
      timeout: 120_000,
      env: { ...process.env, PGSSLMODE: 'require' },
    });
    const result = JSON.parse(stdout) as { ok: number; results: unknown[] };
    expect(result.ok, JSON.stringify(result.results)).toBe(10);
    // psycopg2's cancels are plaintext; the key map learned each session's key through TLS.
    expect((cancelsOf(router.dataPath)['exact'] ?? 0) - before).toBe(10);
  });

  it('rotates the certificate under pgbench (sslmode=require) by a symlink swap: not one session drops, new handshakes get the new one', async () => {
    const rotPort = ports['rot'] ?? 0;
    const notAfter = (name: string) => Math.floor(Date.parse(new X509Certificate(fs.readFileSync(leaf(pki, name).cert)).validTo) / 1000);
    const script = path.join(dir, 'select.sql');
    fs.writeFileSync(script, 'select 1;\n');
    const pgbench = (extra: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const args = ['-n', '-f', script, '-T', '8', '-h', '127.0.0.1', '-p', String(rotPort), '-U', 'postgres', ...extra, 'postgres'];
        const p = spawn('pgbench', args, { env: { ...process.env, PGSSLMODE: 'require', PGSSLROOTCERT: bundle } });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => (out += d.toString()));
        p.on('close', (code) => resolve({ code, out }));
      });
    let finished = false;
    const held = pgbench(['-c', '2']);
    const reconnecting = pgbench(['-c', '2', '-C']);
    void Promise.race([held, reconnecting]).then(() => (finished = true));
    await waitFor(() => (router.dataPath.traffic()['rot']?.total ?? 0) > 20, { timeoutMs: 10_000, what: 'pgbench to be running' });
    expect(router.plane.tlsCertExpiry()['rot']).toBe(notAfter('rot1'));
    secretVersion('..v2', leaf(pki, 'rot2'));
    await waitFor(() => router.plane.tlsCertExpiry()['rot'] === notAfter('rot2'), { timeoutMs: 10_000, what: 'the rotated certificate' });
    // The swap happened under load: both pgbench runs were still going.
    expect(finished).toBe(false);
    const [a, b] = await Promise.all([held, reconnecting]);
    expect(a.code, a.out).toBe(0);
    expect(b.code, b.out).toBe(0);
    for (const r of [a, b]) expect(r.out).toMatch(/number of failed transactions: 0 /);
    const t = router.dataPath.traffic()['rot'];
    expect(t?.refusals ?? {}).toEqual({});
    // Sessions ended as sessions end (Terminate, then one side closes first): no error, no kill.
    expect(Object.keys(t?.closed ?? {}).filter((r) => r !== 'client_closed' && r !== 'server_closed')).toEqual([]);
    // A new handshake now presents the new certificate, and /metrics says when it expires.
    const peer = await new Promise<Buffer>((resolve, reject) => {
      const raw = net.connect(rotPort, '127.0.0.1', () => raw.write(sslRequest()));
      raw.once('data', () => {
        const s = tls.connect({ socket: raw, ca: fs.readFileSync(bundle), host: '127.0.0.1' }, () => {
          resolve(s.getPeerCertificate().raw);
          s.destroy();
        });
        s.on('error', reject);
      });
      raw.on('error', reject);
    });
    expect(peer.equals(new X509Certificate(fs.readFileSync(leaf(pki, 'rot2').cert)).raw)).toBe(true);
    expect(await router.metricsText()).toContain(`pgrouter_tls_cert_expiry_timestamp_seconds{listener="rot"} ${notAfter('rot2')}`);
  });
});
