// CPU time of a router process and its direct children (pgrouter's cluster workers), from
// /proc, so a throughput run can say what each proxy spent per transaction.
import fs from 'node:fs';
import { run } from './common.js';

let ticksPerSecond: number | undefined;

async function clockTicks(): Promise<number> {
  if (ticksPerSecond === undefined) {
    const r = await run('getconf', ['CLK_TCK'], { timeoutMs: 5000, env: process.env });
    ticksPerSecond = Number(r.stdout.trim()) || 100;
  }
  return ticksPerSecond;
}

/** [ppid, utime + stime in ticks] from /proc/<pid>/stat, or undefined once the pid is gone. */
function statOf(pid: number): [number, number] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    // Processes come and go while we scan /proc; a vanished one simply has no CPU to add.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw err;
  }
  // "pid (comm) state ppid ..."; comm may contain spaces, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the comm: [0] state, [1] ppid, ..., [11] utime, [12] stime.
  return [Number(fields[1]), Number(fields[11]) + Number(fields[12])];
}

/** CPU seconds (user + system) used so far by `pid` and its live direct children. */
export async function cpuSeconds(pid: number): Promise<number> {
  const hz = await clockTicks();
  let ticks = statOf(pid)?.[1] ?? 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = statOf(Number(entry));
    if (st && st[0] === pid) ticks += st[1];
  }
  return ticks / hz;
}

export interface CpuSample {
  busy: number;
  total: number;
}

/** Aggregate busy and total jiffies of all CPUs from /proc/stat's first line. */
export function machineCpu(): CpuSample {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user/nice).
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Share of all CPUs that was busy between two samples, 0..1. */
export function busyShare(before: CpuSample, after: CpuSample): number {
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : Number.NaN;
}

/**
 * Share of all CPUs busy over the next `ms`, sampled while the bench itself is idle: other work
 * on the machine (a parallel test run, a build) skews every figure, so each run records it.
 */
export async function backgroundBusy(ms = 1000): Promise<number> {
  const before = machineCpu();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return busyShare(before, machineCpu());
}

/**
 * Waits (up to `maxWaitMs`) for a second in which at most `threshold` of the CPUs were busy,
 * and returns the last share measured. Other jobs on a shared machine come and go; starting
 * a run in a quiet moment keeps them out of most of it, and the returned figure goes into the
 * result so a contaminated run can be recognised.
 */
/**
 * "Quiet": our own idle stack (etcd, 3 Patronis at loop_wait 1, HAProxy and pgrouter checks)
 * kept about 2 % of the 2 CPUs busy when measured; above this something else is running.
 */
export const QUIET_THRESHOLD = 0.15;

export async function waitQuiet(threshold: number, maxWaitMs: number, sampleMs = 1000): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const busy = await backgroundBusy(sampleMs);
    if (busy <= threshold || Date.now() >= deadline) return busy;
  }
}
