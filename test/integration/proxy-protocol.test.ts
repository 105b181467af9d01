// PROXY protocol and allow-lists against a real cluster, with real senders of the header: a
// small PROXY-v2 forwarder written here (it plays Azure Private Link: any client address, a
// LINKID TLV) and Debian's HAProxy with `send-proxy-v2` and `send-proxy` (v1), with psql and
// raw protocol clients behind them (issue 11, parts 4 and 5).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/types.js';
import { HttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import type { Router } from '../../src/router/router.js';
import type { SessionInfo } from '../../src/sessions/types.js';
import { findFreePort, LocalCluster, waitFor } from '../harness/cluster.js';
import { ManagedProcess } from '../harness/process.js';
import { startupPacket } from '../unit/proxy/helpers/packets.js';
import { azureLinkId, proxyV2 } from '../unit/proxy/helpers/proxy-header.js';
import { RawClient } from '../unit/proxy/helpers/raw-client.js';
import { freeRouterPorts, routerConfig, startRouter } from './router-fixture.js';

const run = promisify(execFile);
const TOKEN = 'proxy-protocol-admin-token-0123456789';
const LINK_ID = 0x2a00_0017;

/** Accepts clients and forwards each to `target` behind a PROXY v2 header naming `source` as the client. */
class ProxyV2Forwarder {
  /** The client ports it put in headers, in connection order. */
  readonly clientPorts: number[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;

  private constructor(target: number, sourceAddress: string) {
    this.server = net.createServer((client) => {
      const port = client.remotePort ?? 0;
      this.clientPorts.push(port);
      const upstream = net.connect(target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      upstream.write(proxyV2({ source: { address: sourceAddress, port }, destination: { address: '127.0.0.1', port: target }, tlvs: [azureLinkId(LINK_ID)] }));
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  static async start(target: number, sourceAddress: string): Promise<ProxyV2Forwarder> {
    const f = new ProxyV2Forwarder(target, sourceAddress);
    await new Promise<void>((resolve) => f.server.listen(0, '127.0.0.1', resolve));
    return f;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** psql -c through `port`; resolves with its exit status and output, never rejects. */
async function psql(port: number, sql: string, sslmode = 'prefer'): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const args = ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql];
  try {
    const { stdout, stderr } = await run('psql', args, { env: { ...process.env, PGCONNECT_TIMEOUT: '20', PGSSLMODE: sslmode } });
    return { ok: true, stdout: stdout.trim(), stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, stdout: (e.stdout ?? '').trim(), stderr: e.stderr ?? '' };
  }
}

/** A raw session through `port` (user postgres), ready for queries. */
async function rawSession(port: number): Promise<RawClient> {
  const raw = await RawClient.connect(port);
  raw.write(startupPacket({ user: 'postgres', database: 'postgres' }));
  await waitFor(() => raw.received.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])), { timeoutMs: 10_000, what: 'ReadyForQuery' });
  return raw;
}

describe('PROXY protocol and allow in front of a real cluster', () => {
  let cluster: LocalCluster;
  let router: Router;
  let http: HttpServer;
  let adminBase: string;
  let httpBase: string;
  let ppPort: number;
  let azure: ProxyV2Forwarder;
  let outsider: ProxyV2Forwarder;
  let haproxy: ManagedProcess | null = null;
  let haproxyDir: string;
  const haproxyPorts = { v2: 0, v1: 0 };

  const refusals = (): Record<string, number> => ({ ...router.dataPath.traffic()['pp']?.refusals });
  const sessions = async (): Promise<SessionInfo[]> => {
    const res = await fetch(`${adminBase}/admin/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return ((await res.json()) as { sessions: SessionInfo[] }).sessions.filter((s) => s.listener === 'pp');
  };

  beforeAll(async () => {
    cluster = await LocalCluster.start({ nodes: 1 });
    const ports = await freeRouterPorts();
    ppPort = await findFreePort();
    const pp = [
      `  - name: pp`,
      `    bind: "127.0.0.1:${ppPort}"`,
      `    role: primary`,
      `    proxy_protocol: { accept: any, trusted: [127.0.0.1/32] }`,
      `    allow: [198.18.0.0/24, 127.0.0.1]`,
    ];
    const config: Config = { ...routerConfig(cluster, ports, { extraListeners: pp }), admin: { bind: { host: '127.0.0.1', port: await findFreePort() }, token: TOKEN, quitquitquit: false } };
    router = await startRouter(config);
    http = new HttpServer({ config, control: router, logger: silentLogger() });
    await http.start();
    adminBase = `http://127.0.0.1:${http.addresses().admin?.port ?? 0}`;
    httpBase = `http://127.0.0.1:${http.addresses().http.port}`;
    const leader = await cluster.leader();
    await waitFor(() => router.discovery.current().primary === leader, { timeoutMs: 20_000, what: 'router to confirm the leader' });
    azure = await ProxyV2Forwarder.start(ppPort, '198.18.0.7');
    outsider = await ProxyV2Forwarder.start(ppPort, '192.0.2.1');

    haproxyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-haproxy-'));
    haproxyPorts.v2 = await findFreePort();
    haproxyPorts.v1 = await findFreePort();
    const cfg = path.join(haproxyDir, 'haproxy.cfg');
    fs.writeFileSync(
      cfg,
      [
        'global',
        '    maxconn 100',
        'defaults',
        '    mode tcp',
        '    timeout client 60s',
        '    timeout server 60s',
        '    timeout connect 4s',
        'listen v2',
        `    bind 127.0.0.1:${haproxyPorts.v2}`,
        `    server pgrouter 127.0.0.1:${ppPort} send-proxy-v2`,
        'listen v1',
        `    bind 127.0.0.1:${haproxyPorts.v1}`,
        `    server pgrouter 127.0.0.1:${ppPort} send-proxy`,
        '',
      ].join('\n'),
    );
    await run('haproxy', ['-c', '-f', cfg]);
    haproxy = await ManagedProcess.spawn('haproxy', ['-db', '-f', cfg], { logFile: path.join(haproxyDir, 'haproxy.log'), env: process.env, runAs: undefined, cwd: haproxyDir });
  });

  afterAll(async () => {
    await haproxy?.stop(2_000);
    await azure?.close();
    await outsider?.close();
    await http?.close();
    await router?.close({ graceMs: 0 });
    await cluster?.stop();
    if (haproxyDir) fs.rmSync(haproxyDir, { recursive: true, force: true });
  });

  it('lets psql through a PROXY v2 sender, with its default sslmode (SSLRequest behind the header)', async () => {
    const before = refusals();
    expect(await psql(azure.port, 'select 1')).toMatchObject({ ok: true, stdout: '1' });
    expect(await psql(azure.port, 'select 2', 'disable')).toMatchObject({ ok: true, stdout: '2' });
    expect(refusals()).toEqual(before);
  });

  it('shows the client address and Azure link id from the header in /admin/sessions', async () => {
    const raw = await rawSession(azure.port);
    const port = azure.clientPorts.at(-1);
    const listed = await sessions();
    expect(listed).toEqual([expect.objectContaining({ client_address: `198.18.0.7:${port}`, link_id: LINK_ID })]);
    raw.destroy();
    await waitFor(async () => (await sessions()).length === 0, { timeoutMs: 5_000, what: 'session gone' });
  });

  it('reads HAProxy’s send-proxy-v2 and send-proxy (v1) headers: psql works, the session shows the client’s own port', async () => {
    for (const port of [haproxyPorts.v2, haproxyPorts.v1]) {
      await waitFor(async () => (await psql(port, 'select 1')).ok, { timeoutMs: 10_000, what: `psql through HAProxy on ${port}` });
      const raw = await rawSession(port);
      const listed = await sessions();
      // The router's peer is HAProxy (another port); the header names the client behind it.
      expect(listed.map((s) => s.client_address)).toEqual([`127.0.0.1:${raw.socket.localPort ?? 0}`]);
      expect(listed[0]).not.toHaveProperty('link_id');
      raw.destroy();
      await waitFor(async () => (await sessions()).length === 0, { timeoutMs: 5_000, what: 'session gone' });
    }
  });

  it('refuses a client whose header address is outside allow with 28000, which psql shows with every sslmode but require', async () => {
    const before = refusals();
    const message = 'FATAL:  connection from host "192.0.2.1" is not allowed on listener "pp" (its allow list)';
    const plain = await psql(outsider.port, 'select 1', 'disable');
    expect(plain.ok).toBe(false);
    expect(plain.stderr).toContain(message);
    // libpq's default sends an SSLRequest first: answered 'N', its StartupMessage gets the 28000.
    const prefer = await psql(outsider.port, 'select 1', 'prefer');
    expect(prefer.ok).toBe(false);
    expect(prefer.stderr).toContain(message);
    // require gives up at the 'N' itself, with libpq's own message.
    const require = await psql(outsider.port, 'select 1', 'require');
    expect(require.ok).toBe(false);
    expect(require.stderr).toContain('server does not support SSL, but SSL was required');
    // psql with require closes the connection itself: the router counts it when it sees the close.
    const want = (before['not_allowed'] ?? 0) + 3;
    await waitFor(() => refusals()['not_allowed'] === want, { timeoutMs: 5_000, what: 'the three refusals to be counted' });
    expect(refusals()).toEqual({ ...before, not_allowed: want });
  });

  it('closes psql connecting straight to the listener, without a header, and counts it', async () => {
    const before = refusals();
    const direct = await psql(ppPort, 'select 1', 'disable');
    expect(direct.ok).toBe(false);
    expect(direct.stderr).toContain('server closed the connection unexpectedly');
    expect(refusals()).toEqual({ ...before, proxy_missing: (before['proxy_missing'] ?? 0) + 1 });
    // The same counts, in the one refusal metric.
    const metrics = await (await fetch(`${httpBase}/metrics`)).text();
    for (const [reason, n] of Object.entries(refusals())) {
      expect(metrics).toContain(`pgrouter_listener_refusals_total{listener="pp",reason="${reason}"} ${n}`);
    }
    expect(refusals()).toMatchObject({ proxy_missing: 1, not_allowed: 3 });
  });
});
