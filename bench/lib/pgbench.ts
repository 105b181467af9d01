// pgbench as the throughput bench runs it, and the parser for its summary lines (pgbench 15).
import { run } from './common.js';

export const THREADS = 2;

export interface PgbenchResult {
  tps: number;
  latency_ms: number;
  connection_ms: number | null;
  transactions: number;
  failed: number;
}

export function parsePgbench(out: string): PgbenchResult {
  const num = (re: RegExp): number | null => {
    const m = re.exec(out);
    return m?.[1] !== undefined ? Number(m[1]) : null;
  };
  const tps = num(/^tps = ([\d.]+) \(without initial connection time\)/m);
  const latency = num(/^latency average = ([\d.]+) ms/m);
  const transactions = num(/^number of transactions actually processed: (\d+)/m);
  if (tps === null || latency === null || transactions === null) {
    throw new Error(`cannot parse pgbench output:\n${out}`);
  }
  return {
    tps,
    latency_ms: latency,
    connection_ms: num(/^initial connection time = ([\d.]+) ms/m),
    transactions,
    failed: num(/^number of failed transactions: (\d+)/m) ?? 0,
  };
}

export function portOf(dsn: string): number {
  return Number(/port=(\d+)/.exec(dsn)?.[1]);
}

export async function pgbench(dsn: string, clients: number, seconds: number): Promise<PgbenchResult> {
  const port = portOf(dsn);
  const args = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-S', '-n', '-c', String(clients), '-j', String(THREADS), '-T', String(seconds), 'postgres'];
  const r = await run('pgbench', args, { timeoutMs: (seconds + 60) * 1000 });
  return parsePgbench(r.stdout);
}

