// deploy/prometheus: the alert rules use metrics pgrouter exports (docs/metrics.md), and
// every alert has a promtool test case. promtool itself
// (check rules, test rules, check config) runs from run.sh.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO } from './render.js';

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
const PROMETHEUS = join(REPO, 'deploy', 'prometheus');
const rules = (parse(readFileSync(join(PROMETHEUS, 'pgrouter-alerts.yml'), 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const tests = parse(readFileSync(join(PROMETHEUS, 'pgrouter-alerts.test.yml'), 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }> };
const documented = new Set([...readFileSync(join(REPO, 'docs', 'metrics.md'), 'utf8').matchAll(/`(pgrouter_[a-z0-9_]+)`/g)].map((m) => m[1]));

/** pgrouter metric names in a PromQL expression, histogram suffixes removed. */
const metricsIn = (expr: string): string[] => [...expr.matchAll(/\b(pgrouter_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''));

describe('deploy/prometheus/pgrouter-alerts.yml', () => {
  it('covers what an operator pages on: no primary, a listener without backends, etcd, certificates, worker respawns', () => {
    const used = new Set(rules.flatMap((r) => metricsIn(r.expr)));
    for (const m of ['pgrouter_cluster_primary_confirmed', 'pgrouter_backend_up', 'pgrouter_etcd_connected', 'pgrouter_tls_cert_expiry_timestamp_seconds', 'pgrouter_worker_respawns_total']) {
      expect([m, used.has(m)]).toEqual([m, true]);
    }
  });

  it('uses only metrics that docs/metrics.md documents', () => {
    for (const r of rules) {
      for (const m of metricsIn(r.expr)) expect([r.alert, m, documented.has(m)]).toEqual([r.alert, m, true]);
    }
  });

  it('gives every alert a severity and a summary', () => {
    for (const r of rules) expect([r.alert, r.labels?.severity, typeof r.annotations?.summary]).toEqual([r.alert, expect.stringMatching(/^(warning|critical)$/), 'string']);
  });

  it('has a promtool test case in which every alert fires', () => {
    const firing = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    for (const r of rules) expect([r.alert, firing.has(r.alert)]).toEqual([r.alert, true]);
  });
});
