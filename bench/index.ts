// `npm run bench`: every benchmark in turn, each in its own process (the cluster benches each
// with their own fresh cluster, so one bench's leftovers never colour the next), then one
// combined result: bench/results/<date>-<host>.json (every figure, the machine, the versions,
// the configs), a Markdown report (.md, also printed) and a chart (.svg, copied to
// docs/bench.svg after a complete full run).
//
//   node dist/bench/index.js [--quick] [--only outage,throughput,memory,cancel]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { log, machineInfo, repoRoot, resultBase, scratchDir } from './lib/common.js';
import { chart, markdownReport, targets, type Benches } from './lib/report.js';

interface BenchEntry {
  name: keyof Benches;
  script: string;
  args: (quick: boolean) => string[];
}

const BENCHES: BenchEntry[] = [
  // Full: 3 switchovers and 2 crashes per path, one path at a time. Quick: 1 of each, all
  // paths probed through the same event (see outage.ts).
  { name: 'outage', script: 'outage.js', args: (quick) => ['--events', 'switchover,crash', ...(quick ? [] : ['--rounds', '3', '--crash-rounds', '2'])] },
  { name: 'throughput', script: 'throughput.js', args: () => [] },
  { name: 'memory', script: 'memory.js', args: () => [] },
  { name: 'cancel', script: 'cancel.js', args: () => [] },
];

function runBench(entry: BenchEntry, quick: boolean, out: string): Promise<number> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), entry.script);
  const args = [script, ...entry.args(quick), ...(quick ? ['--quick'] : []), '--out', out];
  log(`bench ${entry.name}: node ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
  const quick = values.quick;
  const only = values.only?.split(',');
  const selected = BENCHES.filter((b) => !only || only.includes(b.name));
  if (selected.length === 0 || (only && only.length !== selected.length)) {
    throw new Error(`--only must name some of: ${BENCHES.map((b) => b.name).join(', ')}`);
  }
  const started = new Date();
  const machine = await machineInfo();
  const dir = scratchDir('run');
  const failed: string[] = [];
  const benches: Benches = {};
  const files: Record<string, unknown> = {};
  for (const entry of selected) {
    const out = path.join(dir, `${entry.name}.json`);
    // Keep going after a failure: the other figures are still worth having.
    const code = await runBench(entry, quick, out);
    if (code !== 0) failed.push(`${entry.name} (exit ${code})`);
    if (!fs.existsSync(out)) continue;
    const body = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, unknown>;
    // One machine for the whole run: it is recorded once, at the top.
    delete body.machine;
    files[entry.name] = body;
    (benches as Record<string, unknown>)[entry.name] = body;
  }
  const finished = new Date();
  const date = started.toISOString().slice(0, 10);
  const suffix = `${only ? `-${only.join('-')}` : ''}${quick ? '-quick' : ''}`;
  const base = resultBase(suffix);
  const svgName = `${path.basename(base)}.svg`;
  const md = markdownReport(benches, machine, { date, quick, svgName, failed });
  const svg = chart(benches, machine, date);
  fs.writeFileSync(
    `${base}.json`,
    `${JSON.stringify(
      {
        suite: 'pgrouter bench',
        quick,
        started_at: started.toISOString(),
        finished_at: finished.toISOString(),
        duration_s: (finished.getTime() - started.getTime()) / 1000,
        machine,
        benches_run: selected.map((b) => b.name),
        failed,
        targets: targets(benches),
        benches: files,
        markdown: md,
      },
      null,
      2,
    )}\n`,
  );
  fs.writeFileSync(`${base}.md`, md);
  fs.writeFileSync(`${base}.svg`, svg);
  const written = [`${base}.json`, `${base}.md`, `${base}.svg`];
  // docs/bench.svg is the README's chart: only a complete full run replaces it.
  if (!quick && !only && failed.length === 0) {
    const docs = path.join(repoRoot(), 'docs', 'bench.svg');
    fs.copyFileSync(`${base}.svg`, docs);
    written.push(docs);
  }
  process.stdout.write(`\n${md}\nwritten: ${written.join(', ')}\nbench run took ${((finished.getTime() - started.getTime()) / 1000).toFixed(0)} s; per-bench scratch files in /tmp/pgrouter-bench-*\n`);
  if (failed.length) {
    log(`failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  log(`bench runner failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
