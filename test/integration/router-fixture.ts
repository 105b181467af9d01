// Shared setup for the router integration tests: one real cluster, one in-process Router in
// front of it on free ports, and small clients (psql, pg, psycopg2, raw sockets).
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { Router } from '../../src/router/router.js';
import { silentLogger, createLogger } from '../../src/log.js';
import { findFreePort, type LocalCluster } from '../harness/cluster.js';

const run = promisify(execFile);

export interface RouterPorts {
  rw: number;
  ro: number;
  http: number;
}

export async function freeRouterPorts(): Promise<RouterPorts> {
  return { rw: await findFreePort(), ro: await findFreePort(), http: await findFreePort() };
}

/** A config for the harness cluster; `extraListeners` are appended YAML listener lines, `extra` top-level lines. */
export function routerConfig(cluster: LocalCluster, ports: RouterPorts, opts: { connectWait?: string; extraListeners?: string[]; extra?: string[] } = {}): Config {
  const yaml = [
    'cluster:',
    `  scope: ${cluster.scope}`,
    `  namespace: ${cluster.namespace}`,
    `  etcd: { hosts: ["${cluster.etcdHost}:${cluster.etcdPort}"], resync_interval: 10s }`,
    'checks: { interval: 3s, timeout: 2s, fall: 3, rise: 2, fast_interval: 100ms }',
    'listeners:',
    `  - { name: rw, bind: "127.0.0.1:${ports.rw}", role: primary }`,
    `  - { name: ro, bind: "127.0.0.1:${ports.ro}", role: replica, max_lag: 1MB, balance: roundrobin, fallback: primary }`,
    ...(opts.extraListeners ?? []),
    `timeouts: { connect: 2s, client: 30m, server: 30m, startup: 2s, connect_wait: ${opts.connectWait ?? '15s'}, shutdown_grace: 1s }`,
    `http: { bind: "127.0.0.1:${ports.http}" }`,
    ...(opts.extra ?? []),
  ].join('\n');
  const result = loadConfigText(yaml, { file: 'test.yaml', env: {} });
  if (!result.ok) throw new Error(`test config invalid: ${JSON.stringify(result.issues)}`);
  return result.config;
}

export async function startRouter(config: Config): Promise<Router> {
  const logger = process.env.PGROUTER_TEST_LOG ? createLogger({ level: process.env.PGROUTER_TEST_LOG }) : silentLogger();
  const router = new Router(config, logger);
  await router.start();
  return router;
}

/** Connects with node-postgres through the router; caller ends it. */
export async function pgClient(port: number, opts: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', ...opts });
  // An ErrorResponse in the same chunk as the ReadyForQuery that resolves connect() (57P01 from a
  // leader shutting down mid-switchover) is emitted before the caller can add a listener, and an
  // 'error' without one is an uncaught exception that fails the whole file. Queries still reject;
  // callers that care about idle errors add their own listener.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Where one new session lands: server port and whether it is in recovery. */
export async function whereAmI(port: number): Promise<{ serverPort: number; inRecovery: boolean }> {
  const c = await pgClient(port);
  try {
    const r = await c.query<{ port: number; rec: boolean }>('select inet_server_port() as port, pg_is_in_recovery() as rec');
    const row = r.rows[0];
    if (!row) throw new Error('no row');
    return { serverPort: row.port, inRecovery: row.rec };
  } finally {
    await c.end();
  }
}

export async function psql(port: number, sql: string): Promise<string> {
  const { stdout } = await run('psql', ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql], {
    env: { ...process.env, PGCONNECT_TIMEOUT: '20' },
  });
  return stdout.trim();
}

/** Opens a raw TCP connection, writes `bytes` (maybe nothing), and resolves when the router closes it. */
export function rawClientClosed(port: number, bytes: Buffer | null, timeoutMs: number): Promise<{ closed: boolean; received: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => {
      if (bytes) s.write(bytes);
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, received: Buffer.concat(chunks) });
    }, timeoutMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received: Buffer.concat(chunks) });
    });
  });
}

export function portOf(cluster: LocalCluster, name: string): number {
  return cluster.node(name).pgPort;
}
