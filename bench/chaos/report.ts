// The chaos suite's Markdown report: a summary of the promises, then per phase the books of both
// router paths side by side and the faults as they happened.
import { fmt, markdownTable, type MachineInfo } from '../lib/common.js';
import type { LossCause, PathAccount } from './accounting.js';
import type { KeyTransition } from './key-timeline.js';
import { PATHS, type ChaosPath, type PhaseResult } from './phase.js';

export interface RouterRestarts {
  path: ChaosPath;
  pidBefore: number | undefined;
  pidAfter: number | undefined;
  restarted: boolean;
}

export interface ChaosReportInput {
  machine: MachineInfo;
  startedAt: Date;
  durationS: number;
  quick: boolean;
  phases: PhaseResult[];
  restarts: RouterRestarts[];
  pollIntervalMs: number;
  pollFailures: number;
}

const LABEL: Record<ChaosPath, string> = { pgrouter: 'pgrouter', haproxy: 'HAProxy (seeds)' };
const MODE_LABEL = { sync: 'synchronous_mode: true', async: 'asynchronous replication' } as const;
const CAUSES: Array<[LossCause, string]> = [
  ['non_holder', '… acknowledged by a member not holding the key (the router’s)'],
  ['failover', '… lost when the key moved on (the cluster’s: replication)'],
  ['handed_back', '… lost when Patroni handed the key back to the member it was taken from (Patroni’s)'],
  ['unexplained', '… unexplained (the acknowledging member kept the key)'],
];

const CAUSE_SHORT: Record<LossCause, string> = {
  non_holder: 'acknowledged by a non-holder: the router’s',
  failover: 'the key moved on: the cluster’s',
  handed_back: 'Patroni handed the key back: Patroni’s',
  unexplained: 'unexplained',
};

const n = (x: number): string => x.toLocaleString('en-US');
const ofPath = (ph: PhaseResult, p: ChaosPath): PathAccount | undefined => ph.paths[p];
const cell = (ph: PhaseResult, p: ChaosPath, f: (a: PathAccount) => string): string => {
  const a = ofPath(ph, p);
  return a ? f(a) : '—';
};

function keyLine(t: KeyTransition, origin: number): string {
  return `+${fmt((t.firstSeenAfter - origin) / 1000, 2)} s ${t.from ?? '(none)'} → ${t.to ?? '(none)'}`;
}

function restOutageRow(ph: PhaseResult): string[][] {
  const f = ph.faults.find((x) => x.name === 'rest-outage');
  if (!f) return [];
  const d = f.detail as {
    outages?: Array<{ ms: number }>;
    failed_checks?: { pgrouter: number; haproxy: number };
    pgrouter_killed_rw?: Record<string, number>;
    haproxy_marked_down?: number;
  };
  const killed = Object.values(d.pgrouter_killed_rw ?? {}).reduce((a, b) => a + b, 0);
  return [
    [
      `REST outage (${d.outages?.length ?? 0} × ${fmt(Math.max(...(d.outages ?? []).map((o) => o.ms)) / 1000, 2)} s at most, ECONNREFUSED): failed checks of the leader`,
      String(d.failed_checks?.pgrouter ?? '—'),
      String(d.failed_checks?.haproxy ?? '—'),
    ],
    [
      'REST outage: RW sessions killed (pgrouter: killed-session counter; HAProxy: times marked down)',
      `${killed}${killed ? ` (${Object.entries(d.pgrouter_killed_rw ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`,
      `marked down ${d.haproxy_marked_down ?? '—'} ×`,
    ],
  ];
}

function phaseTables(ph: PhaseResult, pollMs: number): string {
  const rows: string[][] = [];
  const both = (label: string, f: (a: PathAccount) => string): void => {
    rows.push([label, ...PATHS.map((p) => cell(ph, p, f))]);
  };
  both('transactions acknowledged', (a) => n(a.acked));
  both('acknowledged, then missing from the final leader', (a) => n(a.missing));
  for (const [cause, label] of CAUSES) both(label, (a) => n(a.missingByCause[cause]));
  both(`writes acknowledged by a member not holding the leader key (±1 poll, ${pollMs} ms)`, (a) =>
    a.nonHolderAcks === 0 ? '0' : `${n(a.nonHolderAcks)} (${Object.entries(a.nonHolderByMember).map(([m, c]) => `${m}: ${c}`).join(', ')})`,
  );
  both('books balance (sum of balances)', (a) => `${a.booksBalance ? 'yes' : '**no**'}, ${n(a.balanceSum)} of ${n(a.expectedSum)}`);
  both('every balance matches its ledger', (a) => (a.ledgerMatches ? 'yes' : '**no**'));
  both('in-doubt commits kept (no acknowledgement seen, row present)', (a) => n(a.inDoubtKept));
  for (const f of ph.faults) both(`client errors: ${f.name}`, (a) => n(a.errorsByFault[f.name] ?? 0));
  for (const f of ph.faults) both(`longest write gap: ${f.name} (s)`, (a) => fmt(a.longestGapByFault[f.name] ?? Number.NaN));
  rows.push(...restOutageRow(ph));
  const accounting = markdownTable([MODE_LABEL[ph.mode], ...PATHS.map((p) => LABEL[p])], rows);
  const faults = markdownTable(
    ['fault', 'member', 'start → recovered (s)', 'what happened (key changes: time from the phase start)'],
    ph.faults.map((f) => [
      f.name,
      f.member ?? '—',
      f.recoveredAt ? fmt((f.recoveredAt - f.startedAt) / 1000, 1) : 'not recovered',
      [f.error, faultDetail(f.detail), `key: ${f.keyChanges.map((t) => keyLine(t, ph.startedAt)).join(', ') || 'unchanged'}`].filter(Boolean).join('; '),
    ]),
  );
  return `${accounting}\n\n${faults}`;
}

function faultDetail(d: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof d.to === 'string') parts.push(`new leader ${d.to}`);
  if (typeof d.frozen_ms === 'number') parts.push(`Patroni frozen ${fmt(d.frozen_ms / 1000, 1)} s`);
  if (typeof d.down_ms === 'number') parts.push(`etcd down ${fmt(d.down_ms / 1000, 1)} s`);
  if (typeof d.terminated === 'number') parts.push(`${d.terminated} sessions terminated`);
  if (Array.isArray(d.outages)) parts.push(`${d.outages.length} outages staged`);
  return parts.join('; ');
}

function lossEvidence(ph: PhaseResult): string {
  const lines: string[] = [];
  for (const p of PATHS) {
    for (const g of ofPath(ph, p)?.losses ?? []) {
      const when = `+${fmt((g.firstAckAt - ph.startedAt) / 1000, 2)} s to +${fmt((g.lastAckAt - ph.startedAt) / 1000, 2)} s`;
      lines.push(`- ${LABEL[p]}: ${n(g.count)} acknowledged by ${g.member} from ${when}, lost (${CAUSE_SHORT[g.cause]}); key: ${g.keyHistory.map((t) => keyLine(t, ph.startedAt)).join(', ')}`);
    }
  }
  return lines.length ? `\nThe losses and the key history behind them (times from the phase start):\n\n${lines.join('\n')}\n` : '';
}

function summary(input: ChaosReportInput): string {
  const total = (p: ChaosPath, f: (a: PathAccount) => number, mode?: string): string =>
    n(input.phases.filter((ph) => !mode || ph.mode === mode).reduce((s, ph) => s + (ofPath(ph, p) ? f(ofPath(ph, p)!) : 0), 0));
  const faults = input.phases.reduce((s, ph) => s + ph.faults.length, 0);
  const recovered = input.phases.reduce((s, ph) => s + ph.faults.filter((f) => f.recoveredAt && !f.error).length, 0);
  const rows = [
    ['faults run, cluster recovered after each', `${recovered} of ${faults}`, `${recovered} of ${faults}`],
    ['router restarts (pid changed or gone)', ...PATHS.map((p) => String(input.restarts.filter((r) => r.path === p && r.restarted).length))],
    ...(['sync', 'async'] as const).filter((mode) => input.phases.some((ph) => ph.mode === mode)).map((mode) => [
      `acknowledged transactions lost, ${MODE_LABEL[mode]}: router’s / cluster’s / Patroni’s`,
      ...PATHS.map((p) =>
        [
          total(p, (a) => a.missingByCause.non_holder, mode),
          total(p, (a) => a.missingByCause.failover + a.missingByCause.unexplained, mode),
          total(p, (a) => a.missingByCause.handed_back, mode),
        ].join(' / '),
      ),
    ]),
    ['writes acknowledged by a member not holding the leader key', ...PATHS.map((p) => total(p, (a) => a.nonHolderAcks))],
    ['books balance in every phase', ...PATHS.map((p) => (input.phases.every((ph) => ofPath(ph, p)?.booksBalance && ofPath(ph, p)?.ledgerMatches) ? 'yes' : '**no**'))],
    ['client errors, all faults', ...PATHS.map((p) => total(p, (a) => Object.values(a.errorsByFault).reduce((x, y) => x + y, 0)))],
  ];
  return markdownTable(['promise', ...PATHS.map((p) => LABEL[p])], rows);
}

export function chaosMarkdown(input: ChaosReportInput): string {
  const m = input.machine;
  const parts = [
    `# pgrouter chaos run${input.quick ? ' (quick)' : ''}, ${input.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${m.host}: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, ${m.kernel}; ${m.postgres}, ${m.patroni}, ${m.etcd.split('\n')[0]}, ${m.haproxy}; Node ${m.node}. ` +
      `Run took ${fmt(input.durationS / 60, 1)} min. Leader key polled every ${input.pollIntervalMs} ms (${input.pollFailures} failed polls, e.g. while etcd was down).`,
    '',
    summary(input),
  ];
  for (const ph of input.phases) {
    parts.push('', `## ${MODE_LABEL[ph.mode]}`, '');
    if (ph.error) parts.push(`**Phase error:** ${ph.error}`, '');
    parts.push(phaseTables(ph, input.pollIntervalMs));
    parts.push(lossEvidence(ph));
  }
  return `${parts.join('\n')}\n`;
}
