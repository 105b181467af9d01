// `npm run storm`: thousands of garbage connections against a listener (random bytes, absurd
// lengths, SSLRequest with pipelined plaintext, connect/close churn, slowloris) while a
// legitimate client measures its connect-and-query latency; the same without the storm as the
// baseline; pgrouter's RW listener, then HAProxy's (seeds' config), against one PostgreSQL
// (a 1-node Patroni cluster). Reports both latencies, whether each process stayed up, its RSS
// before, at its peak and after, and how many garbage connections it absorbed.
//
//   node dist/bench/storm.js [--quick] [--baseline-s S] [--storm-s S] [--rate R] [--slowloris N] [--out FILE]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeError } from '../src/errors.js';
import { HarnessError } from '../test/harness/errors.js';
import { isPidAlive } from '../test/harness/process.js';
import { within } from '../test/harness/wait.js';
import { fmt, log, machineInfo, markdownTable, resultBase } from './lib/common.js';
import { rssKiB } from './lib/proc-memory.js';
import { Stack } from './lib/stack.js';
import { parseMetrics } from './chaos/router-stats.js';
import { legitSessions, type LegitResult } from './storm/legit.js';

type Target = 'pgrouter' | 'haproxy';

interface StormSettings {
  baselineS: number;
  stormS: number;
  rate: number;
  slowloris: number;
}

interface TargetResult {
  target: Target;
  baseline: LegitResult;
  storm: LegitResult;
  garbage: Record<string, Record<string, number>> | null;
  stayed_up: boolean;
  answers_after: boolean;
  rss_kib: { before: number; peak: number; after: number | null };
  /** pgrouter's refusals by reason during the storm (from /metrics). */
  refusals: Record<string, number> | null;
  error: string | null;
}

async function refusals(httpPort: number): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  const out: Record<string, number> = {};
  for (const s of parseMetrics(await res.text())) {
    if (s.name === 'pgrouter_listener_refusals_total' && s.labels.listener === 'rw') out[s.labels.reason ?? '?'] = s.value;
  }
  return out;
}

/** Runs the garbage process against `port`; resolves with its stats once it is done. */
async function storm(port: number, s: StormSettings, onReady: () => void): Promise<Record<string, Record<string, number>>> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'storm', 'garbage.js');
  const args = [script, '--port', String(port), '--seconds', String(s.stormS), '--rate', String(s.rate), '--slowloris', String(s.slowloris)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const killChild = (): void => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', killChild);
  try {
    let stats: Record<string, Record<string, number>> | undefined;
    const lines = readline.createInterface({ input: child.stdout });
    const done = new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as { ready?: boolean; done?: boolean; stats?: Record<string, Record<string, number>> };
        if (msg.ready) onReady();
        if (msg.done) stats = msg.stats;
      });
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new HarnessError(`storm process exited with ${code}`))));
    });
    await within(done, (s.stormS + 60) * 1000, () => 'the storm process to finish');
    if (!stats) throw new HarnessError('the storm process printed no summary');
    return stats;
  } finally {
    killChild();
    process.off('exit', killChild);
  }
}

async function runTarget(stack: Stack, target: Target, s: StormSettings): Promise<TargetResult> {
  const pid = target === 'pgrouter' ? stack.pgrouter?.pid : stack.haproxy.pid;
  const port = target === 'pgrouter' ? stack.pgrouter?.ports.rw : stack.haproxy.ports.primary;
  const http = stack.pgrouter?.ports.http;
  if (pid === undefined || port === undefined || http === undefined) throw new HarnessError(`${target} is not running`);
  await stack.waitWritable(target);
  const before = rssKiB(pid);
  log(`${target}: baseline ${s.baselineS} s`);
  const baseline = await legitSessions(port, Date.now() + s.baselineS * 1000);
  const refusedBefore = target === 'pgrouter' ? await refusals(http) : null;
  let peak = rssKiB(pid);
  const sampler = setInterval(() => {
    if (isPidAlive(pid)) peak = Math.max(peak, rssKiB(pid));
  }, 500);
  const result: TargetResult = { target, baseline, storm: baseline, garbage: null, stayed_up: false, answers_after: false, rss_kib: { before, peak, after: null }, refusals: null, error: null };
  try {
    let legit: Promise<LegitResult> | undefined;
    const started = Date.now();
    log(`${target}: storm ${s.stormS} s, ${s.rate} garbage connections/s, ${s.slowloris} slowloris`);
    // The legitimate client starts once the slowloris connections are open, and stops with the storm.
    result.garbage = await storm(port, s, () => (legit = legitSessions(port, started + s.stormS * 1000)));
    if (!legit) throw new HarnessError('the storm never reported ready');
    result.storm = await legit;
  } catch (err) {
    result.error = describeError(err);
  } finally {
    clearInterval(sampler);
  }
  result.stayed_up = isPidAlive(pid) && (target === 'pgrouter' ? stack.pgrouter?.pid : stack.haproxy.pid) === pid;
  result.rss_kib = { before, peak, after: result.stayed_up ? rssKiB(pid) : null };
  result.answers_after = (await legitSessions(port, Date.now() + 1000)).failed === 0;
  if (refusedBefore) {
    const after = await refusals(http);
    result.refusals = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (refusedBefore[k] ?? 0)]).filter(([, v]) => v !== 0));
  }
  return result;
}

function markdown(results: TargetResult[], s: StormSettings, header: string): string {
  const col = (f: (r: TargetResult) => string): string[] => results.map(f);
  const lat = (l: LegitResult): string => `${fmt(l.p50_ms, 1)} / ${fmt(l.p99_ms, 1)}`;
  const absorbed = (r: TargetResult): number => Object.values(r.garbage ?? {}).reduce((a, k) => a + (k.connected ?? 0), 0);
  const kinds = Object.keys(results[0]?.garbage ?? {});
  const mib = (k: number | null): string => (k === null ? '—' : fmt(k / 1024, 1));
  const rows = [
    ['legitimate connect + SELECT 1, no storm: p50 / p99 (ms)', ...col((r) => lat(r.baseline))],
    ['legitimate connect + SELECT 1, under the storm: p50 / p99 (ms)', ...col((r) => lat(r.storm))],
    ['legitimate sessions failed under the storm', ...col((r) => `${r.storm.failed} of ${r.storm.sessions}`)],
    ['garbage connections absorbed (TCP accepted)', ...col((r) => absorbed(r).toLocaleString('en-US'))],
    ...kinds.map((k) => [`… ${k}: accepted / closed by the server / given up by us`, ...col((r) => {
      const g = r.garbage?.[k];
      return g ? `${g.connected} / ${g.closed_by_server} / ${g.closed_by_us}` : '—';
    })]),
    ['process stayed up (same pid), answers afterwards', ...col((r) => `${r.stayed_up ? 'yes' : '**no**'}, ${r.answers_after ? 'yes' : '**no**'}`)],
    ['RSS before / peak / after (MiB)', ...col((r) => `${mib(r.rss_kib.before)} / ${mib(r.rss_kib.peak)} / ${mib(r.rss_kib.after)}`)],
    ['refusals by reason (pgrouter /metrics)', ...col((r) => (r.refusals ? Object.entries(r.refusals).map(([k, v]) => `${k} ${v}`).join(', ') || '—' : 'n/a'))],
  ];
  const errors = results.filter((r) => r.error).map((r) => `- ${r.target}: ${r.error}`);
  return [
    header,
    '',
    `Storm: ${s.stormS} s, ${s.rate} garbage connections/s (random, huge-length, ssl-pipelined, churn in turn) and ${s.slowloris} slowloris connections; baseline ${s.baselineS} s.`,
    '',
    markdownTable(['', ...results.map((r) => (r.target === 'pgrouter' ? 'pgrouter' : 'HAProxy (seeds)'))], rows),
    ...(errors.length ? ['', ...errors] : []),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'baseline-s': { type: 'string' },
      'storm-s': { type: 'string' },
      rate: { type: 'string', default: '100' },
      slowloris: { type: 'string', default: '50' },
      out: { type: 'string' },
    },
  });
  const q = values.quick;
  const s: StormSettings = {
    baselineS: Number(values['baseline-s'] ?? (q ? 5 : 10)),
    stormS: Number(values['storm-s'] ?? (q ? 12 : 30)),
    rate: Number(values.rate),
    slowloris: Number(values.slowloris),
  };
  const started = new Date();
  const machine = await machineInfo();
  const stack = await Stack.start({ kind: 'storm', pgrouter: true, cluster: { nodes: 1 } });
  const results: TargetResult[] = [];
  try {
    for (const target of ['pgrouter', 'haproxy'] as const) results.push(await runTarget(stack, target, s));
  } finally {
    await stack.stop();
  }
  const durationS = (Date.now() - started.getTime()) / 1000;
  const header = `# pgrouter connection storm${q ? ' (quick)' : ''}, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${machine.host} (${machine.cpus} × ${machine.cpuModel}); ${machine.haproxy.split(' - ')[0]}; took ${fmt(durationS, 0)} s`;
  const md = markdown(results, s, header);
  const base = values.out?.replace(/\.json$/, '') ?? resultBase(`-storm${q ? '-quick' : ''}`);
  const body = { suite: 'pgrouter storm', quick: q, started_at: started.toISOString(), duration_s: durationS, machine, settings: s, configs: stack.configs(), results, markdown: md };
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(body, null, 2)}\n`);
  fs.writeFileSync(`${base}.md`, md);
  process.stdout.write(`\n${md}\nwritten: ${base}.json, ${base}.md\n`);
  if (results.some((r) => r.error || !r.stayed_up)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  log(`storm bench failed: ${describeError(err)}`);
  process.exitCode = 1;
});
