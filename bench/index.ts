// `npm run bench`: every benchmark in turn, each in its own process with its own fresh cluster,
// so one bench's leftovers (WAL, cache, a leader that moved) never colour the next.
//
//   node dist/bench/index.js [--quick] [--only outage,outage-crash,throughput]
// Later benches (memory per connection, cancel through RO, TLS) add an entry to BENCHES.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { log } from './lib/common.js';

interface BenchEntry {
  name: string;
  script: string;
  args: string[];
}

const BENCHES: BenchEntry[] = [
  { name: 'outage', script: 'outage.js', args: [] },
  { name: 'outage-crash', script: 'outage.js', args: ['--crash'] },
  { name: 'throughput', script: 'throughput.js', args: [] },
];

function runBench(entry: BenchEntry, quick: boolean): Promise<number> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), entry.script);
  const args = [script, ...entry.args, ...(quick ? ['--quick'] : [])];
  log(`bench ${entry.name}: node ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
  const only = values.only?.split(',');
  const selected = BENCHES.filter((b) => !only || only.includes(b.name));
  if (selected.length === 0) throw new Error(`--only must name some of: ${BENCHES.map((b) => b.name).join(', ')}`);
  const failed: string[] = [];
  for (const entry of selected) {
    // Keep going after a failure: the other figures are still worth having.
    const code = await runBench(entry, values.quick);
    if (code !== 0) failed.push(`${entry.name} (exit ${code})`);
  }
  if (failed.length) {
    log(`failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  log(`bench runner failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
