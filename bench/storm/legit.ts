// The storm bench's legitimate client: one session after the other, each a new connection, a
// `SELECT 1` and a close, timed from connect to the query's answer.
import pg from 'pg';
import { setTimeout as delay } from 'node:timers/promises';
import { describeError } from '../../src/errors.js';
import { percentile } from '../lib/common.js';

export interface LegitResult {
  sessions: number;
  failed: number;
  failures: Record<string, number>;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

async function once(port: number): Promise<number> {
  const started = performance.now();
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    application_name: 'storm-legit',
    connectionTimeoutMillis: 10_000,
    query_timeout: 10_000,
  });
  // A session the server closes surfaces on the pending call; nothing to do between calls.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return performance.now() - started;
  } finally {
    await Promise.race([client.end(), delay(1000)]).catch((err: unknown) => {
      process.stderr.write(`storm legit: closing a session: ${describeError(err)}\n`);
    });
    client.connection.stream.destroy();
  }
}

/** Sessions through `port` until `until` (epoch ms), 20 ms apart. */
export async function legitSessions(port: number, until: number): Promise<LegitResult> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  while (Date.now() < until) {
    try {
      latencies.push(await once(port));
    } catch (err) {
      const why = describeError(err).split('\n')[0]?.slice(0, 80) ?? 'error';
      failures[why] = (failures[why] ?? 0) + 1;
    }
    await delay(20);
  }
  latencies.sort((a, b) => a - b);
  const failed = Object.values(failures).reduce((a, b) => a + b, 0);
  return {
    sessions: latencies.length + failed,
    failed,
    failures,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    max_ms: latencies.at(-1) ?? Number.NaN,
  };
}
