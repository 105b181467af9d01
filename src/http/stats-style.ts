// The stats page's only stylesheet, inlined: the page loads nothing else (no fonts, scripts or
// images), so it works on an air-gapped router node and under `default-src 'none'`.
// Row colours follow HAProxy's stats page, which operators migrating from it read at a glance:
// UP green, DOWN red, DRAIN blue, MAINT brown.
export const STATE_COLOURS = {
  UP: '#c0ffc0',
  DOWN: '#ff9090',
  DRAIN: '#20a0ff',
  MAINT: '#c07820',
} as const;

export const STATS_CSS = `
:root { color-scheme: light; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; background: #f4f4f0; color: #111; }
header { background: #20304a; color: #fff; padding: 10px 16px; display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header .meta { color: #c8d2e0; }
header a { color: #c8d2e0; }
main { padding: 12px 16px 24px; }
h2 { font-size: 15px; margin: 20px 0 6px; }
h2 small { font-weight: normal; color: #555; }
table { border-collapse: collapse; background: #fff; margin-bottom: 4px; }
th, td { border: 1px solid #b8b8b0; padding: 3px 8px; text-align: left; vertical-align: top; white-space: nowrap; }
th { background: #dcdcd4; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td small, th small { color: #444; font-weight: normal; }
.summary th { width: 11em; }
.state { font-weight: 700; }
tr.st-UP td { background: ${STATE_COLOURS.UP}; }
tr.st-DOWN td { background: ${STATE_COLOURS.DOWN}; }
tr.st-DRAIN td { background: ${STATE_COLOURS.DRAIN}; }
tr.st-MAINT td { background: ${STATE_COLOURS.MAINT}; }
tr.total td { background: #ecece4; font-weight: 600; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; font-weight: 700; }
.ok { background: ${STATE_COLOURS.UP}; }
.bad { background: ${STATE_COLOURS.DOWN}; }
.muted { color: #666; }
.legend span { display: inline-block; padding: 0 8px; margin-right: 4px; border: 1px solid #b8b8b0; }
footer { color: #666; padding: 0 16px 16px; }
`;
