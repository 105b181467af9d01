// The settings of issue 10 (faults): checks.fastinter, timeouts.server_hello,
// timeouts.reload_drain and the cancel section. Defaults, units and the errors they report.
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../../src/config/load.js';
import type { Config, ConfigIssue } from '../../../src/config/types.js';

const ETCD = `cluster:
  scope: postgres
  etcd:
    hosts: [10.0.0.1:2379]
`;

function load(text: string): Config {
  const r = loadConfigText(text, { env: {}, readFile: () => 'unused' });
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`).join('\n')}`);
  return r.config;
}

function issues(text: string): string[] {
  const r = loadConfigText(text, { env: {}, readFile: () => 'unused' });
  if (r.ok) throw new Error('expected issues, the config is valid');
  return r.issues.map((i: ConfigIssue) => `${i.line} ${i.path}: ${i.message}`);
}

describe('checks.fastinter', () => {
  it('defaults to checks.interval, as HAProxy\'s fastinter defaults to inter', () => {
    expect(load(ETCD).checks.fastinter).toBe(3_000);
    expect(load(`${ETCD}checks: { interval: 2s }\n`).checks.fastinter).toBe(2_000);
    expect(load(`${ETCD}checks: { interval: 2s, fastinter: 500ms }\n`).checks.fastinter).toBe(500);
  });

  it('must be above 0 and not longer than checks.interval', () => {
    expect(issues(`${ETCD}checks: { interval: 1s, fastinter: 2s }\n`)).toEqual(['5 checks.fastinter: 2s is longer than checks.interval (1s)']);
    expect(issues(`${ETCD}checks: { fastinter: 0 }\n`)).toEqual(['5 checks.fastinter: must be greater than 0 (e.g. 3s)']);
  });
});

describe('timeouts.server_hello and timeouts.reload_drain', () => {
  it('defaults server_hello to timeouts.connect and reload_drain to 5 minutes', () => {
    const t = load(ETCD).timeouts;
    expect([t.server_hello, t.reload_drain]).toEqual([4_000, 300_000]);
    expect(load(`${ETCD}timeouts: { connect: 2s }\n`).timeouts.server_hello).toBe(2_000);
    const set = load(`${ETCD}timeouts: { connect: 2s, server_hello: 10s, reload_drain: 0 }\n`).timeouts;
    expect([set.server_hello, set.reload_drain]).toEqual([10_000, 0]);
  });

  it('refuses a server_hello of 0 and words that are not durations', () => {
    expect(issues(`${ETCD}timeouts: { server_hello: 0, reload_drain: forever }\n`)).toEqual([
      '5 timeouts.server_hello: must be greater than 0 (e.g. 4s)',
      expect.stringMatching(/^5 timeouts.reload_drain: /),
    ]);
  });
});
