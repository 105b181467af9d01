// The Grafana dashboard and docs/metrics.md name metrics by hand: check them against what the
// exporter really declares, so a rename cannot leave a dead panel or an undocumented metric.
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { declareMetrics } from '../../../src/metrics/metrics.js';
import { parsePrometheusText, type Family } from '../../helpers/prom-text.js';

const root = new URL('../../../', import.meta.url);

async function exported(): Promise<Map<string, Family>> {
  const register = new Registry();
  declareMetrics({ register, version: 'test' });
  return parsePrometheusText(await register.metrics());
}

/** Family names plus the sample names PromQL can use (histograms: _bucket, _sum, _count). */
function queryableNames(families: Map<string, Family>): Set<string> {
  const names = new Set<string>();
  for (const f of families.values()) {
    names.add(f.name);
    if (f.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(f.name + s);
  }
  return names;
}

function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/\b((?:pgrouter|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1] as string);
}

interface Panel {
  type: string;
  title: string;
  id: number;
  datasource?: { uid?: string };
  targets?: Array<{ expr: string }>;
}

describe('deploy/grafana/pgrouter.json', () => {
  const dashboard = JSON.parse(readFileSync(new URL('deploy/grafana/pgrouter.json', root), 'utf8')) as {
    __inputs: Array<{ name: string; type: string; pluginId: string }>;
    panels: Panel[];
    annotations: { list: Array<{ expr?: string }> };
    templating: { list: Array<{ name: string; definition?: string }> };
  };

  it('takes its Prometheus data source as the DS_PROMETHEUS input, in every panel', () => {
    expect(dashboard.__inputs).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }));
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('queries only metrics that pgrouter exports', async () => {
    const names = queryableNames(await exported());
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.annotations.list.flatMap((a) => (a.expr ? [a.expr] : [])),
      ...dashboard.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])),
    ];
    expect(exprs.length).toBeGreaterThan(20);
    const unknown = exprs.flatMap(metricNamesIn).filter((n) => !names.has(n));
    expect(unknown).toEqual([]);
  });

  it('has the panels operators look for', () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Sessions per listener', 'Sessions by backend', 'Refusals by reason', 'Bytes per listener', 'Leader changes', 'Outage duration quantiles', 'Time without a primary', 'Probe latency p50 / p99', 'Backend up per listener', 'etcd connected']) {
      expect(titles).toContain(t);
    }
  });
});

describe('docs/metrics.md', () => {
  it('documents every pgrouter metric', async () => {
    const doc = readFileSync(new URL('docs/metrics.md', root), 'utf8');
    const ours = [...(await exported()).keys()].filter((n) => n.startsWith('pgrouter_'));
    expect(ours.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it('names no pgrouter metric that does not exist', async () => {
    const doc = readFileSync(new URL('docs/metrics.md', root), 'utf8');
    const names = queryableNames(await exported());
    // Prefixes such as `pgrouter_listener_*` end in "_" and are not names.
    const mentioned = [...doc.matchAll(/\b(pgrouter_[a-z0-9_]+)/g)].map((m) => m[1] as string).filter((n) => !n.endsWith('_'));
    expect(mentioned.filter((n) => !names.has(n))).toEqual([]);
  });
});
