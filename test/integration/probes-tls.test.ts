// Patroni's REST API on HTTPS with client certificates (`restapi.certfile`, `cafile`,
// `verify_client: required`), probed through `checks.tls`: the probes trust the cluster's own
// CA and present a client certificate, and each missing piece fails closed with a reason an
// operator can act on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { Discovery } from '../../src/discovery/discovery.js';
import { createLogger } from '../../src/log.js';
import { LocalCluster, waitFor } from '../harness/cluster.js';

const LOG_LEVEL = process.env.PGR_TEST_LOG ?? 'silent';

function config(cluster: LocalCluster, tlsYaml: string | null): Config {
  const text = [
    'cluster:',
    `  scope: ${cluster.scope}`,
    `  namespace: ${cluster.namespace}`,
    `  etcd: { hosts: ["${cluster.etcdHost}:${cluster.etcdPort}"] }`,
    'checks:',
    '  interval: 500ms',
    '  timeout: 1s',
    '  fall: 1',
    '  rise: 1',
    '  fast_interval: 100ms',
    ...(tlsYaml === null ? [] : [`  tls: ${tlsYaml}`]),
    // Discovery binds nothing: the listeners only say which checks to run.
    'listeners:',
    '  - { name: rw, bind: "127.0.0.1:1", role: primary }',
    '  - { name: ro, bind: "127.0.0.1:2", role: replica }',
    'http: { bind: "127.0.0.1:3" }',
  ].join('\n');
  const loaded = loadConfigText(text);
  if (!loaded.ok) throw new Error(`test config invalid: ${JSON.stringify(loaded.issues)}`);
  return loaded.config;
}

describe('Patroni REST over HTTPS with client certificates', () => {
  let cluster: LocalCluster;
  const running: Discovery[] = [];

  async function discover(tlsYaml: string | null): Promise<Discovery> {
    const d = new Discovery({ config: config(cluster, tlsYaml), logger: createLogger({ level: LOG_LEVEL }) });
    running.push(d);
    await d.start();
    return d;
  }

  beforeAll(async () => {
    cluster = await LocalCluster.start({ nodes: 2, tls: true });
  });

  afterAll(async () => {
    await Promise.all(running.map((d) => d.close()));
    await cluster?.stop();
  });

  it('confirms the primary and the replica through /primary and /replica with the CA and a client certificate', async () => {
    const pki = cluster.pki;
    if (!pki?.leaves.client) throw new Error('the TLS cluster has no client certificate');
    const { cert, key } = pki.leaves.client;
    const d = await discover(`{ ca: ${pki.ca}, cert: ${cert}, key: ${key} }`);
    const leader = await cluster.leader();
    await waitFor(() => d.current().primary === leader, { timeoutMs: 20_000, what: `the view to confirm ${leader} over HTTPS` });
    const replica = d.current().members.find((m) => m.name !== leader);
    await waitFor(() => Object.values(d.current().members.find((m) => m.name === replica?.name)?.replica_checks ?? {}).some((c) => c.up), {
      timeoutMs: 20_000,
      what: 'the replica check to pass over HTTPS',
    });
    expect(d.current().members.every((m) => m.api?.startsWith('https://'))).toBe(true);
  });

  it('fails closed, naming the TLS alert, when the API requires a client certificate and none is configured', async () => {
    const pki = cluster.pki;
    if (!pki) throw new Error('no PKI');
    const d = await discover(`{ ca: ${pki.ca} }`);
    await waitFor(() => d.current().members.length === 2 && d.current().members.every((m) => m.primary_check.error !== null), {
      timeoutMs: 20_000,
      what: 'every /primary probe to fail without a client certificate',
    });
    expect(d.current().primary).toBeNull();
    // OpenSSL 3 + TLS 1.3: the server's "certificate required" alert reaches the client as a
    // reset or as the alert itself, depending on timing; either way it is not a 503.
    for (const m of d.current().members) expect(m.primary_check.error).toMatch(/CERTIFICATE_REQUIRED|ECONNRESET|UND_ERR_SOCKET|EPIPE/);
  });

  it('fails closed with the verification error when the CA is not trusted', async () => {
    const d = await discover(null);
    await waitFor(() => d.current().members.length === 2 && d.current().members.every((m) => m.primary_check.error !== null), {
      timeoutMs: 20_000,
      what: 'every /primary probe to fail on an untrusted certificate',
    });
    expect(d.current().primary).toBeNull();
    for (const m of d.current().members) expect(m.primary_check.error).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
  });
});
