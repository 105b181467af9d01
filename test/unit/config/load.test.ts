import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigText } from '../../../src/config/load.js';
import type { Config, ConfigIssue } from '../../../src/config/types.js';

const EXAMPLE = fileURLToPath(new URL('../../../config/pgrouter.yaml', import.meta.url));

const ETCD = `cluster:
  scope: postgres
  etcd:
    hosts: [10.0.0.1:2379]
`;

function load(text: string, env: NodeJS.ProcessEnv = {}): Config {
  const r = loadConfigText(text, { env, readFile: () => 'unused' });
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`).join('\n')}`);
  return r.config;
}

function issues(text: string, env: NodeJS.ProcessEnv = {}): ConfigIssue[] {
  const r = loadConfigText(text, { env, readFile: () => 'unused' });
  if (r.ok) throw new Error('expected issues, the config is valid');
  return r.issues;
}

describe('loading a minimal file', () => {
  it('fills every default documented in docs/configuration.md', () => {
    const c = load(ETCD);
    expect(c.cluster).toEqual({
      scope: 'postgres',
      namespace: '/service/',
      etcd: {
        hosts: [{ host: '10.0.0.1', port: 2379 }],
        protocol: 'http',
        tls: null,
        username: null,
        password: null,
        dial_timeout: 2_000,
        resync_interval: 30_000,
      },
      members: null,
      on_etcd_loss: 'follow_probes',
    });
    expect(c.checks).toEqual({ interval: 3_000, timeout: 5_000, fall: 3, rise: 2, fast_interval: 100, fastinter: 3_000, tls: null });
    expect(c.timeouts).toEqual({
      connect: 4_000,
      client: 1_800_000,
      server: 1_800_000,
      startup: 10_000,
      connect_wait: 15_000,
      queue: 30_000,
      keepalive: 60_000,
      shutdown_grace: 30_000,
      server_hello: 4_000,
      reload_drain: 300_000,
    });
    expect(c.http).toEqual({ bind: { host: '0.0.0.0', port: 8404 }, stats_refresh: 10_000, ready: 'primary' });
    expect(c.admin).toEqual({ bind: { host: '127.0.0.1', port: 8405 }, token: null, quitquitquit: false });
    expect(c.log).toEqual({ level: 'info', format: 'json' });
    expect(c.relay).toBe('auto');
  });

  it('takes relay: auto, native or js, and names the key of anything else', () => {
    expect(load(`${ETCD}relay: native\n`).relay).toBe('native');
    expect(load(`${ETCD}relay: js\n`).relay).toBe('js');
    expect(issues(`${ETCD}relay: splice\n`).map((i) => i.path)).toEqual(['relay']);
  });

  it('creates the rw :5432 and ro :5433 listeners when `listeners` is omitted', () => {
    const common = {
      ...{ max_lag: null, balance: 'roundrobin', ssl: 'passthrough', maxconn: 1000, on_marked_down: 'shutdown', on_lag: 'drain', on_switchover: 'hold', proxy_protocol: null, allow: null },
      ...{ tls: null, server_tls: { mode: 'disable', ca: null, cert: null, key: null } },
    };
    expect(load(ETCD).listeners).toEqual([
      { name: 'rw', bind: { host: '0.0.0.0', port: 5432 }, role: 'primary', fallback: 'none', ...common },
      { name: 'ro', bind: { host: '0.0.0.0', port: 5433 }, role: 'replica', fallback: 'primary', ...common },
    ]);
  });

  it('defaults fallback by role: primary for replica listeners, none for primary listeners', () => {
    const c = load(`${ETCD}listeners:
  - { name: a, bind: ":6000", role: replica }
  - { name: b, bind: ":6001", role: primary }
  - { name: c, bind: ":6002", role: replica, fallback: none, max_lag: 512kB }
`);
    expect(c.listeners.map((l) => [l.name, l.fallback, l.max_lag])).toEqual([
      ['a', 'primary', null],
      ['b', 'none', null],
      ['c', 'none', 524_288],
    ]);
  });

  it('normalizes the namespace to start and end with "/"', () => {
    for (const [ns, expected] of [
      ['service', '/service/'],
      ['/service', '/service/'],
      ['service/', '/service/'],
      ['/a/b/', '/a/b/'],
      ['""', '/'],
    ]) {
      expect(load(ETCD.replace('  scope: postgres\n', `  scope: postgres\n  namespace: ${ns}\n`)).cluster.namespace).toBe(expected);
    }
  });

  it('accepts etcd hosts as one comma-separated string, as Patroni does', () => {
    const c = load(ETCD.replace('[10.0.0.1:2379]', '"10.0.0.1:2379, 10.0.0.2:2379"'));
    expect(c.cluster.etcd?.hosts).toEqual([
      { host: '10.0.0.1', port: 2379 },
      { host: '10.0.0.2', port: 2379 },
    ]);
  });

  it('takes plain numbers as milliseconds and bytes', () => {
    const c = load(`${ETCD}timeouts: { connect: 1500, client: 0 }
listeners: [{ name: ro, bind: ":5433", role: replica, max_lag: 16384 }]
`);
    expect(c.timeouts.connect).toBe(1_500);
    expect(c.timeouts.client).toBe(0);
    expect(c.listeners[0]?.max_lag).toBe(16_384);
  });
});

describe('the example config/pgrouter.yaml', () => {
  it('loads without issues and reproduces the seeds\' HAProxy setup', () => {
    const r = loadConfigFile(EXAMPLE, {});
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const c = r.config;
    expect(c.cluster.scope).toBe('postgres');
    expect(c.cluster.namespace).toBe('/service/');
    expect(c.cluster.etcd?.hosts.map((h) => `${h.host}:${h.port}`)).toEqual(['10.0.0.1:2379', '10.0.0.2:2379', '10.0.0.3:2379']);
    expect(c.checks).toMatchObject({ interval: 3_000, timeout: 5_000, fall: 3, rise: 2 });
    expect(c.timeouts).toMatchObject({ connect: 4_000, client: 1_800_000, server: 1_800_000 });
    expect(c.listeners.map((l) => [l.name, l.bind.port, l.role, l.maxconn, l.on_marked_down])).toEqual([
      ['rw', 5432, 'primary', 100, 'shutdown'],
      ['ro', 5433, 'replica', 100, 'shutdown'],
    ]);
    expect(c.http.bind).toEqual({ host: '0.0.0.0', port: 8404 });
  });
});

describe('reporting problems', () => {
  it('reports a bad duration, an unknown key and two listeners on one address as exactly three issues with their lines', () => {
    const text = `cluster:
  scope: postgres
  etcd:
    hosts: [10.0.0.1:2379]
timeouts:
  connect: 4x
  conect: 3s
listeners:
  - name: rw
    bind: 0.0.0.0:5432
    role: primary
  - name: rw2
    bind: :5432
    role: primary
`;
    expect(issues(text)).toEqual([
      { path: 'timeouts.connect', line: 6, message: '"4x" is not a duration (use e.g. 250ms, 4s, 30m)' },
      { path: 'timeouts.conect', line: 7, message: 'unknown key (did you mean "connect"?)' },
      { path: 'listeners[1].bind', line: 13, message: 'address 0.0.0.0:5432 is already used by listeners[0]' },
    ]);
  });

  it('reports an unknown role with the allowed ones', () => {
    expect(issues(`${ETCD}listeners:\n  - { name: rw, bind: ":5432", role: primary }\n  - { name: ro, bind: ":5433", role: replica }\n  - { name: x, bind: ":5434", role: standby }\n`)).toEqual([
      { path: 'listeners[2].role', line: 8, message: '"standby" is not one of primary, replica, sync, read_only' },
    ]);
  });

  it('requires one of cluster.etcd and cluster.members, not neither', () => {
    expect(issues('cluster:\n  scope: postgres\n')).toEqual([
      { path: 'cluster', line: 1, message: 'set either etcd (etcd mode) or members (static mode)' },
    ]);
  });

  it('requires one of cluster.etcd and cluster.members, not both', () => {
    expect(issues(`${ETCD}  members:\n    - { name: n1, host: 10.0.0.1 }\n`)).toEqual([
      { path: 'cluster.members', line: 5, message: 'cluster.etcd is also set: use etcd (etcd mode) or members (static mode), not both' },
    ]);
  });

  it('reports schema errors and semantic errors of the valid parts together', () => {
    const found = issues(`${ETCD}checks: { fall: 0 }
listeners:
  - { name: rw, bind: ":5432", role: primary, max_lag: 1MB }
http: { bind: ":5432" }
`);
    expect(found.map((i) => [i.path, i.line])).toEqual([
      ['checks.fall', 5],
      ['listeners[0].max_lag', 7],
      ['http.bind', 8],
    ]);
    expect(found[0]?.message).toBe('must be at least 1, got 0');
    expect(found[1]?.message).toBe('only applies to replica, sync and read_only listeners');
    expect(found[2]?.message).toBe('address 0.0.0.0:5432 is already used by listeners[0]');
  });

  it('sees a wildcard bind conflict with a specific host on the same port, and not across ports', () => {
    const found = issues(`${ETCD}listeners:
  - { name: a, bind: "127.0.0.1:5432", role: primary }
  - { name: b, bind: "[::]:5432", role: replica }
  - { name: c, bind: "127.0.0.1:5433", role: replica }
`);
    expect(found).toEqual([
      { path: 'listeners[1].bind', line: 7, message: 'address [::]:5432 conflicts with listeners[0] on 127.0.0.1:5432' },
    ]);
  });

  it('reports a clash between the default http bind and a listener', () => {
    expect(issues(`${ETCD}listeners: [{ name: stats, bind: ":8404", role: primary }]\n`)).toEqual([
      { path: 'http.bind', line: null, message: 'address 0.0.0.0:8404 is already used by listeners[0]' },
    ]);
  });

  it('reports duplicate listener names and names that are not [a-z0-9_-]+', () => {
    const found = issues(`${ETCD}listeners:
  - { name: rw, bind: ":5432", role: primary }
  - { name: rw, bind: ":5433", role: replica }
  - { name: Read Only, bind: ":5434", role: replica }
`);
    expect(found.map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual([
      '7 listeners[1].name: listener name "rw" is already used by listeners[0]',
      '8 listeners[2].name: "Read Only" is not valid (use lowercase letters, digits, "_" and "-")',
    ]);
  });

  it('reports missing required keys at their parent\'s line, and a missing cluster without a line', () => {
    expect(issues(`cluster:\n  etcd: { hosts: [a:1] }\nlisteners: [{ name: rw, role: primary }]\n`)).toEqual([
      { path: 'cluster.scope', line: 1, message: 'required key is missing' },
      { path: 'listeners[0].bind', line: 3, message: 'required key is missing' },
    ]);
    expect(issues('log: { level: info }\n')).toEqual([{ path: 'cluster', line: null, message: 'required key is missing' }]);
  });

  it('checks the values a schema cannot: zero timeouts, ports, URLs, replica-only keys on a primary', () => {
    const found = issues(`cluster:
  scope: a/b
  members:
    - { name: n1, host: "10.0.0.1:5442" }
    - { name: n1, host: 10.0.0.2, port: 70000 }
    - { name: n3, host: 10.0.0.3, api: "ftp://10.0.0.3" }
    - { name: n4, host: 10.0.0.3, api: "not a url" }
checks: { interval: 1s, fast_interval: 2s, timeout: 0 }
timeouts: { connect: 0, client: 0, connect_wait: 0 }
listeners: [{ name: rw, bind: ":5432", role: primary, fallback: primary, on_lag: shutdown }]
`);
    expect(found.map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual([
      '2 cluster.scope: "a/b" must not contain "/" (it is one segment of Patroni\'s etcd keys)',
      '4 cluster.members[0].host: "10.0.0.1:5442" is not a host name or IP address (put the port in `port`)',
      '5 cluster.members[1].port: must be at most 65535, got 70000',
      '5 cluster.members[1].name: member name "n1" is already used by cluster.members[0]',
      '6 cluster.members[2].api: "ftp://10.0.0.3" must be an http:// or https:// URL',
      '7 cluster.members[3].host: 10.0.0.3:5432 is already used by cluster.members[2]',
      '7 cluster.members[3].api: "not a url" is not a URL (e.g. http://10.0.0.1:8008)',
      '8 checks.fast_interval: 2s is longer than checks.interval (1s)',
      '8 checks.timeout: must be greater than 0 (e.g. 5s)',
      '9 timeouts.connect: must be greater than 0 (e.g. 4s)',
      '10 listeners[0].on_lag: only applies to replica, sync and read_only listeners',
      '10 listeners[0].fallback: fallback: primary only applies to replica listeners (a primary listener has no fallback)',
    ]);
  });

  it('reports YAML syntax errors with their line and nothing else', () => {
    expect(issues('cluster:\n  scope: a\n  scope: b\n')).toEqual([
      { path: '', line: 3, message: 'YAML: Map keys must be unique' },
    ]);
  });

  it('reports an empty file or a top level that is not a map', () => {
    expect(issues('')).toEqual([
      { path: '', line: null, message: 'expected a map of settings at the top level (at least cluster.scope and cluster.etcd), got nothing' },
    ]);
    expect(issues('- a\n- b\n')[0]).toMatchObject({ path: '', line: 1, message: expect.stringMatching(/got a list$/) });
  });

  it('suggests nothing for an unknown key far from every known one, and lists the known keys', () => {
    expect(issues(`${ETCD}http: { bind: ":8080", zzzzzz: 1 }\n`)).toEqual([
      { path: 'http.zzzzzz', line: 5, message: 'unknown key (known keys: bind, stats_refresh, ready)' },
    ]);
  });

  it('turns an unreadable config file into one issue naming the file', () => {
    const r = loadConfigFile('/nonexistent/pgrouter.yaml', {});
    expect(r).toEqual({
      ok: false,
      issues: [{ path: '', line: null, message: 'cannot read config file /nonexistent/pgrouter.yaml (ENOENT)' }],
    });
  });
});

describe('static mode', () => {
  it('fills member port 5432 and api http://<host>:8008, and keeps an explicit api without its trailing slash', () => {
    const c = load(`cluster:
  scope: pg
  members:
    - { name: n1, host: 10.0.0.1 }
    - { name: n2, host: "::1", port: 5442, api: "https://10.0.0.2:8008/" }
`);
    expect(c.cluster.etcd).toBeNull();
    expect(c.cluster.members).toEqual([
      { name: 'n1', host: '10.0.0.1', port: 5432, api: 'http://10.0.0.1:8008' },
      { name: 'n2', host: '::1', port: 5442, api: 'https://10.0.0.2:8008' },
    ]);
  });

  it('rejects on_etcd_loss, which means nothing without etcd', () => {
    expect(issues('cluster:\n  scope: pg\n  on_etcd_loss: fail_closed\n  members: [{ name: n1, host: h1 }]\n')).toEqual([
      { path: 'cluster.on_etcd_loss', line: 3, message: 'only applies in etcd mode (cluster.etcd)' },
    ]);
  });
});

describe('the loaded config', () => {
  it('is deep-frozen: writing to it throws in strict mode', () => {
    const c = load(ETCD);
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c.timeouts as { connect: number }).connect = 1;
    }).toThrow(TypeError);
    expect(() => {
      (c.listeners[0]?.bind as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => {
      (c.listeners as unknown as unknown[]).push({});
    }).toThrow(TypeError);
    expect(() => {
      (c.cluster.etcd?.hosts[0] as { host: string }).host = 'x';
    }).toThrow(TypeError);
  });
});
