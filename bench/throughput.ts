// Read throughput through each path: pgbench -S (select only), 16 clients, 2 threads.
//
// After `pgbench -i -s 10` on the leader, runs alternate between the paths (direct leader port,
// HAProxy `listen primary`, pgrouter RW), the order reversed every other round, so a slow drift
// of the machine (cache warm-up, autovacuum, a noisy neighbour) hits every path alike.
// The figure is pgbench's "tps (without initial connection time)": with persistent connections
// it is the proxy's per-query cost. The proxy's own CPU time per run is reported next to it.
//
//   node dist/bench/throughput.js [--quick] [--rounds N] [--duration S] [--clients N] [--paths direct,haproxy,pgrouter] [--quiet-wait S]
import { parseArgs } from 'node:util';
import { describeError } from '../src/errors.js';
import { fmt, log, machineInfo, markdownTable, mean, roundOrder, run, writeResult } from './lib/common.js';
import { QUIET_THRESHOLD, busyShare, cpuSeconds, machineCpu, waitQuiet } from './lib/cpu.js';
import { THREADS, pgbench, portOf, type PgbenchResult } from './lib/pgbench.js';
import { Stack, type PathName } from './lib/stack.js';

const ALL_PATHS: PathName[] = ['direct', 'haproxy', 'pgrouter'];
const SCALE = 10;

interface ThroughputRun extends PgbenchResult {
  round: number;
  path: PathName;
  port: number;
  leader_before: string;
  leader_after: string;
  /** CPU seconds the proxy process (and its workers) used during the run; null for direct. */
  proxy_cpu_s: number | null;
  /**
   * Share of all CPUs busy during the run (0..1). Below ~0.95 on this 2-core box, the path is
   * limited by waiting (latency, scheduling), not by CPU.
   */
  machine_busy: number;
  /** Share of all CPUs busy in the second before the run, with the bench idle (other load). */
  background_busy: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      clients: { type: 'string' },
      paths: { type: 'string' },
      'quiet-wait': { type: 'string' },
    },
  });
  // Before each run, wait up to this long for the machine to be quiet (see waitQuiet).
  const quietWaitMs = Number(values['quiet-wait'] ?? (values.quick ? 0 : 60)) * 1000;
  const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
  const seconds = Number(values.duration ?? (values.quick ? 8 : 20));
  const clients = Number(values.clients ?? 16);
  const wanted = (values.paths?.split(',') ?? ALL_PATHS) as PathName[];
  const unknown = wanted.filter((p) => !ALL_PATHS.includes(p));
  if (unknown.length || ![rounds, seconds, clients].every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(`usage: throughput.js [--quick] [--rounds N] [--duration S] [--clients N] [--paths ${ALL_PATHS.join(',')}]`);
  }
  const machine = await machineInfo();
  const stack = await Stack.start({ kind: 'throughput', pgrouter: wanted.includes('pgrouter') });
  const started = new Date().toISOString();
  const runs: ThroughputRun[] = [];
  try {
    const c = stack.cluster;
    const paths = stack.writePaths(wanted);
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
    log('warm-up: pgbench -S 5 s direct');
    await pgbench(await stack.dsn('direct'), clients, values.quick ? 3 : 5);
    for (let round = 0; round < rounds; round++) {
      for (const p of roundOrder(paths, round)) {
        const dsn = await stack.dsn(p);
        const proxyPid = p === 'haproxy' ? stack.haproxy.pid : p === 'pgrouter' ? stack.pgrouter?.pid : undefined;
        const leaderBefore = await c.leader();
        const background = await waitQuiet(QUIET_THRESHOLD, quietWaitMs);
        const cpuBefore = proxyPid !== undefined ? await cpuSeconds(proxyPid) : null;
        const machineBefore = machineCpu();
        const r = await pgbench(dsn, clients, seconds);
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
          `round ${round} ${p}: ${fmt(r.tps, 0)} tps, latency ${fmt(r.latency_ms, 3)} ms` +
            (one.proxy_cpu_s !== null ? `, proxy CPU ${fmt(one.proxy_cpu_s)} s` : '') +
            `, machine ${fmt(machineBusy * 100, 0)} % busy (${fmt(background * 100, 0)} % before)` +
            (leaderBefore !== leaderAfter ? ` (LEADER CHANGED ${leaderBefore} -> ${leaderAfter})` : ''),
        );
      }
    }
    const summary = paths.map((p) => {
      const mine = runs.filter((r) => r.path === p);
      const cpu = mine.flatMap((r) => (r.proxy_cpu_s !== null ? [r.proxy_cpu_s] : []));
      const tx = mine.reduce((a, r) => a + r.transactions, 0);
      return {
        path: p,
        runs: mine.length,
        tps: mine.map((r) => r.tps),
        mean_tps: mean(mine.map((r) => r.tps)),
        mean_latency_ms: mean(mine.map((r) => r.latency_ms)),
        proxy_cpu_us_per_tx: cpu.length ? (cpu.reduce((a, b) => a + b, 0) / tx) * 1e6 : null,
        mean_machine_busy: mean(mine.map((r) => r.machine_busy)),
        mean_background_busy: mean(mine.map((r) => r.background_busy)),
      };
    });
    const directTps = summary.find((s) => s.path === 'direct')?.mean_tps ?? NaN;
    const haproxyTps = summary.find((s) => s.path === 'haproxy')?.mean_tps ?? NaN;
    const withRatios = summary.map((s) => ({ ...s, vs_direct: s.mean_tps / directTps, vs_haproxy: s.mean_tps / haproxyTps }));
    const md = markdownTable(
      ['path', 'runs', 'tps per run', 'mean tps', 'latency avg (ms)', 'vs direct', 'vs HAProxy', 'proxy CPU (µs/tx)', 'machine busy', 'busy before'],
      withRatios.map((s) => [
        s.path,
        String(s.runs),
        s.tps.map((x) => fmt(x, 0)).join(', '),
        fmt(s.mean_tps, 0),
        fmt(s.mean_latency_ms, 3),
        fmt(s.vs_direct),
        fmt(s.vs_haproxy),
        s.proxy_cpu_us_per_tx === null ? '—' : fmt(s.proxy_cpu_us_per_tx, 1),
        `${fmt(s.mean_machine_busy * 100, 0)} %`,
        `${fmt(s.mean_background_busy * 100, 0)} %`,
      ]),
    );
    const file = writeResult(`throughput${values.quick ? '-quick' : ''}`, {
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
        mode: 'pgbench -S -n (select only, simple protocol)',
        quiet_threshold: QUIET_THRESHOLD,
        quiet_wait_ms: quietWaitMs,
      },
      summary: withRatios,
      runs,
      markdown: md,
    });
    process.stdout.write(
      `\n## pgbench -S, ${clients} clients, ${THREADS} threads, ${seconds} s per run (${machine.host}, ${machine.cpus} CPUs)\n\n${md}\n\nresults: ${file}\n`,
    );
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  log(`throughput bench failed: ${describeError(err)}`);
  process.exitCode = 1;
});
