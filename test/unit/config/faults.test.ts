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

describe('cancel', () => {
  it('defaults to capped fan-out and no key rewriting', () => {
    expect(load(ETCD).cancel).toEqual({ max_inflight: 64, max_inflight_per_client: 8, rewrite_keys: false, instance_id: 0, peers: [] });
  });

  it('reads rewrite_keys with its instance id and peers (instance id → host:port)', () => {
    const c = load(`${ETCD}cancel:\n  rewrite_keys: true\n  instance_id: 1\n  peers: { 2: "10.0.0.12:5432", 0: "[fd00::1]:5433" }\n`).cancel;
    expect(c).toMatchObject({ rewrite_keys: true, instance_id: 1 });
    expect(c.peers).toEqual([
      { id: 0, host: 'fd00::1', port: 5433 },
      { id: 2, host: '10.0.0.12', port: 5432 },
    ]);
  });

  it('names the key of every mistake', () => {
    expect(
      issues(`${ETCD}cancel:\n  max_inflight: 4\n  max_inflight_per_client: 8\n  rewrite_keys: true\n  instance_id: 1\n  peers: { 1: "10.0.0.1:5432", 300: "10.0.0.2:5432", x: "10.0.0.3:5432", 5: "10.0.0.4" }\n`),
    ).toEqual([
      '7 cancel.max_inflight_per_client: 8 is more than cancel.max_inflight (4)',
      '10 cancel.peers.1: instance 1 is this router\'s own cancel.instance_id; a peer needs another one',
      '10 cancel.peers.5: "10.0.0.4" is not host:port (e.g. 10.0.0.1:2379)',
      '10 cancel.peers.300: "300" is not an instance id (0 to 255)',
      '10 cancel.peers.x: "x" is not an instance id (0 to 255)',
    ]);
    expect(issues(`${ETCD}cancel: { instance_id: 300 }\n`)).toEqual(['5 cancel.instance_id: must be at most 255, got 300']);
    expect(issues(`${ETCD}cancel: { instance_id: 2 }\n`)).toEqual(['5 cancel.instance_id: only applies with cancel.rewrite_keys: true']);
  });
});
