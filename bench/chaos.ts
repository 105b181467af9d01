// `npm run chaos`: pgrouter's promise under a run of faults, with HAProxy (the seeds' config)
// beside it against the same cluster in the same run. One local cluster (3 × Patroni 3.0.2 +
// PostgreSQL 15, etcd 3.4, ttl 10) in two phases: synchronous_mode: true, then asynchronous
// replication. In each phase, writers move money through both routers' RW ports while the
// faults run in order; then the books are read from the final leader and accounted (see
// bench/README.md, "chaos", for what each figure means).
//
//   node dist/bench/chaos.js [--quick] [--phases sync,async] [--faults a,b,...] [--writers N]
//                            [--pause-ms MS] [--out FILE]
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { describeError } from '../src/errors.js';
import { log, machineInfo, resultBase } from './lib/common.js';
import { ChaosStack } from './chaos/chaos-stack.js';
import { FAULTS, type FaultName, type FaultSettings } from './chaos/faults.js';
import { KeyTimeline } from './chaos/key-timeline.js';
import { runPhase, type Mode, type PhaseResult } from './chaos/phase.js';
import { chaosMarkdown, type RouterRestarts } from './chaos/report.js';

const POLL_MS = 50;

/**
 * Quick: every fault but the freeze with synchronous_mode, and only the freeze (the split-brain
 * case) with asynchronous replication; a shorter freeze and etcd outage. About 3 minutes here.
 */
const QUICK_FAULTS: Record<Mode, FaultName[]> = {
  sync: ['switchover', 'replica-restart', 'crash', 'etcd', 'terminate', 'rest-outage'],
  async: ['freeze'],
};

function settings(quick: boolean): FaultSettings {
  return quick
    ? { freezeMs: 15_000, etcdDownMs: 10_000, restOutageMs: 500, restOutagesMax: 6 }
    : { freezeMs: 20_000, etcdDownMs: 20_000, restOutageMs: 500, restOutagesMax: 8 };
}

function parse(): { quick: boolean; phases: Mode[]; faults: FaultName[] | null; writers: number; pauseMs: number; out: string | undefined } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      phases: { type: 'string', default: 'sync,async' },
      faults: { type: 'string' },
      writers: { type: 'string', default: '4' },
      'pause-ms': { type: 'string', default: '20' },
      out: { type: 'string' },
    },
  });
  const phases = values.phases.split(',') as Mode[];
  if (phases.length === 0 || phases.some((p) => p !== 'sync' && p !== 'async')) throw new Error('--phases takes sync, async or both');
  const faults = values.faults?.split(',') as FaultName[] | undefined;
  if (faults?.some((f) => !FAULTS.includes(f))) throw new Error(`--faults takes some of: ${FAULTS.join(', ')}`);
  return { quick: values.quick, phases, faults: faults ?? null, writers: Number(values.writers), pauseMs: Number(values['pause-ms']), out: values.out };
}

async function main(): Promise<void> {
  const args = parse();
  const started = new Date();
  const machine = await machineInfo();
  const stack = await ChaosStack.start({ synchronousMode: args.phases[0] === 'sync' });
  const c = stack.cluster;
  const leaderKey = `${c.namespace}${c.scope}/leader`;
  const timeline = new KeyTimeline(async () => (await c.etcdKeys(leaderKey)).find((kv) => kv.key === leaderKey)?.value ?? null, POLL_MS);
  const phases: PhaseResult[] = [];
  const pidsBefore = { pgrouter: stack.pgrouter.pid, haproxy: stack.haproxy.pid };
  let restarts: RouterRestarts[] = [];
  try {
    timeline.start();
    for (const [i, mode] of args.phases.entries()) {
      const faults = args.faults ?? (args.quick ? QUICK_FAULTS[mode] : [...FAULTS]);
      log(`phase ${mode}: ${faults.join(', ')}`);
      const opts = { mode, faults, settings: settings(args.quick), writers: args.writers, pauseMs: args.pauseMs, accounts: 40, steadyMs: args.quick ? 2000 : 3000 };
      phases.push(await runPhase(stack, timeline, opts, i > 0));
    }
    restarts = (['pgrouter', 'haproxy'] as const).map((p) => {
      const pidAfter = stack[p].pid;
      return { path: p, pidBefore: pidsBefore[p], pidAfter, restarted: pidAfter === undefined || pidAfter !== pidsBefore[p] };
    });
  } finally {
    await timeline.stop();
    await stack.stop();
  }
  const durationS = (Date.now() - started.getTime()) / 1000;
  const pollFailures = [...timeline.failures.values()].reduce((a, b) => a + b, 0);
  const md = chaosMarkdown({ machine, startedAt: started, durationS, quick: args.quick, phases, restarts, pollIntervalMs: POLL_MS, pollFailures });
  const base = args.out?.replace(/\.json$/, '') ?? resultBase(`-chaos${args.quick ? '-quick' : ''}`);
  const body = {
    suite: 'pgrouter chaos',
    quick: args.quick,
    started_at: started.toISOString(),
    duration_s: durationS,
    machine,
    settings: { ...args, poll_interval_ms: POLL_MS, faults: settings(args.quick) },
    configs: { haproxy: stack.haproxy.configText, pgrouter: stack.pgrouter.configText },
    restarts,
    poll_failures: Object.fromEntries(timeline.failures),
    phases,
    markdown: md,
  };
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(body, null, 2)}\n`);
  fs.writeFileSync(`${base}.md`, md);
  process.stdout.write(`\n${md}\nwritten: ${base}.json, ${base}.md; chaos run took ${durationS.toFixed(0)} s\n`);
  if (phases.some((ph) => ph.error)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  log(`chaos run failed: ${describeError(err)}`);
  process.exitCode = 1;
});
