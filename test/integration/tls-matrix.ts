// The client matrix of the TLS tests: one login per (listener layout, client setting), what
// happened on each leg, and the tables docs/tls.md shows. Outcomes are written so that two runs
// give the same text: no ports, paths or process ids.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { markdownTable } from './doc-tables.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const pyClient = fileURLToPath(new URL('./tls-client.py', import.meta.url));

export const SSLMODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export const BINDINGS = ['prefer', 'require', 'disable'] as const;
export type SslMode = (typeof SSLMODES)[number];
export type Binding = (typeof BINDINGS)[number];

export interface Layout {
  /** Listener name. */
  readonly name: string;
  /** What the docs call it. */
  readonly label: string;
  readonly port: number;
}

export interface Outcome {
  readonly ok: boolean;
  /** Client ↔ pgrouter, and pgrouter ↔ PostgreSQL (what pg_stat_ssl says), when it worked. */
  readonly client: boolean | null;
  readonly server: boolean | null;
  readonly error: string | null;
}

export interface Credentials {
  readonly user: string;
  readonly password: string;
  /** CA bundle the clients trust (PostgreSQL's CA and pgrouter's). */
  readonly rootCert: string;
}

const SERVER_TLS_SQL = 'select coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false)';

/** psql (libpq 15) with one sslmode and channel_binding. */
export async function psqlLogin(port: number, sslmode: SslMode, binding: Binding, who: Credentials): Promise<Outcome> {
  const args = ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', who.user, '-d', 'postgres', '-c', '\\conninfo', '-c', SERVER_TLS_SQL];
  const env = {
    ...process.env,
    PGPASSWORD: who.password,
    PGSSLMODE: sslmode,
    PGCHANNELBINDING: binding,
    PGSSLROOTCERT: who.rootCert,
    PGCONNECT_TIMEOUT: '15',
  };
  try {
    const { stdout } = await run('psql', args, { env, timeout: 30_000 });
    const lines = stdout.trim().split('\n');
    return { ok: true, client: stdout.includes('SSL connection ('), server: lines.at(-1) === 't', error: null };
  } catch (err) {
    return { ok: false, client: null, server: null, error: String((err as { stderr?: string }).stderr ?? err) };
  }
}

/** node-postgres: ssl off, ssl verified against the bundle, and ssl with enableChannelBinding. */
export const PG_MODES = ['ssl: false', 'ssl: { ca }', 'ssl: false, enableChannelBinding', 'ssl: { ca }, enableChannelBinding'] as const;
export type PgMode = (typeof PG_MODES)[number];

export async function nodePgLogin(port: number, mode: PgMode, who: Credentials & { readonly ca: string }): Promise<Outcome> {
  const ssl = mode.startsWith('ssl: false') ? false : { ca: who.ca };
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: who.user,
    password: who.password,
    database: 'postgres',
    ssl,
    enableChannelBinding: mode.endsWith('enableChannelBinding'),
    connectionTimeoutMillis: 15_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const r = await client.query<{ ssl: boolean }>(`${SERVER_TLS_SQL} as ssl`);
    return { ok: true, client: ssl !== false, server: r.rows[0]?.ssl === true, error: null };
  } catch (err) {
    return { ok: false, client: null, server: null, error: err instanceof Error ? err.message : String(err) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** psycopg2 (libpq) with these sslmodes and libpq's default channel_binding (prefer), in one Python process. */
export const PSYCOPG_MODES = ['disable', 'prefer', 'require', 'verify-full'] as const;

export async function psycopgLogins(ports: readonly number[], who: Credentials): Promise<Outcome[]> {
  const dsns = ports.flatMap((port) => PSYCOPG_MODES.map((m) => `host=127.0.0.1 port=${port} user=${who.user} dbname=postgres sslmode=${m}`));
  const { stdout } = await run(PYTHON, [pyClient, who.password, ...dsns], { env: { ...process.env, PGSSLROOTCERT: who.rootCert }, timeout: 120_000 });
  const rows = JSON.parse(stdout) as Array<{ ok: boolean; client_tls: boolean | null; server_tls: boolean | null; error: string | null }>;
  return rows.map((r) => ({ ok: r.ok, client: r.client_tls, server: r.server_tls, error: r.error }));
}

/** Runs `jobs` with at most `width` at once (the machine is shared), keeping their order. */
export async function pool<T>(width: number, jobs: ReadonlyArray<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array<T>(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i];
      if (job) out[i] = await job();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return out;
}

// ---- what the docs say about an outcome ---------------------------------------------------------

/** Known failures in a few words, and who said so; anything else is shown as the client said it. */
const REASONS: ReadonlyArray<[RegExp, string]> = [
  [/SCRAM channel binding \(SCRAM-SHA-256-PLUS\) cannot work through this pgrouter listener/, 'pgrouter: -PLUS cannot match here (28000, says how to fix)'],
  [/channel binding required, but SSL not in use/, 'libpq: channel binding required, but SSL not in use'],
  [/channel binding is required, but server did not offer an authentication method that supports channel binding/, 'libpq: server offered no channel binding'],
  [/server does not support SSL, but SSL was required/, 'libpq: server does not support SSL'],
  [/SCRAM channel binding check failed/, 'PostgreSQL: SCRAM channel binding check failed'],
  [/SCRAM channel binding negotiation error/, 'PostgreSQL: SCRAM channel binding negotiation error'],
  [/client supports SCRAM channel binding, but thinks the server does not/, 'PostgreSQL: client claims binding support over plaintext ("y" flag)'],
  [/certificate verify failed|self[- ]signed certificate|unable to verify|UNABLE_TO_VERIFY/, 'client: certificate verify failed'],
  [/does not match host name|altnames|ERR_TLS_CERT_ALTNAME_INVALID/, 'client: host name mismatch'],
  [/The server does not support SSL connections/, 'node-postgres: server does not support SSL'],
  [/SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature does not match/, 'node-postgres: server signature does not match'],
];

export function reason(error: string): string {
  for (const [re, text] of REASONS) if (re.test(error)) return text;
  // Unknown: the client's words, without the parts that change between runs.
  return error
    .replace(/^psql: error: /, '')
    .replace(/connection to server at "[^"]*", port \d+ failed: /g, '')
    .split('\n')[0]
    ?.trim()
    .slice(0, 120) ?? '';
}

const leg = (tls: boolean | null): string => (tls ? 'TLS' : 'plain');

/** "✓ TLS/TLS" (client ↔ pgrouter / pgrouter ↔ PostgreSQL) or "✗ who: why". */
export function cell(o: Outcome): string {
  return o.ok ? `✓ ${leg(o.client)}/${leg(o.server)}` : `✗ ${reason(o.error ?? '')}`;
}

export function psqlTable(layouts: readonly Layout[], results: ReadonlyMap<string, Outcome>): string {
  const rows = layouts.flatMap((l) => SSLMODES.map((m) => [l.label, `\`${m}\``, ...BINDINGS.map((b) => cell(must(results, key(l.name, m, b))))]));
  return markdownTable(['listener', 'sslmode', ...BINDINGS.map((b) => `channel_binding=${b}`)], rows);
}

export const key = (layout: string, sslmode: string, binding: string): string => `${layout} ${sslmode} ${binding}`;

export function must<T>(m: ReadonlyMap<string, T>, k: string): T {
  const v = m.get(k);
  if (v === undefined) throw new Error(`no outcome for ${k}`);
  return v;
}
