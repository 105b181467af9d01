// http.* and admin.*: the stats/health surface and the token-guarded admin API.
import { describe, expect, it } from 'vitest';
import { loadConfigText, summarizeConfig } from '../../../src/config/load.js';
import type { Config, ConfigIssue } from '../../../src/config/types.js';

const ETCD = 'cluster:\n  scope: postgres\n  etcd:\n    hosts: [10.0.0.1:2379]\n';
const TOKEN = 'admin-token-0123456789';

function files(map: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return text;
  };
}

interface Opts {
  env?: NodeJS.ProcessEnv;
  fs?: Record<string, string>;
}

function load(text: string, opts: Opts = {}): Config {
  const r = loadConfigText(text, { env: opts.env ?? {}, readFile: files(opts.fs ?? {}), file: '/etc/pgrouter/pgrouter.yaml' });
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`).join('\n')}`);
  return r.config;
}

function issues(text: string, opts: Opts = {}): ConfigIssue[] {
  const r = loadConfigText(text, { env: opts.env ?? {}, readFile: files(opts.fs ?? {}), file: '/etc/pgrouter/pgrouter.yaml' });
  if (r.ok) throw new Error('expected issues, the config is valid');
  return r.issues;
}

describe('http', () => {
  it('defaults to :8404, a 10 s stats refresh and readiness on a confirmed primary', () => {
    expect(load(ETCD).http).toEqual({ bind: { host: '0.0.0.0', port: 8404 }, stats_refresh: 10_000, ready: 'primary' });
  });

  it('reads stats_refresh as a duration where 0 turns the auto-refresh off, and every ready policy', () => {
    expect(load(`${ETCD}http: { stats_refresh: 5s, ready: any }\n`).http).toMatchObject({ stats_refresh: 5_000, ready: 'any' });
    expect(load(`${ETCD}http: { stats_refresh: 0, ready: replica }\n`).http).toMatchObject({ stats_refresh: 0, ready: 'replica' });
    expect(load(`${ETCD}http: { ready: primary }\n`).http.ready).toBe('primary');
  });

  it('reports a bad stats_refresh and an unknown ready policy with their lines', () => {
    expect(issues(`${ETCD}http:\n  stats_refresh: 10x\n  ready: always\n`).map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual([
      '6 http.stats_refresh: "10x" is not a duration (use e.g. 250ms, 4s, 30m)',
      '7 http.ready: "always" is not one of primary, replica, any',
    ]);
  });

  it('refuses ready: replica when no listener has role replica, since /ready could never succeed', () => {
    expect(issues(`${ETCD}listeners: [{ name: rw, bind: ":5432", role: primary }]\nhttp: { ready: replica }\n`)).toEqual([
      { path: 'http.ready', line: 6, message: 'replica needs a listener with role: replica (use primary or any)' },
    ]);
  });
});

describe('admin', () => {
  it('is off (no token) by default, on 127.0.0.1:8405', () => {
    expect(load(ETCD).admin).toEqual({ bind: { host: '127.0.0.1', port: 8405 }, token: null, quitquitquit: false });
  });

  it('reads the token as a literal, from an environment variable or from a file without its trailing newline', () => {
    expect(load(`${ETCD}admin: { token: "${TOKEN}" }\n`).admin.token).toBe(TOKEN);
    expect(load(`${ETCD}admin: { token: { env: ADMIN_TOKEN } }\n`, { env: { ADMIN_TOKEN: TOKEN } }).admin.token).toBe(TOKEN);
    const fs = { '/etc/pgrouter/admin-token': `${TOKEN}\n` };
    expect(load(`${ETCD}admin: { token: { file: admin-token } }\n`, { fs }).admin.token).toBe(TOKEN);
  });

  it('takes PGROUTER_ADMIN_TOKEN over the YAML, even over a form that would not resolve', () => {
    const env = { PGROUTER_ADMIN_TOKEN: TOKEN };
    expect(load(ETCD, { env }).admin.token).toBe(TOKEN);
    expect(load(`${ETCD}admin: { token: { env: UNSET_VAR } }\n`, { env }).admin.token).toBe(TOKEN);
    expect(load(ETCD, { env: { PGROUTER_ADMIN_TOKEN: '' } }).admin.token).toBeNull();
  });

  it('names the source of a token that cannot be read, never its value', () => {
    expect(issues(`${ETCD}admin: { token: { env: ADMIN_TOKEN } }\n`)).toEqual([
      { path: 'admin.token', line: 5, message: 'environment variable ADMIN_TOKEN is not set' },
    ]);
    expect(issues(`${ETCD}admin: { token: { file: /run/secrets/nope } }\n`)).toEqual([
      { path: 'admin.token', line: 5, message: 'cannot read /run/secrets/nope (ENOENT)' },
    ]);
  });

  it('rejects a token shorter than 16 characters and says only its length', () => {
    const found = issues(`${ETCD}admin: { token: "short-secret" }\n`);
    expect(found).toEqual([{ path: 'admin.token', line: 5, message: 'admin.token must be at least 16 characters long (got 12)' }]);
    expect(JSON.stringify(found)).not.toContain('short-secret');
    expect(issues(ETCD, { env: { PGROUTER_ADMIN_TOKEN: 'tiny' } })).toEqual([
      { path: 'admin', line: null, message: 'PGROUTER_ADMIN_TOKEN must be at least 16 characters long (got 4)' },
    ]);
  });

  it('reports a number as a token (an unquoted YAML number is not a string) without echoing it', () => {
    const found = issues(`${ETCD}admin: { token: 12345678901234567890 }\n`);
    expect(found.map((i) => [i.path, i.line])).toEqual([['admin.token', 5]]);
    expect(found[0]?.message).not.toContain('12345678901234567890');
  });

  it('reports admin.bind clashing with a listener or with http.bind when the admin API is on', () => {
    const yaml = `${ETCD}listeners: [{ name: rw, bind: "127.0.0.1:5432", role: primary }]
http: { bind: ":9000" }
admin: { bind: "127.0.0.1:9000", token: "${TOKEN}" }
`;
    expect(issues(yaml)).toEqual([
      { path: 'admin.bind', line: 7, message: 'address 127.0.0.1:9000 conflicts with http.bind on 0.0.0.0:9000' },
    ]);
    expect(issues(`${ETCD}listeners: [{ name: rw, bind: ":8405", role: primary }]\nadmin: { token: "${TOKEN}" }\n`)).toEqual([
      { path: 'admin.bind', line: 6, message: 'address 127.0.0.1:8405 conflicts with listeners[0] on 0.0.0.0:8405' },
    ]);
  });

  it('ignores admin.bind in conflict checks while the admin API is off, since nothing binds it', () => {
    const c = load(`${ETCD}listeners: [{ name: rw, bind: ":8405", role: primary }]\n`);
    expect(c.admin.token).toBeNull();
  });

  it('shows the admin address in the `check` summary only when the admin API is on, never the token', () => {
    expect(summarizeConfig(load(ETCD))).not.toContain('admin');
    const on = summarizeConfig(load(`${ETCD}admin: { token: "${TOKEN}" }\n`));
    expect(on).toMatch(/, http :8404, admin 127\.0\.0\.1:8405$/);
    expect(on).not.toContain(TOKEN);
  });
});
