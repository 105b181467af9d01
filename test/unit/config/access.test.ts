// listeners[].proxy_protocol and listeners[].allow: who may connect.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../../src/config/load.js';
import type { Config, ConfigIssue } from '../../../src/config/types.js';

const HEAD = `cluster:
  scope: postgres
  etcd:
    hosts: [10.0.0.1:2379]
listeners:
`;

function load(listeners: string): Config {
  const r = loadConfigText(HEAD + listeners, { env: {}, readFile: () => 'unused' });
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`).join('\n')}`);
  return r.config;
}

function issues(listeners: string): ConfigIssue[] {
  const r = loadConfigText(HEAD + listeners, { env: {}, readFile: () => 'unused' });
  if (r.ok) throw new Error('expected issues, the config is valid');
  return r.issues;
}

describe('listeners[].proxy_protocol and allow', () => {
  it('are off by default: no header is read and everyone may connect', () => {
    const l = load('  - { name: rw, bind: ":5432", role: primary }\n').listeners[0];
    expect(l?.proxy_protocol).toBeNull();
    expect(l?.allow).toBeNull();
  });

  it('normalize the Azure Private Link example, accept defaulting to any', () => {
    const c = load(`  - name: rw
    bind: ":5432"
    role: primary
    proxy_protocol: { accept: v2, trusted: [10.20.0.0/24] }
    allow: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7]
  - name: ro
    bind: ":5433"
    role: replica
    proxy_protocol: { trusted: ["::ffff:10.20.0.0/120"] }
`);
    const [rw, ro] = c.listeners;
    expect(rw?.proxy_protocol).toEqual({ accept: 'v2', trusted: [{ text: '10.20.0.0/24', family: 4, bytes: [10, 20, 0, 0], prefix: 24 }] });
    expect(rw?.allow?.map((a) => a.text)).toEqual(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7/32']);
    expect(ro?.proxy_protocol?.accept).toBe('any');
    expect(ro?.proxy_protocol?.trusted.map((t) => t.text)).toEqual(['10.20.0.0/24']);
    expect(Object.isFrozen(rw?.allow?.[0]?.bytes)).toBe(true);
  });

  it('report each bad CIDR at its own path and line, with why', () => {
    expect(
      issues(`  - name: rw
    bind: ":5432"
    role: primary
    proxy_protocol:
      trusted: [10.0.0.0/24, 10.0.0.0/33]
    allow:
      - 10.0.0.1/8
      - 10.0.0.0/8
      - 2001:db8::/32
      - nope
`),
    ).toEqual([
      { path: 'listeners[0].proxy_protocol.trusted[1]', line: 10, message: '"10.0.0.0/33" is not a CIDR: the prefix length must be 0 to 32 for IPv4' },
      { path: 'listeners[0].allow[0]', line: 12, message: '"10.0.0.1/8" is not a CIDR: it has host bits set (the network is 10.0.0.0/8)' },
      { path: 'listeners[0].allow[3]', line: 15, message: '"nope" is not a CIDR: "nope" is not an IPv4 or IPv6 address' },
    ]);
  });

  it('require trusted sources, a known version, and no empty list', () => {
    expect(
      issues(`  - name: rw
    bind: ":5432"
    role: primary
    proxy_protocol: { accept: v3 }
    allow: []
  - name: ro
    bind: ":5433"
    role: replica
    proxy_protocol: { trustd: [10.0.0.0/8], trusted: [10.0.0.0/8] }
`),
    ).toEqual([
      { path: 'listeners[0].proxy_protocol.trusted', line: 9, message: 'required key is missing' },
      { path: 'listeners[0].proxy_protocol.accept', line: 9, message: '"v3" is not one of v1, v2, any' },
      { path: 'listeners[0].allow', line: 10, message: 'must not be empty' },
      { path: 'listeners[1].proxy_protocol.trustd', line: 14, message: 'unknown key (did you mean "trusted"?)' },
    ]);
  });
});

describe('the commented example in config/pgrouter.yaml', () => {
  it('loads once uncommented', () => {
    const text = readFileSync(new URL('../../../config/pgrouter.yaml', import.meta.url), 'utf8');
    const uncommented = text.replace(/^( {4})# (proxy_protocol:| {2}accept:| {2}trusted:|allow:)/gm, '$1$2');
    expect(uncommented).not.toBe(text);
    const r = loadConfigText(uncommented, { env: {}, readFile: () => 'unused' });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const rw = r.config.listeners[0];
    expect(rw?.proxy_protocol).toMatchObject({ accept: 'v2', trusted: [{ text: '10.20.0.0/24' }] });
    expect(rw?.allow?.map((a) => a.text)).toEqual(['10.0.0.0/8', '192.168.10.0/24']);
  });
});
