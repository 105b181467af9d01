import net from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatStatus, runStatus, statusUrl } from '../../../src/cli/status.js';
import { main } from '../../../src/cli/main.js';
import { loadConfigText } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';
import { HttpServer } from '../../../src/http/server.js';
import { silentLogger } from '../../../src/log.js';
import { backend, FakeControl, listener, snapshot } from '../http/fixtures.js';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

function config(bind: string): Config {
  const r = loadConfigText(`cluster: { scope: demo, etcd: { hosts: ["127.0.0.1:2379"] } }\nhttp: { bind: "${bind}" }\n`, { env: {} });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('pgrouter status', () => {
  it('prints a header with scope, primary and etcd, then one row per member like patronictl list', () => {
    const s = snapshot({
      listeners: [
        listener('rw', 'primary', [
          backend('node1', { role: 'primary', lag_bytes: null, traffic: { current: 3, max: 3, total: 3, bytes_in: 0, bytes_out: 0, connect_errors: 0, killed: {} } }),
          backend('node2', { state: 'DOWN' }),
          backend('node3', { state: 'MAINT', admin_state: 'maint' }),
        ]),
        listener('ro', 'replica', [
          backend('node1', { role: 'primary', state: 'DOWN', lag_bytes: null }),
          backend('node2', { lag_bytes: 0, traffic: { current: 2, max: 2, total: 2, bytes_in: 0, bytes_out: 0, connect_errors: 0, killed: {} } }),
          backend('node3', { state: 'MAINT', admin_state: 'maint', lag_bytes: 12 * 1024 * 1024 }),
        ]),
      ],
    });
    expect(formatStatus(s).split('\n')).toEqual([
      'Cluster: demo (etcd mode, generation 42) | primary: node1 (leader key node1 confirmed by /primary) | etcd: connected, revision 1234',
      '+--------+---------------+---------+-------+----------+----------+-------+-------+',
      '| Member | Host          | Role    | State | Lag (MB) | Sessions | rw    | ro    |',
      '+--------+---------------+---------+-------+----------+----------+-------+-------+',
      '| node1  | 10.0.0.1:5432 | Leader  | up    |          |        3 | yes   | no    |',
      '| node2  | 10.0.0.2:5432 | Replica | up    |        0 |        2 | no    | yes   |',
      '| node3  | 10.0.0.3:5432 | Replica | maint |       12 |        0 | maint | maint |',
      '+--------+---------------+---------+-------+----------+----------+-------+-------+',
      '',
    ]);
  });

  it('says when there is no primary and etcd is disconnected, and "-" for a member a listener does not list', () => {
    const s = snapshot({
      primary: null,
      primary_reason: 'no leader key',
      etcd: { connected: false, last_resync_at: null, revision: null, error: 'ECONNREFUSED' },
      listeners: [listener('rw', 'primary', [backend('node1', { role: 'primary', state: 'DOWN' })]), listener('ro', 'replica', [backend('node2', { state: 'DRAIN' })])],
    });
    const out = formatStatus(s).split('\n');
    expect(out[0]).toBe('Cluster: demo (etcd mode, generation 42) | primary: none (no leader key) | etcd: DISCONNECTED (ECONNREFUSED)');
    expect(out[4]).toBe('| node1  | 10.0.0.1:5432 | Primary | down  |        0 |        0 | no | -     |');
    expect(out[5]).toBe('| node2  | 10.0.0.2:5432 | Replica | drain |        0 |        0 | -  | drain |');
    expect(formatStatus(snapshot({ mode: 'static', etcd: null })).split('\n')[0]).toMatch(/\| etcd: not used \(static mode\)$/);
  });

  it('derives its URL from http.bind, a wildcard becoming loopback', () => {
    expect(statusUrl(config(':8404'))).toBe('http://127.0.0.1:8404');
    expect(statusUrl(config('10.1.2.3:9000'))).toBe('http://10.1.2.3:9000');
    expect(statusUrl(config('[::]:8404'))).toBe('http://[::1]:8404');
    expect(statusUrl(config('[::1]:8404'))).toBe('http://[::1]:8404');
  });

  it('fetches /stats.json from a running HTTP surface and prints the table', async () => {
    const base = config('127.0.0.1:8404');
    const http = new HttpServer({ config: { ...base, http: { ...base.http, bind: { host: '127.0.0.1', port: 0 } } }, control: new FakeControl(), logger: silentLogger() });
    await http.start();
    try {
      const out = sink();
      const err = sink();
      expect(await runStatus(`http://127.0.0.1:${http.addresses().http.port}/`, out.stream, err.stream)).toBe(0);
      expect(out.text()).toMatch(/^Cluster: demo \(etcd mode/);
      expect(out.text()).toContain('| node1  | 10.0.0.1:5432 | Leader  |');
      expect(err.text()).toBe('');
    } finally {
      await http.close();
    }
  });

  it('exits 1 with a clear message when the router cannot be reached', async () => {
    const port = await closedPort();
    const out = sink();
    const err = sink();
    expect(await main(['status', '--url', `http://127.0.0.1:${port}`], out.stream, err.stream)).toBe(1);
    expect(err.text()).toBe(
      `pgrouter status: cannot reach the router at http://127.0.0.1:${port}/stats.json (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${port}); is it running, and is http.bind right?\n`,
    );
    expect(out.text()).toBe('');
  });

  it('refuses --url with --config, and --url on another command', async () => {
    const err = sink();
    expect(await main(['status', '--url', 'http://x', '--config', 'f.yaml'], sink().stream, err.stream)).toBe(2);
    expect(await main(['check', '--url', 'http://x', '--config', 'f.yaml'], sink().stream, err.stream)).toBe(2);
    expect(err.text()).toContain('status takes --url or --config, not both');
    expect(err.text()).toContain('--url only applies to status');
  });
});
