import { describe, expect, it } from 'vitest';
import { formatIssues, loadConfigText, summarizeConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';

function load(text: string): Config {
  const r = loadConfigText(text, { env: {}, readFile: () => '' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

describe('formatIssues', () => {
  it('prints one haproxy -c style line per issue and a final count', () => {
    const out = formatIssues('config/pgrouter.yaml', [
      { path: 'timeouts.connect', line: 6, message: '"4x" is not a duration (use e.g. 250ms, 4s, 30m)' },
      { path: 'listeners[1].bind', line: 12, message: 'address 0.0.0.0:5432 is already used by listeners[0]' },
      { path: 'cluster', line: null, message: 'required key is missing' },
      { path: '', line: 3, message: 'YAML: Map keys must be unique' },
    ]);
    expect(out).toBe(
      [
        '[ALERT] config/pgrouter.yaml:6: timeouts.connect: "4x" is not a duration (use e.g. 250ms, 4s, 30m)',
        '[ALERT] config/pgrouter.yaml:12: listeners[1].bind: address 0.0.0.0:5432 is already used by listeners[0]',
        '[ALERT] config/pgrouter.yaml: cluster: required key is missing',
        '[ALERT] config/pgrouter.yaml:3: YAML: Map keys must be unique',
        'Configuration file has 4 errors',
      ].join('\n'),
    );
  });

  it('says "1 error" for a single issue', () => {
    expect(formatIssues('f.yaml', [{ path: 'a', line: 1, message: 'm' }]).split('\n')).toEqual([
      '[ALERT] f.yaml:1: a: m',
      'Configuration file has 1 error',
    ]);
  });
});

describe('summarizeConfig', () => {
  it('describes an etcd-mode config in one line', () => {
    const c = load('cluster:\n  scope: postgres\n  etcd: { hosts: [10.0.0.1:2379] }\n');
    expect(summarizeConfig(c)).toBe(
      'Configuration file is valid: etcd mode (scope postgres, 1 etcd host), 2 listeners ' +
        '(rw :5432 primary, ro :5433 replica), checks every 3s fall 3 rise 2, http :8404',
    );
  });

  it('describes a static-mode config with its member count, binds with hosts and other check timings', () => {
    const c = load(`cluster:
  scope: pg
  members: [{ name: a, host: h1 }, { name: b, host: h2 }, { name: c, host: h3 }]
checks: { interval: 1500ms, fall: 1, rise: 1 }
listeners: [{ name: rw, bind: "127.0.0.1:6432", role: primary }]
http: { bind: "[::1]:9000" }
`);
    expect(summarizeConfig(c)).toBe(
      'Configuration file is valid: static mode (scope pg, 3 members), 1 listener ' +
        '(rw 127.0.0.1:6432 primary), checks every 1500ms fall 1 rise 1, http [::1]:9000',
    );
  });
});
