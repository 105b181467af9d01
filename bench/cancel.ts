// Cancel requests through the read-only port with two replicas: pgrouter vs HAProxy.
//
// test/integration/cancel-client.py opens a session through the port, runs
// `select pg_sleep(5)` and calls libpq's PQcancel 0.3 s later, which opens a *new* connection
// to the same port carrying the CancelRequest. It counts a cancel as done when the query fails
// with QueryCanceled within 1 s. HAProxy balances that new connection like any other
// (roundrobin over the replicas), so the cancel usually reaches the wrong replica, where
// PostgreSQL ignores it and the query runs its full 5 s; pgrouter sends it to the session's
// backend. Rounds alternate the order of the two paths.
//
//   node dist/bench/cancel.js [--quick] [--count N] [--rounds N] [--out FILE]
import { parseArgs } from 'node:util';
import path from 'node:path';
import { describeError } from '../src/errors.js';
import { waitFor } from '../test/harness/cluster.js';
import { PYTHON, fmt, log, machineInfo, markdownTable, repoRoot, roundOrder, run, writeResult } from './lib/common.js';
import { Stack } from './lib/stack.js';

const PATHS = ['pgrouter', 'haproxy'] as const;
type CancelPath = (typeof PATHS)[number];

interface CancelOutcome {
  outcome: string;
  seconds_after_cancel: number;
}

interface CancelRun {
  round: number;
  path: CancelPath;
  port: number;
  ok: number;
  count: number;
  results: CancelOutcome[];
}

/** Backend ports seen over `tries` new sessions through `port` (which replicas it balances to). */
async function backendPorts(port: number, tries: number): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < tries; i++) {
    const r = await run('psql', ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-c', 'select inet_server_port()'], { timeoutMs: 10_000 });
    seen.add(Number(r.stdout.trim()));
  }
  return seen;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, count: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' } },
  });
  const count = Number(values.count ?? (values.quick ? 3 : 10));
  const rounds = Number(values.rounds ?? (values.quick ? 1 : 2));
  if (!Number.isInteger(count) || !Number.isInteger(rounds) || rounds < 1 || count < rounds) {
    throw new Error('usage: cancel.js [--quick] [--count N] [--rounds N<=count]');
  }
  const machine = await machineInfo();
  const started = new Date().toISOString();
  const stack = await Stack.start({ kind: 'cancel', pgrouter: true });
  const runs: CancelRun[] = [];
  try {
    const c = stack.cluster;
    await c.waitForHealthy({ timeoutMs: 120_000 });
    const leader = await c.leader();
    const replicas = c.nodes.filter((n) => n.name !== leader);
    const replicaPorts = replicas.map((n) => n.pgPort).sort().join(',');
    await stack.haproxy.waitForReplicas(replicas.map((n) => n.name));
    const ports: Record<CancelPath, number> = { pgrouter: stack.pgrouter!.ports.ro, haproxy: stack.haproxy.ports.replicas };
    // Both paths must balance over both replicas, or the comparison is not the seeds' setup.
    for (const p of PATHS) {
      await waitFor(async () => [...(await backendPorts(ports[p], 4))].sort().join(',') === replicaPorts, {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: `${p} RO port to balance over both replicas (${replicaPorts})`,
      });
    }
    const script = path.join(repoRoot(), 'test', 'integration', 'cancel-client.py');
    for (let round = 0; round < rounds; round++) {
      // Spread `count` over the rounds: 10 over 2 rounds = 5 + 5.
      const n = Math.floor(count / rounds) + (round < count % rounds ? 1 : 0);
      for (const p of roundOrder(PATHS, round)) {
        const r = await run(PYTHON, [script, String(ports[p]), String(n), ...c.nodes.map((node) => String(node.pgPort))], { timeoutMs: (n * 8 + 30) * 1000 });
        const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { ok: number; count: number; results: CancelOutcome[] };
        runs.push({ round, path: p, port: ports[p], ...out });
        log(`round ${round} ${p}: ${out.ok} of ${out.count} cancels took effect`);
      }
    }
  } finally {
    await stack.stop();
  }
  const summary = PATHS.map((p) => {
    const mine = runs.filter((r) => r.path === p);
    const done = mine.flatMap((r) => r.results).filter((x) => x.outcome === 'cancelled');
    return {
      path: p,
      ok: mine.reduce((a, r) => a + r.ok, 0),
      count: mine.reduce((a, r) => a + r.count, 0),
      max_seconds_after_cancel: done.length ? Math.max(...done.map((x) => x.seconds_after_cancel)) : null,
    };
  });
  const md = markdownTable(
    ['path', 'cancels that took effect', 'slowest effective cancel (s)'],
    summary.map((s) => [s.path, `${s.ok} of ${s.count}`, s.max_seconds_after_cancel === null ? '—' : fmt(s.max_seconds_after_cancel)]),
  );
  const file = writeResult(
    `cancel${values.quick ? '-quick' : ''}`,
    {
      bench: 'cancel',
      started_at: started,
      finished_at: new Date().toISOString(),
      machine,
      settings: { count, rounds, query: 'select pg_sleep(5)', cancel_after_s: 0.3, effective_within_s: 1, port: 'RO, 2 replicas, roundrobin' },
      configs: stack.configs(),
      summary,
      runs,
      markdown: md,
    },
    values.out,
  );
  process.stdout.write(`\n## Cancel through the RO port, 2 replicas (${machine.host})\n\n${md}\n\nresults: ${file}\n`);
}

main().catch((err: unknown) => {
  log(`cancel bench failed: ${describeError(err)}`);
  process.exitCode = 1;
});
