// pgbench as the throughput bench runs it, and the parsers for its summary lines and its
// per-transaction logs (pgbench 15).
import fs from 'node:fs';
import path from 'node:path';
import { clientEnv, percentile, run } from './common.js';

export const THREADS = 2;

/**
 * select:         `-S`, select only on persistent connections: the per-query cost of a path.
 * tpcb:           the default TPC-B-like script (3 updates, 1 select, 1 insert per transaction).
 * select-connect: `-S -C`, a new connection per transaction: the cost of opening a session
 *                 (the proxy's accept, startup handshake and backend connect, plus a fork in
 *                 PostgreSQL).
 * select-tls:     `-S` with sslmode=require (issue 11): direct is TLS to PostgreSQL, HAProxy
 *                 passes TLS through, pgrouter terminates it on its `rw_tls` listener and reaches
 *                 PostgreSQL in plaintext. Every other mode runs with sslmode=disable.
 */
export const MODES = ['select', 'tpcb', 'select-connect', 'select-tls'] as const;
export type Mode = (typeof MODES)[number];

const MODE_ARGS: Record<Mode, string[]> = {
  select: ['-S'],
  tpcb: [],
  'select-connect': ['-S', '-C'],
  'select-tls': ['-S'],
};

export const MODE_LABEL: Record<Mode, string> = {
  select: 'pgbench -S',
  tpcb: 'pgbench (TPC-B-like)',
  'select-connect': 'pgbench -S -C',
  'select-tls': 'pgbench -S, TLS',
};

export interface PgbenchResult {
  mode: Mode;
  tps: number;
  /** pgbench's own "latency average". */
  latency_ms: number;
  /**
   * From the per-transaction log (-l): mean and 99th percentile of every transaction. pgbench
   * starts a transaction's clock after its connection, so with -C these leave the connect out.
   */
  latency_avg_ms: number;
  latency_p99_ms: number;
  /** "initial connection time", or with -C the "average connection time". */
  connection_ms: number | null;
  transactions: number;
  failed: number;
}

type Summary = Omit<PgbenchResult, 'mode' | 'latency_avg_ms' | 'latency_p99_ms'>;

export function parsePgbench(out: string): Summary {
  const num = (re: RegExp): number | null => {
    const m = re.exec(out);
    return m?.[1] !== undefined ? Number(m[1]) : null;
  };
  // Persistent connections: "(without initial connection time)"; -C: "(including reconnection times)".
  const tps = num(/^tps = ([\d.]+) \((?:without initial connection time|including reconnection times)\)/m);
  const latency = num(/^latency average = ([\d.]+) ms/m);
  const transactions = num(/^number of transactions actually processed: (\d+)/m);
  if (tps === null || latency === null || transactions === null) {
    throw new Error(`cannot parse pgbench output:\n${out}`);
  }
  return {
    tps,
    latency_ms: latency,
    connection_ms: num(/^(?:initial|average) connection time = ([\d.]+) ms/m),
    transactions,
    failed: num(/^number of failed transactions: (\d+)/m) ?? 0,
  };
}

/**
 * Latencies in ms from pgbench's per-transaction logs `<prefix>.<pid>[.<thread>]`, sorted.
 * Each line is `client_id transaction_no time script_no time_epoch time_us`, `time` in µs.
 */
export function readLatencies(dir: string, prefix: string): Float64Array {
  const chunks: number[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(`${prefix}.`)) continue;
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      // The third field; skip two spaces instead of splitting every line into an array.
      const a = text.indexOf(' ', start);
      const b = text.indexOf(' ', a + 1);
      const c = text.indexOf(' ', b + 1);
      if (a > 0 && b > a && c > b && c < end) chunks.push(Number(text.slice(b + 1, c)) / 1000);
      start = end + 1;
    }
  }
  return Float64Array.from(chunks).sort();
}

export function portOf(dsn: string): number {
  return Number(/port=(\d+)/.exec(dsn)?.[1]);
}

/**
 * One pgbench run through `dsn`. `logDir` receives the per-transaction logs, which are read
 * for the average and p99 latency and then deleted (a 15 s select run writes ~10 MB).
 */
export async function pgbench(dsn: string, mode: Mode, clients: number, seconds: number, logDir: string): Promise<PgbenchResult> {
  const port = portOf(dsn);
  fs.mkdirSync(logDir, { recursive: true });
  const prefix = `pgbench-${mode}-${port}-${Date.now()}`;
  const args = [
    '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres',
    ...MODE_ARGS[mode],
    '-n', '-c', String(clients), '-j', String(THREADS), '-T', String(seconds),
    '-l', `--log-prefix=${path.join(logDir, prefix)}`,
    'postgres',
  ];
  try {
    // The cluster may have ssl=on (for select-tls): the other modes stay plaintext, as before.
    const env = { ...clientEnv(), PGSSLMODE: mode === 'select-tls' ? 'require' : 'disable' };
    const r = await run('pgbench', args, { timeoutMs: (seconds + 60) * 1000, env });
    const summary = parsePgbench(r.stdout);
    const lat = readLatencies(logDir, prefix);
    const sum = lat.reduce((a, b) => a + b, 0);
    return { mode, ...summary, latency_avg_ms: lat.length ? sum / lat.length : Number.NaN, latency_p99_ms: percentile(lat, 99) };
  } finally {
    for (const name of fs.readdirSync(logDir)) if (name.startsWith(`${prefix}.`)) fs.rmSync(path.join(logDir, name));
  }
}
