// A small, strict parser of the Prometheus text exposition format 0.0.4, for tests. Strict on
// purpose: it rejects what a Prometheus server would reject (bad names, bad escapes, samples of
// an undeclared family, duplicate series, non-cumulative histogram buckets), so a test that
// scrapes pgrouter also checks that the output is valid.
//
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly string[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

function fail(lineNo: number, message: string): never {
  throw new Error(`prometheus text line ${lineNo}: ${message}`);
}

/** Go's strconv.ParseFloat, which Prometheus uses, takes NaN and Inf in any case (prom-client writes "Nan"). */
function parseValue(raw: string, lineNo: number): number {
  const lower = raw.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) fail(lineNo, `bad value ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** Parses `{a="x",b="y"}` starting at s[i] === '{'; returns the labels and the index after '}'. */
function parseLabels(s: string, start: number, lineNo: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (s[i] === '}') return { labels, end: i + 1 };
    const eq = s.indexOf('=', i);
    if (eq < 0) fail(lineNo, 'label without "="');
    const name = s.slice(i, eq);
    if (!LABEL_NAME.test(name)) fail(lineNo, `bad label name ${JSON.stringify(name)}`);
    if (name in labels) fail(lineNo, `duplicate label ${name}`);
    if (s[eq + 1] !== '"') fail(lineNo, `label ${name} value not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = s[j];
      if (c === undefined) fail(lineNo, `unterminated value of label ${name}`);
      if (c === '"') break;
      if (c === '\\') {
        const n = s[j + 1];
        if (n === '\\') value += '\\';
        else if (n === '"') value += '"';
        else if (n === 'n') value += '\n';
        else fail(lineNo, `bad escape \\${n ?? ''} in label ${name}`);
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
    labels[name] = value;
    i = j + 1;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') fail(lineNo, `expected "," or "}" after label ${name}`);
  }
}

/** The family a sample name belongs to, given the declared families. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const exact = families.get(name);
  if (exact) return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>; count: number | null }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [], count: null };
    series.set(key, entry);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}_bucket without le`);
      entry.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name === `${f.name}_count`) {
      entry.count = s.value;
    }
  }
  for (const [key, { buckets, count }] of series) {
    const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      if ((sorted[i]?.[1] ?? 0) < (sorted[i - 1]?.[1] ?? 0)) throw new Error(`${f.name}${key}: buckets not cumulative`);
    }
    const inf = sorted[sorted.length - 1];
    if (!inf || inf[0] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (count !== inf[1]) throw new Error(`${f.name}${key}: _count ${String(count)} != +Inf bucket ${inf[1]}`);
  }
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const seen = new Set<string>();
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('prometheus text must end with a newline');
  const lines = text.split('\n');
  lines.forEach((line, idx) => {
    const lineNo = idx + 1;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name = '', rest = ''] = m;
      if (!METRIC_NAME.test(name)) fail(lineNo, `bad metric name ${JSON.stringify(name)}`);
      if (kind === 'HELP') {
        if (helps.has(name)) fail(lineNo, `second HELP for ${name}`);
        helps.set(name, rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
        return;
      }
      if (!TYPES.includes(rest)) fail(lineNo, `bad type ${JSON.stringify(rest)} for ${name}`);
      if (families.has(name)) fail(lineNo, `second TYPE for ${name}`);
      families.set(name, { name, type: rest as MetricType, help: helps.get(name) ?? '', samples: [] });
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) fail(lineNo, 'sample without a value');
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) fail(lineNo, `bad metric name ${JSON.stringify(name)}`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i, lineNo));
    if (line[i] !== ' ') fail(lineNo, 'expected a space before the value');
    const parts = line.slice(i + 1).split(' ');
    if (parts.length < 1 || parts.length > 2 || parts[0] === '') fail(lineNo, 'expected "value [timestamp]"');
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail(lineNo, `bad timestamp ${parts[1]}`);
    const value = parseValue(parts[0] ?? '', lineNo);
    const family = familyOf(name, families);
    if (!family) fail(lineNo, `sample ${name} of no declared family (TYPE must come first)`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) fail(lineNo, `duplicate series ${key}`);
    seen.add(key);
    if (family.type === 'counter' && !(value >= 0)) fail(lineNo, `negative counter ${name}`);
    family.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function matches(s: Sample, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([k, v]) => s.labels[k] === v);
}

/** The samples called `name` whose labels include `labels`. */
export function samples(families: Map<string, Family>, name: string, labels: Readonly<Record<string, string>> = {}): Sample[] {
  const out: Sample[] = [];
  for (const f of families.values()) for (const s of f.samples) if (s.name === name && matches(s, labels)) out.push(s);
  return out;
}

/** The value of the one sample called `name` with these labels; throws if there is none or several. */
export function valueOf(families: Map<string, Family>, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const found = samples(families, name, labels);
  if (found.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return (found[0] as Sample).value;
}

/** Sum of every sample called `name` whose labels include `labels` (0 when none). */
export function sumOf(families: Map<string, Family>, name: string, labels: Readonly<Record<string, string>> = {}): number {
  return samples(families, name, labels).reduce((n, s) => n + s.value, 0);
}
