// GET /stats: one self-contained HTML page rendered from a StatsSnapshot, in the spirit of
// HAProxy's stats page (one table of backends per listener, coloured by state), plus what
// HAProxy cannot show: the confirmed primary and why, the leader history with outages, and
// etcd. Pure: the same snapshot always renders the same page (times are relative to s.at).
import type { BackendRow, LeaderChange, ListenerRow, StatsSnapshot } from './types.js';
import { html, raw, type SafeHtml } from './html.js';
import { formatAgo, formatBytes, formatCount, formatElapsed, formatTimestamp } from './format.js';
import { STATE_COLOURS, STATS_CSS } from './stats-style.js';

export interface StatsPageOptions {
  /** Meta refresh period in seconds; 0 = no auto-refresh. */
  readonly refreshSeconds: number;
}

export function renderStatsPage(s: StatsSnapshot, opts: StatsPageOptions): string {
  const refresh = opts.refreshSeconds > 0 ? html`<meta http-equiv="refresh" content="${opts.refreshSeconds}">` : null;
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refresh}
<title>pgrouter stats: ${s.scope}</title>
<style>${raw(STATS_CSS)}</style>
</head>
<body>
<header>
<h1>pgrouter · ${s.scope}</h1>
<span class="meta">version ${s.version} · ${s.mode} mode · view generation ${s.generation} · up ${formatElapsed(s.at - s.started_at)}</span>
<span class="meta">${refreshControl(opts.refreshSeconds)} · <a href="stats.json">stats.json</a> · <a href="metrics">metrics</a></span>
</header>
<main>
${summary(s)}
${s.listeners.map(listenerSection(s.at))}
${leaderHistory(s)}
${workers(s)}
<p class="legend">${Object.entries(STATE_COLOURS).map(([state, colour]) => html`<span style="background:${colour}">${state}</span>`)}</p>
</main>
<footer>generated ${formatTimestamp(s.at)}</footer>
</body>
</html>
`;
  return page.text;
}

function refreshControl(seconds: number): SafeHtml {
  return seconds > 0
    ? html`refresh every ${seconds}s (<a href="?refresh=0">stop</a>)`
    : html`auto-refresh off (<a href="stats">resume</a>)`;
}

function summary(s: StatsSnapshot): SafeHtml {
  const primary =
    s.primary !== null
      ? html`<span class="badge ok">${s.primary}</span> <span class="muted">${s.primary_reason}</span>`
      : html`<span class="badge bad">none</span> <span class="muted">${s.primary_reason}</span>`;
  const last = s.leader_history[0];
  return html`<h2>Cluster</h2>
<table class="summary">
<tr><th>Confirmed primary</th><td>${primary}</td></tr>
<tr><th>Leader key</th><td>${s.leader_key ?? html`<span class="muted">none</span>`}</td></tr>
<tr><th>Last leader change</th><td>${last ? `${formatAgo(last.at, s.at)} (${formatTimestamp(last.at)})` : html`<span class="muted">none since start</span>`}</td></tr>
<tr><th>Time without primary</th><td>${formatElapsed(s.no_primary_ms_total)} <span class="muted">in total since start</span></td></tr>
${switchoverRow(s)}
<tr><th>etcd</th><td>${etcdState(s)}</td></tr>
</table>`;
}

/** Issue 13: Patroni's pending switchover, and whether new RW sessions wait for it. */
function switchoverRow(s: StatsSnapshot): SafeHtml | null {
  const sw = s.switchover;
  if (!sw) return null;
  const who = html`${sw.from ?? s.leader_key ?? '?'} → ${sw.to ?? 'any replica'}`;
  const when =
    sw.holding_since !== null
      ? html`<span class="badge bad">holding new RW sessions</span> for ${formatElapsed(s.at - sw.holding_since)}`
      : sw.scheduled_at !== null && sw.scheduled_at > s.at
        ? html`scheduled at ${formatTimestamp(sw.scheduled_at)}`
        : html`<span class="muted">announced ${formatAgo(sw.announced_at, s.at)}</span>`;
  return html`<tr><th>Switchover</th><td>${who} · ${when}</td></tr>`;
}

function etcdState(s: StatsSnapshot): SafeHtml {
  const e = s.etcd;
  if (e === null) return html`<span class="muted">not used (static mode)</span>`;
  const state = e.connected ? html`<span class="badge ok">connected</span>` : html`<span class="badge bad">disconnected</span>`;
  const resync = e.last_resync_at === null ? 'never' : `${formatAgo(e.last_resync_at, s.at)} (${formatTimestamp(e.last_resync_at)})`;
  const error = e.error === null ? null : html` · error: <strong>${e.error}</strong>`;
  return html`${state} · revision ${e.revision ?? '-'} · last resync ${resync}${error}`;
}

function listenerSection(now: number) {
  return (l: ListenerRow): SafeHtml => {
    const t = l.traffic;
    const routes = l.paused
      ? html`<span class="badge bad">paused</span> <small>${formatAgo(l.paused.since, now)}, clients wait up to ${formatElapsed(l.paused.hold_ms)}</small>`
      : l.can_route
        ? html`<span class="badge ok">can route</span>`
        : html`<span class="badge bad">cannot route</span>`;
    return html`<h2>${l.name} <small>${l.bind} · role ${l.role}</small> ${routes}</h2>
<table class="backends" data-listener="${l.name}">
<thead>
<tr><th rowspan="2">Backend</th><th rowspan="2">Address</th><th rowspan="2">Role</th><th rowspan="2">State</th><th rowspan="2">Reason</th><th rowspan="2" class="num">Lag</th><th colspan="3">Sessions</th><th colspan="2">Bytes</th><th rowspan="2" class="num">Conn. errors</th><th rowspan="2">Last change</th></tr>
<tr><th class="num">cur</th><th class="num">max</th><th class="num">total</th><th class="num">in</th><th class="num">out</th></tr>
</thead>
<tbody>
${l.backends.map((b) => backendRow(b, now))}
<tr class="total"><td colspan="6">${l.name} total · queued ${t.queued} · held ${t.held}</td><td class="num">${formatCount(t.current)}</td><td></td><td class="num">${formatCount(t.total)}</td><td class="num">${formatBytes(t.bytes_in)}</td><td class="num">${formatBytes(t.bytes_out)}</td><td></td><td></td></tr>
</tbody>
</table>
${byReason('refused', t.refusals)}${byReason('ended', t.closed)}`;
  };
}

/** One muted line of counts by CloseReason ("refused: no_backend 2, startup_timeout 1"); none when all are 0. */
function byReason(label: string, counts: Readonly<Record<string, number>>): SafeHtml | null {
  const seen = Object.entries(counts).filter(([, n]) => n > 0);
  return seen.length > 0 ? html`<p class="muted">${label}: ${seen.map(([reason, n], i) => html`${i > 0 ? ', ' : ''}${reason} ${n}`)}</p>` : null;
}

function backendRow(b: BackendRow, now: number): SafeHtml {
  const tr = b.traffic;
  const deadline = b.drain_deadline_at ? html`, sessions closed at ${formatTimestamp(b.drain_deadline_at)}` : null;
  const admin = b.admin_state !== 'ready' ? html` <small>(admin ${b.admin_state}${deadline})</small>` : null;
  const changed = b.last_change_at === null ? html`<span class="muted">-</span>` : html`${formatAgo(b.last_change_at, now)} <small>${formatTimestamp(b.last_change_at)}</small>`;
  // Bytes, not MB as in `patronictl list`: a page has room for "312 B", which MB rounds to 0.
  const lag = b.lag_bytes === null ? '' : formatBytes(b.lag_bytes);
  return html`<tr class="st-${b.state}"><td>${b.name}</td><td>${b.address}</td><td>${b.role}</td><td class="state">${b.state}${admin}</td><td>${b.reason}</td><td class="num">${lag}</td><td class="num">${formatCount(tr.current)}</td><td class="num">${formatCount(tr.max)}</td><td class="num">${formatCount(tr.total)}</td><td class="num">${formatBytes(tr.bytes_in)}</td><td class="num">${formatBytes(tr.bytes_out)}</td><td class="num">${formatCount(tr.connect_errors)}</td><td>${changed}</td></tr>
`;
}

function leaderHistory(s: StatsSnapshot): SafeHtml {
  const rows = s.leader_history.slice(0, 20);
  if (rows.length === 0) return html`<h2>Leader history</h2><p class="muted">no change of the confirmed primary since start</p>`;
  return html`<h2>Leader history <small>newest first, last ${rows.length}</small></h2>
<table class="history">
<thead><tr><th>Time</th><th>Change</th><th class="num">Outage</th><th class="num">Held</th><th>Reason</th><th class="num">Generation</th></tr></thead>
<tbody>
${rows.map((c) => changeRow(c, s.at))}
</tbody>
</table>`;
}

function changeRow(c: LeaderChange, now: number): SafeHtml {
  const who = (name: string | null): SafeHtml => (name === null ? html`<span class="muted">none</span>` : html`${name}`);
  const outage = c.outage_ms === null ? html`<span class="muted">-</span>` : formatElapsed(c.outage_ms);
  // Issue 13: how long a switchover held new RW sessions, and how many clients waited.
  const held = c.held_ms === undefined ? html`<span class="muted">-</span>` : html`${formatElapsed(c.held_ms)} <small>${c.held_clients ?? 0} clients</small>`;
  return html`<tr><td>${formatTimestamp(c.at)} <small>${formatAgo(c.at, now)}</small></td><td>${who(c.from)} → ${who(c.to)}</td><td class="num">${outage}</td><td class="num">${held}</td><td>${c.reason}</td><td class="num">${c.generation}</td></tr>
`;
}

function workers(s: StatsSnapshot): SafeHtml {
  const entries = Object.entries(s.workers);
  if (entries.length === 0) return html``;
  return html`<h2>Workers</h2>
<table class="workers"><thead><tr><th>Worker (pid)</th><th class="num">Sessions</th></tr></thead>
<tbody>${entries.map(([pid, n]) => html`<tr><td>${pid}</td><td class="num">${formatCount(n)}</td></tr>`)}</tbody>
</table>`;
}
