// Write outage during a switchover (or a leader crash), per client path.
//
// For each round and each path in turn (order reversed every other round so no path always
// goes first after a cold start): start bench/outage-probe.py on the path (a new connection and
// one committed INSERT every 20 ms), wait for 2 s of steady successes, trigger the event, wait
// until the cluster is healthy again and the probe has committed for 2 s without a failure
// after the event, stop the probe. The figure is the probe's worst_outage_s: the largest gap
// between two consecutive successful commits.
//
//   node dist/bench/outage.js [--quick] [--crash] [--rounds N] [--paths pgrouter,haproxy,libpq] [--quiet-wait S]
import { parseArgs } from 'node:util';
import path from 'node:path';
import { describeError } from '../src/errors.js';
import { waitFor } from '../test/harness/cluster.js';
import { fmt, log, machineInfo, markdownTable, mean, roundOrder, writeResult } from './lib/common.js';
import { QUIET_THRESHOLD, waitQuiet } from './lib/cpu.js';
import { OutageProbe, type ProbeSummary } from './lib/probe.js';
import { Stack, type PathName } from './lib/stack.js';

const ALL_PATHS: PathName[] = ['pgrouter', 'haproxy', 'libpq'];
const STEADY_S = 2;
const RECOVERED_S = 2;
// The harness defaults, spelled out so the result file records what was measured.
const PATRONI = { ttl: 10, loopWait: 1, retryTimeout: 4 };

interface OutageRun {
  round: number;
  path: PathName;
  event: 'switchover' | 'crash';
  from: string;
  to: string;
  /** Epoch seconds: when we started the event and when the new leader was writable. */
  event_started_at: number;
  event_done_at: number;
  /** How long the cluster itself took: event start until the new leader was writable. */
  cluster_event_s: number;
  /** Last failed attempt's end, relative to the event start (0 when nothing failed). */
  last_fail_after_event_s: number;
  recovered: boolean;
  /** Share of all CPUs busy in the second before the probe started (other load on the machine). */
  background_busy: number;
  probe: ProbeSummary | null;
  error: string | null;
}

async function oneRun(
  stack: Stack,
  round: number,
  p: PathName,
  crash: boolean,
  scratch: string,
  quietWaitMs: number,
): Promise<OutageRun> {
  const c = stack.cluster;
  await c.waitForHealthy({ timeoutMs: 120_000 });
  // HAProxy keeps routing to a demoted primary until `fall 3` checks fail: start only once it
  // has settled on the current leader alone, so a run never begins inside the last one's tail.
  if (p === 'haproxy') await stack.haproxy.waitForPrimary(await c.leader());
  await stack.waitWritable(p);
  const background = await waitQuiet(QUIET_THRESHOLD, quietWaitMs);
  const probe = OutageProbe.start({ label: p, dsn: await stack.dsn(p), dir: scratch });
  const run: OutageRun = {
    round,
    path: p,
    event: crash ? 'crash' : 'switchover',
    from: '',
    to: '',
    event_started_at: 0,
    event_done_at: 0,
    cluster_event_s: 0,
    last_fail_after_event_s: 0,
    recovered: false,
    background_busy: background,
    probe: null,
    error: null,
  };
  try {
    await waitFor(() => probe.healthyFor(STEADY_S), { timeoutMs: 60_000, intervalMs: 100, what: `${p}: ${STEADY_S} s of steady writes` });
    run.event_started_at = Date.now() / 1000;
    if (crash) {
      run.from = await c.leader();
      await c.crash(run.from);
      run.to = await c.waitForLeader((name) => name !== run.from, 120_000);
      run.event_done_at = Date.now() / 1000;
      // Bring the old leader back as a replica so the next run starts from a 3-node cluster.
      await c.restart(run.from);
    } else {
      const r = await c.switchover();
      run.event_done_at = Date.now() / 1000;
      run.from = r.from;
      run.to = r.to;
    }
    run.cluster_event_s = run.event_done_at - run.event_started_at;
    log(`round ${round} ${p}: ${run.event} ${run.from} -> ${run.to} took ${fmt(run.cluster_event_s)} s in the cluster`);
    await c.waitForHealthy({ timeoutMs: 120_000 });
    await waitFor(() => probe.healthyFor(RECOVERED_S, run.event_done_at), {
      timeoutMs: 120_000,
      intervalMs: 100,
      what: `${p}: ${RECOVERED_S} s of successful writes after the ${run.event}`,
    });
    run.recovered = true;
  } catch (err) {
    run.error = describeError(err);
    log(`round ${round} ${p}: ${run.error}`);
  }
  try {
    run.probe = await probe.stop();
  } catch (err) {
    run.error = [run.error, describeError(err)].filter(Boolean).join('; ');
  }
  const lastFail = run.probe?.last_fail_at;
  run.last_fail_after_event_s = lastFail && run.event_started_at ? lastFail - run.event_started_at : 0;
  const s = run.probe;
  log(
    `round ${round} ${p}: worst outage ${fmt(s?.worst_outage_s ?? NaN)} s, ${s?.failed ?? '?'} of ${s?.attempts ?? '?'} attempts failed` +
      (s && Object.keys(s.errors).length ? `; errors: ${JSON.stringify(s.errors)}` : ''),
  );
  return run;
}

interface PathSummary {
  path: PathName;
  runs: number;
  worst_outage_s: number[];
  mean_worst_outage_s: number;
  max_worst_outage_s: number;
  mean_failed: number;
  mean_cluster_event_s: number;
  /**
   * Mean of (worst outage - cluster_event_s) per run: what the path adds to (or, when the old
   * leader keeps taking writes during the switchover, hides of) the cluster's own time. It
   * takes out the run-to-run spread of the cluster itself, since every run has its own event.
   */
  mean_outage_minus_cluster_s: number;
  unrecovered_runs: number;
  mean_background_busy: number;
}

function summarize(runs: OutageRun[], paths: PathName[]): PathSummary[] {
  return paths.map((p) => {
    const mine = runs.filter((r) => r.path === p && r.probe);
    const worst = mine.map((r) => r.probe!.worst_outage_s);
    return {
      path: p,
      runs: mine.length,
      worst_outage_s: worst,
      mean_worst_outage_s: mean(worst),
      max_worst_outage_s: worst.length ? Math.max(...worst) : NaN,
      mean_failed: mean(mine.map((r) => r.probe!.failed)),
      mean_cluster_event_s: mean(mine.map((r) => r.cluster_event_s)),
      mean_outage_minus_cluster_s: mean(mine.map((r) => r.probe!.worst_outage_s - r.cluster_event_s)),
      unrecovered_runs: runs.filter((r) => r.path === p && !r.recovered).length,
      mean_background_busy: mean(mine.map((r) => r.background_busy)),
    };
  });
}

function table(summaries: PathSummary[], event: string): string {
  const base = summaries.find((s) => s.path === 'libpq')?.mean_worst_outage_s ?? NaN;
  const rows = summaries.map((s) => [
    s.path,
    String(s.runs),
    s.worst_outage_s.map((x) => fmt(x)).join(', '),
    fmt(s.mean_worst_outage_s),
    fmt(s.max_worst_outage_s),
    fmt(s.mean_failed, 1),
    fmt(s.mean_worst_outage_s / base),
    fmt(s.mean_cluster_event_s),
    fmt(s.mean_outage_minus_cluster_s),
    String(s.unrecovered_runs),
    `${fmt(s.mean_background_busy * 100, 0)} %`,
  ]);
  return markdownTable(
    ['path', 'runs', `worst outage per ${event} (s)`, 'mean (s)', 'max (s)', 'failed attempts (mean)', 'vs libpq', 'cluster event (s)', 'outage − event (s)', 'not recovered', 'busy before'],
    rows,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      crash: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      paths: { type: 'string' },
      'quiet-wait': { type: 'string' },
    },
  });
  const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
  // Before each run, wait up to this long for the machine to be quiet (see waitQuiet).
  const quietWaitMs = Number(values['quiet-wait'] ?? (values.quick ? 0 : 60)) * 1000;
  const wanted = (values.paths?.split(',') ?? ALL_PATHS) as PathName[];
  const unknown = wanted.filter((p) => !ALL_PATHS.includes(p));
  if (unknown.length || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`usage: outage.js [--quick] [--crash] [--rounds N>=1] [--paths ${ALL_PATHS.join(',')}] (bad: ${unknown.join(',')})`);
  }
  const machine = await machineInfo();
  const stack = await Stack.start({ kind: 'outage', pgrouter: wanted.includes('pgrouter'), cluster: PATRONI });
  const runs: OutageRun[] = [];
  const started = new Date().toISOString();
  try {
    const paths = stack.writePaths(wanted);
    const scratch = path.join(stack.dir, 'probe');
    await stack.cluster.psql(await stack.cluster.leader(), 'CREATE TABLE IF NOT EXISTS bench_outage (id bigserial PRIMARY KEY, t timestamptz NOT NULL)');
    for (let round = 0; round < rounds; round++) {
      for (const p of roundOrder(paths, round)) {
        runs.push(await oneRun(stack, round, p, values.crash, scratch, quietWaitMs));
      }
    }
    const event = values.crash ? 'crash' : 'switchover';
    const summaries = summarize(runs, paths);
    const md = table(summaries, event);
    const file = writeResult(`outage${values.crash ? '-crash' : ''}${values.quick ? '-quick' : ''}`, {
      bench: 'outage',
      event,
      started_at: started,
      finished_at: new Date().toISOString(),
      machine,
      settings: {
        rounds,
        probe_interval_ms: 20,
        probe_connect_timeout_s: 10,
        steady_s: STEADY_S,
        recovered_s: RECOVERED_S,
        quiet_threshold: QUIET_THRESHOLD,
        quiet_wait_ms: quietWaitMs,
        patroni: PATRONI,
        haproxy: 'seed config: inter 3s fall 3 rise 2 on-marked-down shutdown-sessions, GET /primary',
        pgrouter: 'checks interval 3s timeout 5s fall 3 rise 2, connect_wait 15s',
      },
      summary: summaries,
      runs,
      markdown: md,
    });
    process.stdout.write(`\n## Write outage per ${event} (${machine.host}, ${machine.cpus} CPUs)\n\n${md}\n\nresults: ${file}\n`);
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  log(`outage bench failed: ${describeError(err)}`);
  process.exitCode = 1;
});
