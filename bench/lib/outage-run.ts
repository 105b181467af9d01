// One outage measurement: probes on one or more paths through one cluster event (a switchover
// or a leader crash), and the per-path summary and table built from many of them.
import { describeError } from '../../src/errors.js';
import { waitFor } from '../../test/harness/cluster.js';
import { fmt, log, markdownTable, mean } from './common.js';
import { QUIET_THRESHOLD, waitQuiet } from './cpu.js';
import { OutageProbe, type ProbeSummary } from './probe.js';
import type { PathName, Stack } from './stack.js';

export type OutageEvent = 'switchover' | 'crash';

export interface OutageRun {
  round: number;
  path: PathName;
  event: OutageEvent;
  /** The other paths probed through the same event (quick runs probe all paths at once). */
  probed_with: PathName[];
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
  /** Share of all CPUs busy in the second before the probes started (other load on the machine). */
  background_busy: number;
  probe: ProbeSummary | null;
  error: string | null;
}

export interface EventOptions {
  round: number;
  paths: PathName[];
  event: OutageEvent;
  scratch: string;
  quietWaitMs: number;
  /** Seconds of clean writes before the event, and after it before the run ends. */
  steadyS: number;
  recoveredS: number;
}

/** Triggers the event; returns the old and the new leader once the new one is writable. */
async function trigger(stack: Stack, event: OutageEvent): Promise<{ from: string; to: string }> {
  const c = stack.cluster;
  if (event === 'switchover') return c.switchover();
  const from = await c.leader();
  await c.crash(from);
  const to = await c.waitForLeader((name) => name !== from, 120_000);
  return { from, to };
}

/**
 * Probes `paths` (each with its own outage-probe.py) through one event. Sequential runs pass
 * one path; quick runs pass them all, so one event serves every path.
 */
export async function measureEvent(stack: Stack, opts: EventOptions): Promise<OutageRun[]> {
  const { round, paths, event } = opts;
  const c = stack.cluster;
  const label = `round ${round} ${paths.join('+')}`;
  await c.waitForHealthy({ timeoutMs: 120_000 });
  // HAProxy keeps routing to a demoted primary until `fall 3` checks fail: start only once it
  // has settled on the current leader alone, so a run never begins inside the last one's tail.
  if (paths.includes('haproxy')) await stack.haproxy.waitForPrimary(await c.leader());
  for (const p of paths) await stack.waitWritable(p);
  const background = await waitQuiet(QUIET_THRESHOLD, opts.quietWaitMs);
  const probes = new Map<PathName, OutageProbe>();
  for (const p of paths) probes.set(p, OutageProbe.start({ label: p, dsn: await stack.dsn(p), dir: opts.scratch }));
  const shared = { from: '', to: '', event_started_at: 0, event_done_at: 0, cluster_event_s: 0 };
  let recovered = false;
  let error: string | null = null;
  try {
    await waitFor(() => [...probes.values()].every((pr) => pr.healthyFor(opts.steadyS)), {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `${paths.join(', ')}: ${opts.steadyS} s of steady writes`,
    });
    shared.event_started_at = Date.now() / 1000;
    const moved = await trigger(stack, event);
    shared.event_done_at = Date.now() / 1000;
    Object.assign(shared, moved, { cluster_event_s: shared.event_done_at - shared.event_started_at });
    log(`${label}: ${event} ${shared.from} -> ${shared.to} took ${fmt(shared.cluster_event_s)} s in the cluster`);
    // Bring a crashed leader back as a replica so the next run starts from a 3-node cluster.
    if (event === 'crash') await c.restart(shared.from);
    await c.waitForHealthy({ timeoutMs: 120_000 });
    await waitFor(() => [...probes.values()].every((pr) => pr.healthyFor(opts.recoveredS, shared.event_done_at)), {
      timeoutMs: 120_000,
      intervalMs: 100,
      what: `${paths.join(', ')}: ${opts.recoveredS} s of successful writes after the ${event}`,
    });
    recovered = true;
  } catch (err) {
    error = describeError(err);
    log(`${label}: ${error}`);
  }
  const runs: OutageRun[] = [];
  for (const [p, probe] of probes) {
    const run: OutageRun = {
      round,
      path: p,
      event,
      probed_with: paths.filter((q) => q !== p),
      ...shared,
      last_fail_after_event_s: 0,
      // A path that recovered while another did not still has a clean tail: judge it alone.
      recovered: recovered || (shared.event_done_at > 0 && probe.healthyFor(opts.recoveredS, shared.event_done_at)),
      background_busy: background,
      probe: null,
      error,
    };
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
    runs.push(run);
  }
  return runs;
}

export interface OutageSummary {
  path: PathName;
  runs: number;
  worst_outage_s: number[];
  mean_worst_outage_s: number;
  max_worst_outage_s: number;
  mean_failed: number;
  /**
   * Issue 13: client errors per event, run by run: the probe's failed attempts (a new
   * connection and one INSERT each) through that event. The target for pgrouter is 0.
   */
  client_errors: number[];
  max_client_errors: number;
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

export function summarizeOutage(runs: OutageRun[], paths: PathName[]): OutageSummary[] {
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
      client_errors: mine.map((r) => r.probe!.failed),
      max_client_errors: mine.length ? Math.max(...mine.map((r) => r.probe!.failed)) : NaN,
      mean_cluster_event_s: mean(mine.map((r) => r.cluster_event_s)),
      mean_outage_minus_cluster_s: mean(mine.map((r) => r.probe!.worst_outage_s - r.cluster_event_s)),
      unrecovered_runs: runs.filter((r) => r.path === p && !r.recovered).length,
      mean_background_busy: mean(mine.map((r) => r.background_busy)),
    };
  });
}

export function outageTable(summaries: OutageSummary[], event: OutageEvent): string {
  const base = summaries.find((s) => s.path === 'libpq')?.mean_worst_outage_s ?? NaN;
  const rows = summaries.map((s) => [
    s.path,
    String(s.runs),
    s.worst_outage_s.map((x) => fmt(x)).join(', '),
    fmt(s.mean_worst_outage_s),
    fmt(s.max_worst_outage_s),
    s.client_errors.join(', '),
    fmt(s.mean_failed, 1),
    fmt(s.mean_worst_outage_s / base),
    fmt(s.mean_cluster_event_s),
    fmt(s.mean_outage_minus_cluster_s),
    String(s.unrecovered_runs),
    `${fmt(s.mean_background_busy * 100, 0)} %`,
  ]);
  return markdownTable(
    ['path', 'runs', `worst outage per ${event} (s)`, 'mean (s)', 'max (s)', `client errors during ${event} (per run)`, 'client errors (mean)', 'vs libpq', 'cluster event (s)', 'outage − event (s)', 'not recovered', 'busy before'],
    rows,
  );
}
