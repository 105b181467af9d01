// The bench's chart as hand-written SVG (no chart library): grouped bars, one colour per path,
// value labels on the bars, an optional dashed reference line.
export const PATH_COLOURS: Record<string, string> = {
  direct: '#95a5a6',
  haproxy: '#e67e22',
  pgrouter: '#2e86de',
  'pgrouter-js': '#85c1e9',
  'pgrouter-auto': '#1b4f72',
  pipe: '#27ae60',
  libpq: '#8e44ad',
};

export const PATH_LABELS: Record<string, string> = {
  direct: 'direct (no proxy)',
  haproxy: 'HAProxy 2.6',
  pgrouter: 'pgrouter, workers 1',
  'pgrouter-js': 'pgrouter, workers 1, relay: js',
  'pgrouter-auto': 'pgrouter, workers auto',
  pipe: 'naive Node pipe()',
  libpq: 'libpq multi-host',
};

export interface Bar {
  key: string;
  /** null: not measured (drawn as a "not run" note). */
  value: number | null;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

export interface PanelSpec {
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
  unit: string;
  groups: BarGroup[];
  digits: number;
  reference?: { value: number; label: string };
}

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A "nice" axis top: 1, 2 or 5 times a power of ten, at or above `max`. */
function niceTop(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export function panel(s: PanelSpec): string {
  const left = s.x + 44;
  const top = s.y + 34;
  const bottom = s.y + s.height - 40;
  const right = s.x + s.width - 8;
  const values = s.groups.flatMap((g) => g.bars.map((b) => b.value ?? 0));
  const yMax = niceTop(Math.max(...values, s.reference?.value ?? 0) * 1.12);
  const yOf = (v: number): number => bottom - (v / yMax) * (bottom - top);
  const out: string[] = [];
  out.push(`<text x="${s.x + s.width / 2}" y="${s.y + 16}" class="title">${esc(s.title)}</text>`);
  // Grid and axis labels: five steps.
  for (let i = 0; i <= 5; i++) {
    const v = (yMax / 5) * i;
    const y = yOf(v).toFixed(1);
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" class="grid"/>`);
    out.push(`<text x="${left - 6}" y="${y}" class="axis" dy="4">${esc(v.toFixed(v < 10 && yMax < 10 ? 1 : 0))}</text>`);
  }
  out.push(`<text x="${s.x + 10}" y="${(top + bottom) / 2}" class="unit" transform="rotate(-90 ${s.x + 10} ${(top + bottom) / 2})">${esc(s.unit)}</text>`);
  const groupWidth = (right - left) / s.groups.length;
  s.groups.forEach((g, gi) => {
    const gx = left + gi * groupWidth;
    const barWidth = Math.min(46, (groupWidth - 24) / g.bars.length);
    const start = gx + (groupWidth - barWidth * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      const bx = start + bi * barWidth;
      const cx = (bx + barWidth / 2).toFixed(1);
      if (b.value === null || !Number.isFinite(b.value)) {
        out.push(`<text x="${cx}" y="${bottom - 6}" class="note" transform="rotate(-90 ${cx} ${bottom - 6})">not run</text>`);
        return;
      }
      const y = yOf(b.value);
      out.push(
        `<rect x="${(bx + 2).toFixed(1)}" y="${y.toFixed(1)}" width="${(barWidth - 4).toFixed(1)}" height="${(bottom - y).toFixed(1)}" fill="${PATH_COLOURS[b.key] ?? '#333'}"><title>${esc(`${PATH_LABELS[b.key] ?? b.key}, ${g.label}: ${b.value.toFixed(s.digits)}`)}</title></rect>`,
      );
      out.push(`<text x="${cx}" y="${(y - 4).toFixed(1)}" class="value">${esc(b.value.toFixed(s.digits))}</text>`);
    });
    out.push(`<text x="${(gx + groupWidth / 2).toFixed(1)}" y="${bottom + 18}" class="group">${esc(g.label)}</text>`);
  });
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" class="axisline"/>`);
  if (s.reference) {
    const y = yOf(s.reference.value).toFixed(1);
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" class="ref"/>`);
    out.push(`<text x="${right - 2}" y="${y}" dy="-4" class="reflabel">${esc(s.reference.label)}</text>`);
  }
  return out.join('\n');
}

/** Legend row: a swatch and a label per path key. */
export function legend(x: number, y: number, keys: string[]): string {
  let cx = x;
  const out: string[] = [];
  for (const k of keys) {
    const label = PATH_LABELS[k] ?? k;
    out.push(`<rect x="${cx}" y="${y - 10}" width="12" height="12" fill="${PATH_COLOURS[k] ?? '#333'}"/>`);
    out.push(`<text x="${cx + 17}" y="${y}" class="legend">${esc(label)}</text>`);
    cx += 30 + label.length * 6.6;
  }
  return out.join('\n');
}

export function svgDocument(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>
  .title { font-size: 14px; font-weight: bold; text-anchor: middle; fill: #222; }
  .heading { font-size: 16px; font-weight: bold; fill: #222; }
  .sub { font-size: 11px; fill: #555; }
  .axis { font-size: 10px; text-anchor: end; fill: #555; }
  .unit { font-size: 11px; text-anchor: middle; fill: #555; }
  .group { font-size: 12px; text-anchor: middle; fill: #222; }
  .value { font-size: 10px; text-anchor: middle; fill: #222; }
  .note { font-size: 10px; fill: #999; }
  .legend { font-size: 12px; fill: #222; }
  .reflabel { font-size: 10px; text-anchor: end; fill: #c0392b; }
  .grid { stroke: #eee; stroke-width: 1; }
  .axisline { stroke: #888; stroke-width: 1; }
  .ref { stroke: #c0392b; stroke-width: 1.2; stroke-dasharray: 5 4; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
${body}
</svg>
`;
}
