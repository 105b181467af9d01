// The routers' own counters the chaos suite reads around a fault: pgrouter's /metrics
// (sessions it killed, probes that failed) and HAProxy's stats CSV (failed checks, UP→DOWN
// transitions, each of which shut down the server's sessions with on-marked-down).

/** One sample of a Prometheus text exposition: name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

export function sumOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

export interface PgrouterCounters {
  /** pgrouter_backend_killed_sessions_total{listener="rw"}, by reason. */
  killedRw: Record<string, number>;
  /** pgrouter_backend_probe_failures_total{check="primary"}, by backend. */
  primaryProbeFailures: Record<string, number>;
  leaderChanges: number;
}

export async function pgrouterCounters(httpPort: number): Promise<PgrouterCounters> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  const samples = parseMetrics(await res.text());
  const killedRw: Record<string, number> = {};
  const primaryProbeFailures: Record<string, number> = {};
  for (const s of samples) {
    if (s.name === 'pgrouter_backend_killed_sessions_total' && s.labels.listener === 'rw') {
      const reason = s.labels.reason ?? 'unknown';
      killedRw[reason] = (killedRw[reason] ?? 0) + s.value;
    }
    if (s.name === 'pgrouter_backend_probe_failures_total' && s.labels.check === 'primary') {
      primaryProbeFailures[s.labels.backend ?? '?'] = s.value;
    }
  }
  return { killedRw, primaryProbeFailures, leaderChanges: sumOf(samples, 'pgrouter_cluster_leader_changes_total') };
}

export interface HaproxyServerCounters {
  status: string;
  /** Failed checks, and UP→DOWN transitions, since HAProxy started. */
  chkfail: number;
  chkdown: number;
}

/** Per server of one `listen` section, from `/stats;csv` (columns by their header names). */
export async function haproxyCounters(statsPort: number, proxy: string): Promise<Record<string, HaproxyServerCounters>> {
  const res = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`, { signal: AbortSignal.timeout(5000) });
  const [header, ...rows] = (await res.text()).split('\n');
  const cols = (header ?? '').replace(/^# /, '').split(',');
  const at = (name: string): number => cols.indexOf(name);
  const out: Record<string, HaproxyServerCounters> = {};
  for (const row of rows) {
    const f = row.split(',');
    const sv = f[at('svname')];
    if (f[at('pxname')] !== proxy || !sv || sv === 'FRONTEND' || sv === 'BACKEND') continue;
    out[sv] = { status: f[at('status')] ?? '', chkfail: Number(f[at('chkfail')] ?? 0), chkdown: Number(f[at('chkdown')] ?? 0) };
  }
  return out;
}

/** b − a per key (counters that only grow), keeping only keys that changed. */
export function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) !== 0) out[k] = v - (a[k] ?? 0);
  return out;
}
