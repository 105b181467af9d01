// `pgrouter status`: the router's view of the cluster in a terminal, like `patronictl list`
// plus the router's own columns (sessions, and per listener whether the member gets new
// sessions there). It reads GET /stats.json, so it shows exactly what the stats page shows.
import type { Config } from '../config/types.js';
import { describeError } from '../errors.js';
import { formatLagMb } from '../http/format.js';
import type { BackendState, StatsSnapshot } from '../http/types.js';
import { localUrl } from './local-url.js';

export const DEFAULT_STATUS_URL = 'http://127.0.0.1:8404';

/** http.bind as a URL this host can reach: a wildcard becomes loopback. */
export function statusUrl(config: Config): string {
  return localUrl(config.http.bind);
}

const ELIGIBLE: Readonly<Record<BackendState, string>> = { UP: 'yes', DOWN: 'no', DRAIN: 'drain', MAINT: 'maint' };

interface MemberLine {
  name: string;
  address: string;
  role: string;
  state: string;
  lag: number | null;
  sessions: number;
  perListener: Map<string, BackendState>;
}

/** The `pgrouter status` text for one snapshot: a header line, then a patronictl-style table. */
export function formatStatus(s: StatsSnapshot): string {
  const members = new Map<string, MemberLine>();
  for (const l of s.listeners) {
    for (const b of l.backends) {
      let m = members.get(b.name);
      if (!m) {
        m = { name: b.name, address: b.address, role: b.role, state: b.admin_state, lag: b.lag_bytes, sessions: 0, perListener: new Map() };
        members.set(b.name, m);
      }
      m.sessions += b.traffic.current;
      m.perListener.set(l.name, b.state);
      // Lag is the member's, the same on every listener; the largest seen is the safe one to show.
      if (b.lag_bytes !== null) m.lag = Math.max(m.lag ?? 0, b.lag_bytes);
    }
  }
  const header = ['Member', 'Host', 'Role', 'State', 'Lag (MB)', 'Sessions', ...s.listeners.map((l) => l.name)];
  const rows = [...members.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((m) => [
      m.name,
      m.address,
      m.name === s.primary ? 'Leader' : capitalize(m.role),
      memberState(m),
      formatLagMb(m.lag),
      String(m.sessions),
      ...s.listeners.map((l) => {
        const state = m.perListener.get(l.name);
        return state === undefined ? '-' : ELIGIBLE[state];
      }),
    ]);
  const numeric = new Set([4, 5]);
  return [headerLine(s), ...table(header, rows, numeric)].join('\n') + '\n';
}

/** Overall: the admin state when set; else the best of its listeners (up, then drain, e.g. lagging). */
function memberState(m: MemberLine): string {
  if (m.state !== 'ready') return m.state;
  const states = new Set(m.perListener.values());
  for (const st of ['UP', 'DRAIN', 'MAINT'] as const) if (states.has(st)) return st.toLowerCase();
  return 'down';
}

function headerLine(s: StatsSnapshot): string {
  const primary = s.primary === null ? `none (${s.primary_reason})` : `${s.primary} (${s.primary_reason})`;
  let etcd = 'not used (static mode)';
  if (s.etcd !== null) {
    etcd = s.etcd.connected ? `connected, revision ${s.etcd.revision ?? '-'}` : `DISCONNECTED${s.etcd.error === null ? '' : ` (${s.etcd.error})`}`;
  }
  return `Cluster: ${s.scope} (${s.mode} mode, generation ${s.generation}) | primary: ${primary} | etcd: ${etcd}`;
}

function table(header: string[], rows: string[][], numeric: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: string[], isHeader: boolean): string =>
    `|${cells.map((c, i) => ` ${!isHeader && numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)} `).join('|')}|`;
  return [rule, line(header, true), rule, ...rows.map((r) => line(r, false)), rule];
}

function looksLikeSnapshot(body: unknown): body is StatsSnapshot {
  const s = body as Partial<StatsSnapshot> | null;
  return typeof s === 'object' && s !== null && typeof s.scope === 'string' && Array.isArray(s.listeners);
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** Fetches /stats.json from `baseUrl` and prints the table; 1 with a clear message when unreachable. */
export async function runStatus(baseUrl: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream, timeoutMs = 5_000): Promise<number> {
  const url = `${baseUrl.replace(/\/+$/, '')}/stats.json`;
  let snapshot: StatsSnapshot;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (!res.ok) {
      err.write(`pgrouter status: ${url} answered HTTP ${res.status}\n`);
      return 1;
    }
    const body: unknown = await res.json();
    if (!looksLikeSnapshot(body)) {
      err.write(`pgrouter status: ${url} did not answer with a pgrouter stats snapshot (is this another service?)\n`);
      return 1;
    }
    snapshot = body;
  } catch (e) {
    // fetch wraps the socket error (ECONNREFUSED, ENOTFOUND) in `cause`: that is the useful part.
    const cause = e instanceof Error && e.cause !== undefined ? describeError(e.cause) : describeError(e);
    err.write(`pgrouter status: cannot reach the router at ${url} (${cause}); is it running, and is http.bind right?\n`);
    return 1;
  }
  out.write(formatStatus(snapshot));
  return 0;
}
