import { describe, expect, it } from 'vitest';
import { renderStatsPage } from '../../../src/http/stats-page.js';
import { escapeHtml, html } from '../../../src/http/html.js';
import { STATE_COLOURS } from '../../../src/http/stats-style.js';
import { backend, listener, NOW, snapshot } from './fixtures.js';

const EVIL = '<script>alert(1)</script>';

function render(s = snapshot(), refreshSeconds = 10): string {
  return renderStatsPage(s, { refreshSeconds });
}

/** The tr of one backend in one listener's table, by the order of the page. */
function rowsOf(page: string, name: string): string[] {
  return [...page.matchAll(/<tr class="st-[A-Z]+">.*?<\/tr>/g)].map((m) => m[0]).filter((r) => r.includes(`<td>${name}</td>`));
}

describe('the stats page', () => {
  it('shows every backend of every listener with its address, role, state, lag, sessions, bytes and last change', () => {
    const page = render();
    expect(page).toContain('<h2>rw <small>:5432 · role primary</small>');
    expect(page).toContain('<h2>ro <small>:5433 · role replica</small>');
    const [rwNode1] = rowsOf(page, 'node1');
    expect(rwNode1).toContain('<td>10.0.0.1:5432</td><td>primary</td><td class="state">UP</td>');
    expect(rwNode1).toContain('<td class="num">3</td><td class="num">7</td><td class="num">120</td>');
    expect(rwNode1).toContain('<td class="num">2.0 kB</td><td class="num">1.5 MB</td>');
    expect(rwNode1).toContain('1m ago <small>2025-03-01 11:58:55Z</small>');
    expect(rowsOf(page, 'node3')[1]).toContain('<td class="num">3.0 MB</td>');
  });

  it('names why clients were refused and why sessions ended, by reason, under their listener', () => {
    const rw = listener('rw', 'primary', [backend('node1', { state: 'UP' })]);
    const traffic = { ...rw.traffic, refusals: { no_backend: 2, startup_timeout: 0 }, closed: { client_closed: 5, killed_not_primary: 1 } };
    const page = render(snapshot({ listeners: [{ ...rw, traffic }] }));
    expect(page).toContain('<p class="muted">refused: no_backend 2</p>');
    expect(page).toContain('<p class="muted">ended: client_closed 5, killed_not_primary 1</p>');
    expect(render(snapshot({ listeners: [rw] }))).not.toContain('ended:');
  });

  it('colours each row by state like HAProxy: UP green, DOWN red, DRAIN blue, MAINT brown', () => {
    const s = snapshot({
      listeners: [
        listener('ro', 'replica', [
          backend('node1', { state: 'UP' }),
          backend('node2', { state: 'DOWN' }),
          backend('node3', { state: 'DRAIN', admin_state: 'drain' }),
          backend('node4', { state: 'MAINT', admin_state: 'maint' }),
        ]),
      ],
    });
    const page = render(s);
    expect(rowsOf(page, 'node1')[0]).toMatch(/^<tr class="st-UP">/);
    expect(rowsOf(page, 'node2')[0]).toMatch(/^<tr class="st-DOWN">/);
    expect(rowsOf(page, 'node3')[0]).toMatch(/^<tr class="st-DRAIN">.*\(admin drain\)/);
    expect(rowsOf(page, 'node4')[0]).toMatch(/^<tr class="st-MAINT">.*\(admin maint\)/);
    expect(STATE_COLOURS).toEqual({ UP: '#c0ffc0', DOWN: '#ff9090', DRAIN: '#20a0ff', MAINT: '#c07820' });
    for (const [state, colour] of Object.entries(STATE_COLOURS)) expect(page).toContain(`tr.st-${state} td { background: ${colour}; }`);
  });

  it('shows the confirmed primary with its reason, the leader key and the etcd state', () => {
    const page = render();
    expect(page).toContain('<span class="badge ok">node1</span> <span class="muted">leader key node1 confirmed by /primary</span>');
    expect(page).toContain('<tr><th>Leader key</th><td>node1</td></tr>');
    expect(page).toContain('<span class="badge ok">connected</span> · revision 1234 · last resync 5s ago (2025-03-01 11:59:55Z)');
    const down = render(snapshot({ primary: null, primary_reason: 'leader key missing', etcd: { connected: false, last_resync_at: null, revision: null, error: 'ECONNREFUSED' } }));
    expect(down).toContain('<span class="badge bad">none</span> <span class="muted">leader key missing</span>');
    expect(down).toContain('<span class="badge bad">disconnected</span> · revision - · last resync never · error: <strong>ECONNREFUSED</strong>');
    expect(render(snapshot({ mode: 'static', etcd: null }))).toContain('not used (static mode)');
  });

  it('lists the leader history newest first with outages, at most 20 changes', () => {
    const page = render();
    expect(page).toContain('<td><span class="muted">none</span> → node1</td><td class="num">1.35 s</td>');
    expect(page.indexOf('→ node1')).toBeLessThan(page.indexOf('node3 → '));
    const many = Array.from({ length: 30 }, (_, i) => ({ at: NOW - i * 1000, from: 'a', to: 'b', reason: `change ${i}`, generation: 100 - i, outage_ms: 0 }));
    const long = render(snapshot({ leader_history: many }));
    expect(long).toContain('newest first, last 20');
    expect(long).toContain('change 19');
    expect(long).not.toContain('change 20');
    expect(render(snapshot({ leader_history: [] }))).toContain('no change of the confirmed primary since start');
  });

  it('shows sessions per worker', () => {
    expect(render(snapshot({ workers: { '101': 4, '102': 5 } }))).toContain('<tr><td>101</td><td class="num">4</td></tr><tr><td>102</td><td class="num">5</td></tr>');
  });

  it('refreshes itself every refreshSeconds with a meta refresh, and not at all with 0', () => {
    expect(render(snapshot(), 10)).toContain('<meta http-equiv="refresh" content="10">');
    expect(render(snapshot(), 10)).toContain('refresh every 10s (<a href="?refresh=0">stop</a>)');
    const off = render(snapshot(), 0);
    expect(off).not.toContain('http-equiv="refresh"');
    expect(off).toContain('auto-refresh off');
  });

  it('loads nothing from anywhere: no script, no external src or href, CSS inline only', () => {
    const page = render();
    expect(page).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(page).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(page).not.toMatch(/https?:\/\//);
    for (const href of page.matchAll(/href="([^"]*)"/g)) expect(['stats.json', 'metrics', '?refresh=0']).toContain(href[1]);
  });

  it('escapes every string that comes from a member: names, roles, reasons, addresses, errors, history', () => {
    const s = snapshot({
      scope: EVIL,
      primary: EVIL,
      primary_reason: EVIL,
      leader_key: EVIL,
      etcd: { connected: false, last_resync_at: null, revision: EVIL, error: EVIL },
      listeners: [listener('ro', 'replica', [backend(EVIL, { address: `"><img src=x onerror=alert(1)>`, role: EVIL, reason: EVIL })])],
      leader_history: [{ at: NOW, from: EVIL, to: EVIL, reason: EVIL, generation: 1, outage_ms: 0 }],
      workers: { [EVIL]: 1 },
    });
    const page = render(s);
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(page.match(/&lt;script&gt;/g)?.length).toBeGreaterThanOrEqual(14);
  });
});

describe('the stats page and planned maintenance (issue 13)', () => {
  it('shows a paused listener, a running switchover hold, a drain deadline and the held time of a switchover', () => {
    const page = render(
      snapshot({
        listeners: [
          listener('rw', 'primary', [backend('node1', { state: 'DRAIN', admin_state: 'drain', drain_deadline_at: NOW + 300_000 })], { paused: { since: NOW - 5_000, hold_ms: 30_000 }, can_route: false }),
        ],
        switchover: { from: 'node1', to: 'node2', scheduled_at: null, announced_at: NOW - 800, holding_since: NOW - 800 },
        leader_history: [{ at: NOW - 1_000, from: null, to: 'node2', reason: 'confirmed', generation: 9, outage_ms: 700, held_ms: 1_200, held_clients: 4 }],
      }),
    );
    expect(page).toContain('<span class="badge bad">paused</span> <small>5s ago, clients wait up to 30.0 s</small>');
    expect(page).toContain('<tr><th>Switchover</th><td>node1 → node2 · <span class="badge bad">holding new RW sessions</span> for 800 ms</td></tr>');
    expect(page).toContain('(admin drain, sessions closed at');
    expect(page).toContain('<td class="num">700 ms</td><td class="num">1.20 s <small>4 clients</small></td>');
  });

  it('shows a scheduled switchover with its time and no hold', () => {
    const page = render(snapshot({ switchover: { from: 'node1', to: null, scheduled_at: NOW + 3_600_000, announced_at: NOW - 10, holding_since: null } }));
    expect(page).toMatch(/<tr><th>Switchover<\/th><td>node1 → any replica · scheduled at [^<]+<\/td><\/tr>/);
  });
});

describe('the html template tag', () => {
  it('escapes & < > " and \' in interpolated strings and keeps nested templates as they are', () => {
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p title="${'"x"'}">${inner}${['<a>', html`<br>`]}${null}${undefined}${false}${0}</p>`.text).toBe(
      '<p title="&quot;x&quot;"><b>&lt;i&gt;</b>&lt;a&gt;<br>0</p>',
    );
  });
});
