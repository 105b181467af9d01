// Drives bench/outage-probe.py: starts it with --events, follows its attempts live (so the
// orchestrator knows when a path is in steady state and when it has recovered), stops it with
// its stop file and returns its summary.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { HarnessError } from '../../test/harness/errors.js';
import { PYTHON, clientEnv, repoRoot } from './common.js';

export interface Attempt {
  i: number;
  /** Epoch seconds (Python time.time()), comparable with Date.now() / 1000. */
  start: number;
  end: number;
  ok: boolean;
  phase: 'connect' | 'insert' | null;
  err: string | null;
}

export interface ProbeSummary {
  label: string;
  started_at: number;
  ended_at: number;
  attempts: number;
  ok: number;
  /** Failed attempts: the client errors an application saw. */
  failed: number;
  /** The same by where the attempt failed: `connect` (refused, reset, FATAL at startup) or `insert`. */
  failed_by_phase?: Record<string, number>;
  worst_outage_s: number;
  worst_outage_from: number | null;
  worst_outage_to: number | null;
  first_fail_at: number | null;
  last_fail_at: number | null;
  fail_span_s: number;
  unrecovered: boolean;
  tail_outage_s: number;
  median_gap_s: number | null;
  attempt_latency_p50_s: number | null;
  attempt_latency_p99_s: number | null;
  errors: Record<string, number>;
}

export interface ProbeOptions {
  label: string;
  dsn: string;
  dir: string;
  intervalMs?: number;
  connectTimeoutS?: number;
}

export class OutageProbe {
  readonly attempts: Attempt[] = [];
  private readonly child: ChildProcess;
  private readonly stopFile: string;
  private readonly summary: Promise<ProbeSummary>;
  private stderr = '';

  private constructor(private readonly opts: ProbeOptions) {
    fs.mkdirSync(opts.dir, { recursive: true });
    this.stopFile = path.join(opts.dir, `${opts.label}-${process.pid}-${Date.now()}.stop`);
    const script = path.join(repoRoot(), 'bench', 'outage-probe.py');
    this.child = spawn(
      PYTHON,
      [
        script,
        '--dsn',
        opts.dsn,
        '--label',
        opts.label,
        '--interval-ms',
        String(opts.intervalMs ?? 20),
        '--connect-timeout',
        String(opts.connectTimeoutS ?? 10),
        '--stop-file',
        this.stopFile,
        '--events',
      ],
      { env: clientEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    const lines = readline.createInterface({ input: this.child.stdout! });
    let summary: ProbeSummary | undefined;
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as { ev: string } & Record<string, unknown>;
      if (msg.ev === 'attempt') this.attempts.push(msg as unknown as Attempt);
      else if (msg.ev === 'summary') summary = msg as unknown as ProbeSummary;
    });
    this.summary = new Promise((resolve, reject) => {
      this.child.once('error', (err) => reject(new HarnessError('cannot start the outage probe', { cause: err })));
      this.child.once('close', (code) => {
        if (summary) resolve(summary);
        else reject(new HarnessError(`outage probe ${opts.label} exited (${code}) without a summary:\n${this.stderr}`));
      });
    });
    // Surface an early crash through stop(); until then nobody awaits the promise.
    this.summary.catch(() => undefined);
  }

  static start(opts: ProbeOptions): OutageProbe {
    return new OutageProbe(opts);
  }

  get label(): string {
    return this.opts.label;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /**
   * True when the probe's latest attempts, among those started at or after `since` (epoch
   * seconds), form an unbroken run of successes spanning at least `seconds`: no failure, no
   * pause of a second or more between two commits, and the last commit less than a second ago
   * (a hanging attempt is not "healthy" just because it has not failed yet).
   */
  healthyFor(seconds: number, since = 0): boolean {
    if (this.exited) throw new HarnessError(`outage probe ${this.label} exited early:\n${this.stderr}`);
    const now = Date.now() / 1000;
    const rel = this.attempts.filter((a) => a.start >= since);
    let i = rel.length - 1;
    const last = rel[i];
    if (!last || !last.ok || now - last.end >= 1) return false;
    let firstEnd = last.end;
    for (; i >= 0; i--) {
      const a = rel[i]!;
      if (!a.ok || firstEnd - a.end >= 1) break;
      firstEnd = a.end;
    }
    return last.end - firstEnd >= seconds;
  }

  /** Attempts that failed since `since` (epoch seconds). */
  failuresSince(since: number): number {
    return this.attempts.filter((a) => a.start >= since && !a.ok).length;
  }

  async stop(timeoutMs = 30_000): Promise<ProbeSummary> {
    fs.writeFileSync(this.stopFile, '');
    // The probe checks the stop file between attempts; an attempt can take connect-timeout
    // twice at most, so after that the signal is a fallback, not the normal path.
    const timer = setTimeout(() => this.child.kill('SIGTERM'), timeoutMs);
    try {
      return await this.summary;
    } finally {
      clearTimeout(timer);
      fs.rmSync(this.stopFile, { force: true });
    }
  }
}
