// Write outage during a switchover and/or a leader crash, per client path.
//
// For each event kind, round and path in turn (order reversed every other round so no path
// always goes first after a cold start): start bench/outage-probe.py on the path (a new
// connection and one committed INSERT every 20 ms), wait for steady successes, trigger the
// event, wait until the cluster is healthy again and the probe has committed without a failure
// after the event, stop the probe. The figure is the probe's worst_outage_s: the largest gap
// between two consecutive successful commits.
//
// --concurrent (the default with --quick) probes every path through the same event instead of
// one event per path: three times fewer events, so a quick run fits in its time budget, and
// every path sees exactly the same cluster event; the probes then share the CPUs.
//
//   node dist/bench/outage.js [--quick] [--events switchover,crash] [--crash] [--rounds N]
//     [--crash-rounds N] [--paths pgrouter,haproxy,libpq] [--concurrent] [--quiet-wait S] [--out FILE]
import { parseArgs } from 'node:util';
import path from 'node:path';
import { describeError } from '../src/errors.js';
import { log, machineInfo, roundOrder, writeResult } from './lib/common.js';
import { QUIET_THRESHOLD } from './lib/cpu.js';
import { measureEvent, outageTable, summarizeOutage, type OutageEvent, type OutageRun } from './lib/outage-run.js';
import { Stack, type PathName } from './lib/stack.js';

const ALL_PATHS: PathName[] = ['pgrouter', 'haproxy', 'libpq'];
const EVENTS: OutageEvent[] = ['switchover', 'crash'];
// The harness defaults, spelled out so the result file records what was measured.
const PATRONI = { ttl: 10, loopWait: 1, retryTimeout: 4 };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      crash: { type: 'boolean', default: false },
      events: { type: 'string' },
      rounds: { type: 'string' },
      'crash-rounds': { type: 'string' },
      paths: { type: 'string' },
      concurrent: { type: 'boolean' },
      'quiet-wait': { type: 'string' },
      out: { type: 'string' },
    },
  });
  const quick = values.quick;
  const events = (values.events?.split(',') ?? [values.crash ? 'crash' : 'switchover']) as OutageEvent[];
  const rounds = Number(values.rounds ?? (quick ? 1 : 3));
  const crashRounds = Number(values['crash-rounds'] ?? rounds);
  const concurrent = values.concurrent ?? quick;
  // Quick runs shorten the clean stretches that frame each event (2 s → 1 s).
  const steadyS = quick ? 1 : 2;
  const recoveredS = quick ? 1 : 2;
  // Before each run, wait up to this long for the machine to be quiet (see waitQuiet).
  const quietWaitMs = Number(values['quiet-wait'] ?? (quick ? 0 : 20)) * 1000;
  const wanted = (values.paths?.split(',') ?? ALL_PATHS) as PathName[];
  const bad = [...wanted.filter((p) => !ALL_PATHS.includes(p)), ...events.filter((e) => !EVENTS.includes(e))];
  if (bad.length || ![rounds, crashRounds].every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(`usage: outage.js [--quick] [--events ${EVENTS.join(',')}] [--rounds N>=1] [--paths ${ALL_PATHS.join(',')}] (bad: ${bad.join(',')})`);
  }
  const machine = await machineInfo();
  const stack = await Stack.start({ kind: 'outage', pgrouter: wanted.includes('pgrouter'), cluster: PATRONI });
  const started = new Date().toISOString();
  const results: Partial<Record<OutageEvent, unknown>> = {};
  const markdown: string[] = [];
  try {
    const paths = stack.writePaths(wanted);
    const scratch = path.join(stack.dir, 'probe');
    await stack.cluster.psql(await stack.cluster.leader(), 'CREATE TABLE IF NOT EXISTS bench_outage (id bigserial PRIMARY KEY, t timestamptz NOT NULL)');
    for (const event of events) {
      const runs: OutageRun[] = [];
      const n = event === 'crash' ? crashRounds : rounds;
      for (let round = 0; round < n; round++) {
        const order = roundOrder(paths, round);
        const groups = concurrent ? [order] : order.map((p) => [p]);
        for (const group of groups) {
          runs.push(...(await measureEvent(stack, { round, paths: group, event, scratch, quietWaitMs, steadyS, recoveredS })));
        }
      }
      const summary = summarizeOutage(runs, paths);
      const md = outageTable(summary, event);
      results[event] = { rounds: n, summary, runs, markdown: md };
      markdown.push(`## Write outage per ${event} (${machine.host}, ${machine.cpus} CPUs)\n\n${md}`);
    }
    const kind = events.length === 1 && events[0] === 'switchover' ? 'outage' : `outage-${events.join('-')}`;
    const file = writeResult(
      `${kind}${quick ? '-quick' : ''}`,
      {
        bench: 'outage',
        events,
        started_at: started,
        finished_at: new Date().toISOString(),
        machine,
        settings: {
          rounds,
          crash_rounds: crashRounds,
          concurrent,
          probe_interval_ms: 20,
          probe_connect_timeout_s: 10,
          steady_s: steadyS,
          recovered_s: recoveredS,
          quiet_threshold: QUIET_THRESHOLD,
          quiet_wait_ms: quietWaitMs,
          patroni: PATRONI,
          haproxy: 'seed config: inter 3s fall 3 rise 2 on-marked-down shutdown-sessions, GET /primary',
          pgrouter: 'checks interval 3s timeout 5s fall 3 rise 2, connect_wait 15s',
        },
        configs: stack.configs(),
        results,
      },
      values.out,
    );
    process.stdout.write(`\n${markdown.join('\n\n')}\n\nresults: ${file}\n`);
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  log(`outage bench failed: ${describeError(err)}`);
  process.exitCode = 1;
});
