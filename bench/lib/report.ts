// The combined report of `npm run bench`: targets met or missed, every bench's table, and the
// chart, from the result files the benches wrote.
import { fmt, markdownTable, type MachineInfo } from './common.js';
import { MODE_LABEL, MODES, type Mode } from './pgbench.js';
import { legend, panel, svgDocument, esc, type BarGroup } from './svg-chart.js';

interface OutageEventResult {
  rounds: number;
  summary: Array<{ path: string; runs: number; mean_worst_outage_s: number; mean_failed?: number; max_client_errors?: number }>;
  markdown: string;
}

export interface OutageFile {
  settings: { concurrent: boolean };
  results: Partial<Record<'switchover' | 'crash', OutageEventResult>>;
}

export interface ThroughputFile {
  settings: { clients: number; threads: number; duration_s: number; rounds: number };
  not_run: Record<string, string>;
  summary: Array<{ mode: Mode; path: string; mean_tps: number; vs_direct: number; vs_haproxy: number }>;
  markdown: string;
}

export interface MemoryFile {
  settings: { sessions: number; rounds: number };
  summary: Array<{ proxy: string; mean_per_session_kib: number; vs_haproxy: number; mean_rate_per_s: number }>;
  markdown: string;
}

export interface CancelFile {
  settings: { count: number };
  summary: Array<{ path: string; ok: number; count: number }>;
  markdown: string;
}

export interface Benches {
  outage?: OutageFile;
  throughput?: ThroughputFile;
  memory?: MemoryFile;
  cancel?: CancelFile;
}

export interface Target {
  target: string;
  figure: string;
  status: 'met' | 'missed' | 'not measured';
}

const THROUGHPUT_PATHS = ['direct', 'haproxy', 'pgrouter', 'pgrouter-auto'];
const OUTAGE_PATHS = ['pgrouter', 'haproxy', 'libpq'];

function outageMean(b: Benches, event: 'switchover' | 'crash', path: string): number {
  return b.outage?.results[event]?.summary.find((s) => s.path === path)?.mean_worst_outage_s ?? NaN;
}

const verdict = (ok: boolean, measured: boolean): Target['status'] => (!measured ? 'not measured' : ok ? 'met' : 'missed');

export function targets(b: Benches): Target[] {
  const out: Target[] = [];
  const sw = [outageMean(b, 'switchover', 'pgrouter'), outageMean(b, 'switchover', 'libpq')] as const;
  out.push({
    target: 'switchover write outage ≤ 1.1 × libpq multi-host',
    figure: `${fmt(sw[0])} s vs ${fmt(sw[1])} s = ${fmt(sw[0] / sw[1])} ×`,
    status: verdict(sw[0] / sw[1] <= 1.1, Number.isFinite(sw[0] / sw[1])),
  });
  // Issue 13: a client that connects during a switchover sees a delay, never an error.
  const errors = (path: string) => b.outage?.results.switchover?.summary.find((s) => s.path === path);
  const own = errors('pgrouter');
  const others = ['haproxy', 'libpq'].flatMap((p) => {
    const s = errors(p);
    return s?.mean_failed === undefined ? [] : [`${p === 'libpq' ? 'libpq multi-host' : 'HAProxy'} ${fmt(s.mean_failed, 1)}`];
  });
  out.push({
    target: 'client errors during a switchover: 0 (pgrouter)',
    figure: own?.mean_failed === undefined ? '—' : `${fmt(own.mean_failed, 1)} per switchover (max ${fmt(own.max_client_errors ?? NaN, 0)})${others.length ? `; ${others.join(', ')}` : ''}`,
    status: verdict((own?.max_client_errors ?? NaN) === 0, own?.max_client_errors !== undefined && Number.isFinite(own.max_client_errors)),
  });
  const cr = [outageMean(b, 'crash', 'pgrouter'), outageMean(b, 'crash', 'libpq')] as const;
  out.push({
    target: 'crash write outage ≤ libpq multi-host + 0.5 s',
    figure: `${fmt(cr[0])} s vs ${fmt(cr[1])} s = ${cr[0] - cr[1] >= 0 ? '+' : '−'}${fmt(Math.abs(cr[0] - cr[1]))} s`,
    status: verdict(cr[0] - cr[1] <= 0.5, Number.isFinite(cr[0] - cr[1])),
  });
  for (const mode of MODES) {
    // pgrouter terminates TLS there while HAProxy can only pass it through: not a like-for-like target.
    if (mode === 'select-tls') continue;
    for (const path of ['pgrouter', 'pgrouter-auto']) {
      const s = b.throughput?.summary.find((x) => x.mode === mode && x.path === path);
      const notRun = b.throughput?.not_run[path];
      if (!s && !notRun) continue;
      out.push({
        target: `throughput ≥ 1.0 × HAProxy: ${MODE_LABEL[mode]}, ${path === 'pgrouter' ? 'workers 1' : 'workers auto'}`,
        figure: s ? `${fmt(s.mean_tps, 0)} tps = ${fmt(s.vs_haproxy)} × HAProxy` : `not run: ${notRun}`,
        status: verdict((s?.vs_haproxy ?? NaN) >= 1.0, s !== undefined && Number.isFinite(s.vs_haproxy)),
      });
    }
  }
  const mem = b.memory?.summary.find((s) => s.proxy === 'pgrouter');
  const memH = b.memory?.summary.find((s) => s.proxy === 'haproxy');
  out.push({
    target: 'memory per session ≤ 2 × HAProxy',
    figure: mem && memH ? `${fmt(mem.mean_per_session_kib)} KiB vs ${fmt(memH.mean_per_session_kib)} KiB = ${fmt(mem.vs_haproxy)} ×` : '—',
    status: verdict((mem?.vs_haproxy ?? NaN) <= 2, mem !== undefined && Number.isFinite(mem.vs_haproxy)),
  });
  const cancel = b.cancel?.summary.find((s) => s.path === 'pgrouter');
  const cancelH = b.cancel?.summary.find((s) => s.path === 'haproxy');
  out.push({
    target: `cancels through the RO port: all of them (${cancel?.count ?? 10}/${cancel?.count ?? 10})`,
    figure: cancel ? `${cancel.ok} of ${cancel.count}` + (cancelH ? ` (HAProxy: ${cancelH.ok} of ${cancelH.count})` : '') : '—',
    status: verdict(cancel !== undefined && cancel.ok === cancel.count, cancel !== undefined),
  });
  return out;
}

export function targetsTable(t: Target[]): string {
  return markdownTable(
    ['target', 'measured', 'verdict'],
    t.map((x) => [x.target, x.figure, x.status === 'met' ? '**met**' : x.status === 'missed' ? '**missed**' : x.status]),
  );
}

export function machineLine(m: MachineInfo): string {
  return (
    `${m.host}: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, ${m.kernel}, loopback only. ` +
    `Node ${m.node}; ${m.postgres}; ${m.patroni}; ${m.etcd}; ${m.haproxy.replace(/ - https?:\S+/, '')} ` +
    `(${m.haproxyThreads ?? '?'} threads, its default here); ${m.pgbench}.`
  );
}

export function markdownReport(b: Benches, m: MachineInfo, opts: { date: string; quick: boolean; svgName: string; failed: string[] }): string {
  const parts: string[] = [];
  parts.push(`# pgrouter benchmarks, ${opts.date}${opts.quick ? ' (quick run: short, one round, indicative only)' : ''}`);
  parts.push(machineLine(m));
  if (opts.failed.length) parts.push(`**Failed benches:** ${opts.failed.join(', ')}`);
  parts.push(`## Targets\n\n${targetsTable(targets(b))}`);
  parts.push(`![throughput vs HAProxy and write outage per path](${opts.svgName})`);
  for (const event of ['switchover', 'crash'] as const) {
    const r = b.outage?.results[event];
    if (r) parts.push(`## Write outage per ${event} (${r.rounds} round${r.rounds === 1 ? '' : 's'}${b.outage?.settings.concurrent ? ', all paths probed through the same event' : ''})\n\n${r.markdown}`);
  }
  const t = b.throughput;
  if (t) {
    const notRun = Object.entries(t.not_run).map(([p, why]) => `\n\n${p}: not run (${why}).`).join('');
    parts.push(`## Throughput (${t.settings.clients} clients, ${t.settings.threads} threads, ${t.settings.rounds} × ${t.settings.duration_s} s per path and mode)\n\n${t.markdown}${notRun}`);
  }
  if (b.memory) parts.push(`## Memory per session (${b.memory.settings.sessions} sessions held, fake backend)\n\n${b.memory.markdown}`);
  if (b.cancel) parts.push(`## Cancels through the RO port (2 replicas, roundrobin)\n\n${b.cancel.markdown}`);
  return `${parts.join('\n\n')}\n`;
}

/** Left: throughput vs HAProxy per mode and path; right: write outage per event and path. */
export function chart(b: Benches, m: MachineInfo, date: string): string {
  const width = 980;
  const height = 430;
  const tpGroups: BarGroup[] = MODES.filter((mode) => b.throughput?.summary.some((s) => s.mode === mode)).map((mode) => ({
    label: MODE_LABEL[mode],
    bars: THROUGHPUT_PATHS.map((p) => ({ key: p, value: b.throughput?.summary.find((s) => s.mode === mode && s.path === p)?.vs_haproxy ?? null })),
  }));
  const outGroups: BarGroup[] = (['switchover', 'crash'] as const)
    .filter((e) => b.outage?.results[e])
    .map((e) => ({ label: e === 'switchover' ? 'patronictl switchover' : 'leader crash (ttl 10)', bars: OUTAGE_PATHS.map((p) => ({ key: p, value: outageMean(b, e, p) })) }));
  const body = [
    `<text x="16" y="24" class="heading">pgrouter vs HAProxy (seed config) and libpq multi-host</text>`,
    `<text x="16" y="42" class="sub">${esc(`${date}, ${m.host}: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, loopback; HAProxy 2.6 with ${m.haproxyThreads ?? '?'} threads; PostgreSQL 15, Patroni 3.0.2, etcd 3.4`)}</text>`,
    panel({ x: 10, y: 56, width: 560, height: 330, title: 'Throughput, ratio to HAProxy (higher is better)', unit: 'tps / HAProxy tps', groups: tpGroups, digits: 2, reference: { value: 1, label: 'HAProxy = 1.0' } }),
    panel({ x: 590, y: 56, width: 380, height: 330, title: 'Worst write outage (lower is better)', unit: 'seconds', groups: outGroups, digits: 2 }),
    legend(16, 414, ['direct', 'haproxy', 'pgrouter', 'pgrouter-auto', 'libpq']),
  ].join('\n');
  return svgDocument(width, height, body);
}
