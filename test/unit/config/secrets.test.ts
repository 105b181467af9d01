import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../../src/config/load.js';
import type { ConfigIssue, EtcdConfig } from '../../../src/config/types.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const SECRET = 's3cr3t-value';

function etcdYaml(extra: string): string {
  return `cluster:\n  scope: postgres\n  etcd:\n    hosts: [10.0.0.1:2379]\n${extra}`;
}

/** A fake file system: reading anything else fails like fs does. */
function files(map: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return text;
  };
}

function etcdOf(text: string, opts: { env?: NodeJS.ProcessEnv; fs?: Record<string, string>; file?: string } = {}): EtcdConfig {
  const r = loadConfigText(text, { env: opts.env ?? {}, readFile: files(opts.fs ?? {}), file: opts.file });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  if (!r.config.cluster.etcd) throw new Error('no etcd config');
  return r.config.cluster.etcd;
}

function issuesOf(text: string, opts: { env?: NodeJS.ProcessEnv; fs?: Record<string, string> } = {}): ConfigIssue[] {
  const r = loadConfigText(text, { env: opts.env ?? {}, readFile: files(opts.fs ?? {}) });
  if (r.ok) throw new Error('expected issues');
  return r.issues;
}

describe('the etcd password', () => {
  it('can be a literal string in the YAML', () => {
    expect(etcdOf(etcdYaml(`    username: u\n    password: "${SECRET}"\n`)).password).toBe(SECRET);
  });

  it('can come from an environment variable', () => {
    const e = etcdOf(etcdYaml('    username: u\n    password: { env: ETCD_PW }\n'), { env: { ETCD_PW: SECRET } });
    expect(e.password).toBe(SECRET);
  });

  it('can come from a file, without the trailing newline `echo` adds', () => {
    const e = etcdOf(etcdYaml('    username: u\n    password: { file: /run/secrets/etcd }\n'), {
      fs: { '/run/secrets/etcd': `${SECRET}\n` },
    });
    expect(e.password).toBe(SECRET);
  });

  it('is taken from PGROUTER_ETCD_PASSWORD when set, over any YAML form', () => {
    const env = { PGROUTER_ETCD_PASSWORD: SECRET };
    expect(etcdOf(etcdYaml('    username: u\n    password: literal\n'), { env }).password).toBe(SECRET);
    // The override makes a YAML form that cannot be resolved irrelevant.
    expect(etcdOf(etcdYaml('    username: u\n    password: { env: UNSET }\n'), { env }).password).toBe(SECRET);
    expect(etcdOf(etcdYaml('    username: u\n'), { env }).password).toBe(SECRET);
  });

  it('ignores an empty PGROUTER_ETCD_PASSWORD', () => {
    expect(etcdOf(etcdYaml('    username: u\n    password: yaml\n'), { env: { PGROUTER_ETCD_PASSWORD: '' } }).password).toBe('yaml');
  });

  it('reports a missing environment variable at the key, by name', () => {
    expect(issuesOf(etcdYaml('    username: u\n    password: { env: ETCD_PW }\n'))).toEqual([
      { path: 'cluster.etcd.password', line: 6, message: 'environment variable ETCD_PW is not set' },
    ]);
  });

  it('reports an unreadable or empty file at the key', () => {
    expect(issuesOf(etcdYaml('    username: u\n    password: { file: /nope }\n'))).toEqual([
      { path: 'cluster.etcd.password', line: 6, message: 'cannot read /nope (ENOENT)' },
    ]);
    expect(issuesOf(etcdYaml('    username: u\n    password: { file: /empty }\n'), { fs: { '/empty': '\n' } })).toEqual([
      { path: 'cluster.etcd.password', line: 6, message: '/empty is empty' },
    ]);
  });

  it('never prints the password in an issue, even a numeric one YAML would turn into a number', () => {
    const found = issuesOf(etcdYaml('    username: u\n    password: 123456789\n'));
    expect(found).toEqual([
      {
        path: 'cluster.etcd.password',
        line: 6,
        message: 'expected a quoted string, { env: VAR } or { file: PATH }, got a number (quote it)',
      },
    ]);
    expect(JSON.stringify(found)).not.toContain('123456789');
  });

  it('needs a username, and a username needs a password', () => {
    expect(issuesOf(etcdYaml('    password: x\n'))).toEqual([
      { path: 'cluster.etcd.password', line: 5, message: 'password is set but username is not (etcd auth needs both)' },
    ]);
    expect(issuesOf(etcdYaml('    username: u\n'))).toEqual([
      { path: 'cluster.etcd.username', line: 5, message: 'username is set but password is not (set password or PGROUTER_ETCD_PASSWORD)' },
    ]);
    expect(issuesOf(etcdYaml(''), { env: { PGROUTER_ETCD_PASSWORD: SECRET } })).toEqual([
      { path: 'cluster.etcd', line: 3, message: 'PGROUTER_ETCD_PASSWORD is set but username is not (etcd auth needs both)' },
    ]);
  });
});

describe('etcd TLS material', () => {
  it('reads a plain string as a PEM file path and switches the scheme to https', () => {
    const e = etcdOf(etcdYaml('    tls:\n      ca: /etc/pgrouter/ca.pem\n'), { fs: { '/etc/pgrouter/ca.pem': PEM } });
    expect(e.protocol).toBe('https');
    expect(e.tls).toEqual({ ca: PEM, cert: null, key: null });
  });

  it('reads relative paths from the config file\'s directory', () => {
    const e = etcdOf(etcdYaml('    tls: { ca: certs/ca.pem }\n'), { fs: { '/etc/pgrouter/certs/ca.pem': PEM }, file: '/etc/pgrouter/pgrouter.yaml' });
    expect(e.tls?.ca).toBe(PEM);
  });

  it('takes PEM contents from { env } and { file }', () => {
    const e = etcdOf(etcdYaml('    tls:\n      cert: { env: CERT }\n      key: { file: /k.pem }\n'), {
      env: { CERT: PEM },
      fs: { '/k.pem': PEM },
    });
    expect(e.tls).toEqual({ ca: null, cert: PEM, key: PEM });
  });

  it('rejects a cert without its key and a key without its cert', () => {
    expect(issuesOf(etcdYaml('    tls: { cert: /c.pem }\n'), { fs: { '/c.pem': PEM } })).toEqual([
      { path: 'cluster.etcd.tls.cert', line: 5, message: 'cert is set but key is not (a client certificate needs its key)' },
    ]);
    expect(issuesOf(etcdYaml('    tls:\n      key: /k.pem\n'), { fs: { '/k.pem': PEM } })).toEqual([
      { path: 'cluster.etcd.tls.key', line: 6, message: 'key is set but cert is not (a client key needs its certificate)' },
    ]);
  });

  it('reports missing files and text that is not PEM without printing it', () => {
    const found = issuesOf(etcdYaml('    tls:\n      ca: /missing.pem\n      cert: { env: CERT }\n      key: { env: KEY }\n'), {
      env: { CERT: '/path/put/in/env.pem' },
    });
    expect(found).toEqual([
      { path: 'cluster.etcd.tls.ca', line: 6, message: 'cannot read /missing.pem (ENOENT)' },
      { path: 'cluster.etcd.tls.cert', line: 7, message: 'environment variable CERT does not contain PEM data (no -----BEGIN line)' },
      { path: 'cluster.etcd.tls.key', line: 8, message: 'environment variable KEY is not set' },
    ]);
    expect(JSON.stringify(found)).not.toContain('/path/put/in/env.pem');
  });
});

describe('checks.tls for Patroni REST APIs on HTTPS', () => {
  const base = etcdYaml('');
  const checksOf = (tls: string, fs: Record<string, string> = {}) => {
    const r = loadConfigText(`${base}checks:\n  tls: ${tls}\n`, { env: { CA_PEM: PEM }, readFile: files(fs) });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.config.checks.tls;
  };

  it('is off (null) by default, so Node trusts its own CA list', () => {
    const r = loadConfigText(base, { env: {}, readFile: files({}) });
    expect(r.ok && r.config.checks.tls).toBeNull();
  });

  it('reads the CA and the client certificate from files, and verifies by default', () => {
    const fs = { '/etc/pgrouter/ca.pem': PEM, '/etc/pgrouter/c.pem': PEM, '/etc/pgrouter/c.key': PEM };
    expect(checksOf('{ ca: /etc/pgrouter/ca.pem, cert: /etc/pgrouter/c.pem, key: /etc/pgrouter/c.key }', fs)).toEqual({
      ca: PEM,
      cert: PEM,
      key: PEM,
      verify: true,
    });
  });

  it('takes a CA from the environment and verify: false', () => {
    expect(checksOf('{ ca: { env: CA_PEM }, verify: false }')).toEqual({ ca: PEM, cert: null, key: null, verify: false });
  });

  it('names the key of a missing file, a certificate without its key, and an unknown key', () => {
    const issues = issuesOf(`${base}checks:\n  tls: { ca: /nope.pem, cert: { env: CA_PEM }, verfy: true }\n`, { env: { CA_PEM: PEM } });
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual(
      expect.arrayContaining([
        'checks.tls.ca: cannot read /nope.pem (ENOENT)',
        'checks.tls.cert: cert is set but key is not (a client certificate needs its key)',
        expect.stringMatching(/^checks\.tls\.verfy: /),
      ]),
    );
  });
});
