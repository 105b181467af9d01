// Throughput through each path, in three pgbench modes, 16 clients, 2 threads:
//   select (-S), tpcb (the default TPC-B-like script), select-connect (-S -C, a connection per
//   transaction), select-tls (-S with sslmode=require: pgrouter terminates TLS, PostgreSQL is
//   reached in plaintext; direct is TLS to PostgreSQL, HAProxy passes TLS through).
// Paths: direct leader port, HAProxy `listen primary`, pgrouter RW with workers 1, and pgrouter
// RW with `workers: auto` (when this build knows the key; otherwise reported as not run).
//
// After `pgbench -i -s 10` on the leader, each round runs every mode through every path, the
// path order reversed every other round, so a slow drift of the machine (cache warm-up,
// autovacuum, a noisy neighbour) hits every path alike. Figures: pgbench's tps, the average and
// 99th percentile latency from its per-transaction log, the proxy's CPU time per transaction.
//
//   node dist/bench/throughput.js [--quick] [--rounds N] [--duration S] [--clients N]
//     [--paths direct,haproxy,pgrouter,pgrouter-auto] [--modes select,tpcb,select-connect,select-tls]
//     [--quiet-wait S] [--out FILE]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeError } from '../src/errors.js';
import { fmt, log, machineInfo, markdownTable, mean, roundOrder, run, scratchDir, writeResult } from './lib/common.js';
import { QUIET_THRESHOLD, busyShare, cpuSeconds, machineCpu, waitQuiet } from './lib/cpu.js';
import { MODES, MODE_LABEL, THREADS, pgbench, portOf, type Mode, type PgbenchResult } from './lib/pgbench.js';
import { pgrouterCheck, pgrouterConfig } from './lib/pgrouter.js';
import { Stack, type PathName } from './lib/stack.js';

const ALL_PATHS: PathName[] = ['direct', 'haproxy', 'pgrouter', 'pgrouter-auto'];
const SCALE = 10;

interface ThroughputRun extends PgbenchResult {
  round: number;
  path: PathName;
  port: number;
  leader_before: string;
  leader_after: string;
  /** CPU seconds the proxy process (and its workers) used during the run; null for direct. */
  proxy_cpu_s: number | null;
  /** Share of all CPUs busy during the run (0..1); below ~0.95 the path waits rather than computes. */
  machine_busy: number;
  /** Share of all CPUs busy in the second before the run, with the bench idle (other load). */
  background_busy: number;
}

interface ThroughputSummary {
  mode: Mode;
  path: PathName;
  runs: number;
  tps: number[];
  mean_tps: number;
  /** pgbench's "latency average": run time × clients / transactions (with -C the whole cycle). */
  mean_latency_ms: number;
  /** From the per-transaction log: mean and p99 of the transactions (with -C, without the connect). */
  mean_latency_log_avg_ms: number;
  mean_latency_p99_ms: number;
  /** -C only: pgbench's "average connection time". */
  mean_connection_ms: number | null;
  proxy_cpu_us_per_tx: number | null;
  mean_machine_busy: number;
  mean_background_busy: number;
  vs_direct: number;
  vs_haproxy: number;
}

/** `workers: auto` needs cluster mode; null when this build accepts it, else why not. */
async function workersUnsupported(dir: string): Promise<string | null> {
  const yaml = pgrouterConfig({
    scope: 'check',
    etcd: { namespace: '/service/', host: '127.0.0.1', port: 1 },
    ports: { rw: 1, ro: 2, http: 3 },
    extra: { workers: 'auto' },
  });
  return pgrouterCheck(dir, yaml);
}

function summarize(runs: ThroughputRun[], modes: readonly Mode[], paths: readonly PathName[]): ThroughputSummary[] {
  const out: ThroughputSummary[] = [];
  for (const mode of modes) {
    const rows = paths.map((p) => {
      const mine = runs.filter((r) => r.mode === mode && r.path === p);
      const cpu = mine.flatMap((r) => (r.proxy_cpu_s !== null ? [r.proxy_cpu_s] : []));
      const tx = mine.reduce((a, r) => a + r.transactions, 0);
      return {
        mode,
        path: p,
        runs: mine.length,
        tps: mine.map((r) => r.tps),
        mean_tps: mean(mine.map((r) => r.tps)),
        mean_latency_ms: mean(mine.map((r) => r.latency_ms)),
        mean_latency_log_avg_ms: mean(mine.map((r) => r.latency_avg_ms)),
        mean_latency_p99_ms: mean(mine.map((r) => r.latency_p99_ms)),
        mean_connection_ms: mode === 'select-connect' ? mean(mine.map((r) => r.connection_ms ?? NaN)) : null,
        proxy_cpu_us_per_tx: cpu.length ? (cpu.reduce((a, b) => a + b, 0) / tx) * 1e6 : null,
        mean_machine_busy: mean(mine.map((r) => r.machine_busy)),
        mean_background_busy: mean(mine.map((r) => r.background_busy)),
      };
    });
    const direct = rows.find((s) => s.path === 'direct')?.mean_tps ?? NaN;
    const haproxy = rows.find((s) => s.path === 'haproxy')?.mean_tps ?? NaN;
    for (const s of rows) out.push({ ...s, vs_direct: s.mean_tps / direct, vs_haproxy: s.mean_tps / haproxy });
  }
  return out;
}

function throughputTable(summary: readonly ThroughputSummary[]): string {
  return markdownTable(
    ['mode', 'path', 'tps per run', 'mean tps', 'latency avg (ms)', 'tx p99 (ms)', 'connect (ms)', 'vs direct', 'vs HAProxy', 'proxy CPU (µs/tx)', 'machine busy', 'busy before'],
    summary.map((s) => [
      MODE_LABEL[s.mode],
      s.path,
      s.tps.map((x) => fmt(x, 0)).join(', '),
      fmt(s.mean_tps, 0),
      fmt(s.mean_latency_ms, 3),
      fmt(s.mean_latency_p99_ms, 3),
      s.mean_connection_ms === null ? '—' : fmt(s.mean_connection_ms, 2),
      fmt(s.vs_direct),
      fmt(s.vs_haproxy),
      s.proxy_cpu_us_per_tx === null ? '—' : fmt(s.proxy_cpu_us_per_tx, 1),
      `${fmt(s.mean_machine_busy * 100, 0)} %`,
      `${fmt(s.mean_background_busy * 100, 0)} %`,
    ]),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      clients: { type: 'string' },
      paths: { type: 'string' },
      modes: { type: 'string' },
      'quiet-wait': { type: 'string' },
      out: { type: 'string' },
    },
  });
  const quick = values.quick;
  // Before each run, wait up to this long for the machine to be quiet (see waitQuiet).
  const quietWaitMs = Number(values['quiet-wait'] ?? (quick ? 0 : 20)) * 1000;
  const rounds = Number(values.rounds ?? (quick ? 1 : 2));
  const seconds = Number(values.duration ?? (quick ? 3 : 12));
  const clients = Number(values.clients ?? 16);
  const wanted = (values.paths?.split(',') ?? ALL_PATHS) as PathName[];
  const modes = (values.modes?.split(',') ?? MODES) as Mode[];
  const bad = [...wanted.filter((p) => !ALL_PATHS.includes(p)), ...modes.filter((m) => !MODES.includes(m))];
  if (bad.length || ![rounds, seconds, clients].every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(`usage: throughput.js [--quick] [--rounds N] [--duration S] [--clients N] [--paths ${ALL_PATHS.join(',')}] [--modes ${MODES.join(',')}] (bad: ${bad.join(',')})`);
  }
  const machine = await machineInfo();
  const started = new Date().toISOString();
  let notRun: Record<string, string> = {};
  if (wanted.includes('pgrouter-auto')) {
    const why = await workersUnsupported(scratchDir('throughput-check'));
    if (why !== null) {
      notRun = { 'pgrouter-auto': `this build rejects \`workers: auto\`: ${why.split('\n').slice(0, 3).join(' ')}` };
      log(`pgrouter-auto not run: ${notRun['pgrouter-auto']}`);
    }
  }
  const stack = await Stack.start({
    kind: 'throughput',
    pgrouter: wanted.includes('pgrouter'),
    pgrouterAuto: wanted.includes('pgrouter-auto') && !notRun['pgrouter-auto'],
    tls: modes.includes('select-tls'),
  });
  const runs: ThroughputRun[] = [];
  try {
    const c = stack.cluster;
    const paths = stack.writePaths(wanted);
    const logDir = path.join(stack.dir, 'pgbench-logs');
    const leader = await c.leader();
    const direct = c.node(leader);
    log(`pgbench -i -s ${SCALE} on ${leader}`);
    await run('pgbench', ['-i', '-q', '-s', String(SCALE), '-h', direct.host, '-p', String(direct.pgPort), '-U', 'postgres', 'postgres'], {
      timeoutMs: 600_000,
    });
    await c.waitForHealthy({ timeoutMs: 120_000 });
    await stack.haproxy.waitForPrimary(leader);
    for (const p of paths) await stack.waitWritable(p);
    // Warm the buffer cache and the backends once, outside the measurement.
    log(`warm-up: pgbench -S ${quick ? 2 : 5} s direct`);
    await pgbench(await stack.dsn('direct'), 'select', clients, quick ? 2 : 5, logDir);
    for (let round = 0; round < rounds; round++) {
      for (const mode of modes) {
        for (const p of roundOrder(paths, round)) {
          const dsn = await stack.dsn(p, { tls: mode === 'select-tls' });
          const proxyPid = stack.proxyPid(p);
          const leaderBefore = await c.leader();
          const background = await waitQuiet(QUIET_THRESHOLD, quietWaitMs, quick ? 300 : 1000);
          const cpuBefore = proxyPid !== undefined ? await cpuSeconds(proxyPid) : null;
          const machineBefore = machineCpu();
          const r = await pgbench(dsn, mode, clients, seconds, logDir);
          const machineBusy = busyShare(machineBefore, machineCpu());
          const cpuAfter = proxyPid !== undefined ? await cpuSeconds(proxyPid) : null;
          const leaderAfter = await c.leader();
          const one: ThroughputRun = {
            ...r,
            round,
            path: p,
            port: portOf(dsn),
            leader_before: leaderBefore,
            leader_after: leaderAfter,
            proxy_cpu_s: cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : null,
            machine_busy: machineBusy,
            background_busy: background,
          };
          runs.push(one);
          log(
            `round ${round} ${mode} ${p}: ${fmt(r.tps, 0)} tps, latency avg ${fmt(r.latency_ms, 3)} ms, tx p99 ${fmt(r.latency_p99_ms, 3)} ms` +
              (one.proxy_cpu_s !== null ? `, proxy CPU ${fmt(one.proxy_cpu_s)} s` : '') +
              `, machine ${fmt(machineBusy * 100, 0)} % busy (${fmt(background * 100, 0)} % before)` +
              (r.failed ? `, ${r.failed} FAILED` : '') +
              (leaderBefore !== leaderAfter ? ` (LEADER CHANGED ${leaderBefore} -> ${leaderAfter})` : ''),
          );
        }
      }
    }
    const summary = summarize(runs, modes, paths);
    const md = throughputTable(summary);
    const file = writeResult(
      `throughput${quick ? '-quick' : ''}`,
      {
        bench: 'throughput',
        started_at: started,
        finished_at: new Date().toISOString(),
        machine,
        settings: {
          scale: SCALE,
          clients,
          threads: THREADS,
          duration_s: seconds,
          rounds,
          modes: Object.fromEntries(modes.map((m) => [m, MODE_LABEL[m]])),
          protocol: 'simple (pgbench default), -n (no vacuum), -l (per-transaction log for p99)',
          latency:
            "latency avg = pgbench's 'latency average' (run time × clients / transactions; with -C the whole connect-query-disconnect cycle); " +
            'tx p99 = 99th percentile of the per-transaction log, which times a transaction after its connection; connect = pgbench\'s average connection time (-C)',
          quiet_threshold: QUIET_THRESHOLD,
          quiet_wait_ms: quietWaitMs,
        },
        not_run: notRun,
        configs: stack.configs(),
        summary,
        runs,
        markdown: md,
      },
      values.out,
    );
    const skipped = Object.entries(notRun).map(([p, why]) => `\n${p}: not run (${why})\n`).join('');
    process.stdout.write(
      `\n## Throughput, ${clients} clients, ${THREADS} threads, ${seconds} s per run (${machine.host}, ${machine.cpus} CPUs)\n\n${md}\n${skipped}\nresults: ${file}\n`,
    );
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  log(`throughput bench failed: ${describeError(err)}`);
  process.exitCode = 1;
});
