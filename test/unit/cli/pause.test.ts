// `pgrouter pause|resume <listener>` against a stand-in admin API: what it sends (path, token,
// body), what it prints, and how it fails.
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { adminToken } from '../../../src/cli/listener-pause.js';

const TOKEN = 'cli-pause-admin-token-0123';
const servers: http.Server[] = [];
const saved = process.env.PGROUTER_ADMIN_TOKEN;

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  if (saved === undefined) delete process.env.PGROUTER_ADMIN_TOKEN;
  else process.env.PGROUTER_ADMIN_TOKEN = saved;
});

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

/** An admin API that records each request and answers `status` with `reply`. */
async function fakeAdmin(status: number, reply: object): Promise<{ url: string; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, seen };
}

function streams(): { out: NodeJS.WritableStream; err: NodeJS.WritableStream; text: { out: string; err: string } } {
  const text = { out: '', err: '' };
  const w = (key: 'out' | 'err') => ({ write: (s: string) => ((text[key] += s), true) }) as unknown as NodeJS.WritableStream;
  return { out: w('out'), err: w('err'), text };
}

describe('pgrouter pause and resume', () => {
  it('pauses through the admin API with the token from the environment and the timeout given', async () => {
    const api = await fakeAdmin(200, { listener: 'rw', paused: true, since: 1, hold_ms: 30_000 });
    process.env.PGROUTER_ADMIN_TOKEN = TOKEN;
    const s = streams();
    expect(await main(['pause', 'rw', '--timeout', '30s', '--url', api.url], s.out, s.err)).toBe(0);
    expect(api.seen).toEqual([{ method: 'POST', url: '/admin/listeners/rw/pause', auth: `Bearer ${TOKEN}`, body: '{"timeout":"30s"}' }]);
    expect(s.text.out).toBe('listener rw paused: new clients wait up to 30000 ms (pgrouter resume rw releases them)\n');
  });

  it('resumes with admin.bind and admin.token from --config', async () => {
    const api = await fakeAdmin(200, { listener: 'ro', paused: false, was_paused: true });
    delete process.env.PGROUTER_ADMIN_TOKEN;
    const dir = mkdtempSync(join(tmpdir(), 'pgr-pause-'));
    const file = join(dir, 'pgrouter.yaml');
    writeFileSync(file, `cluster: { scope: s, etcd: { hosts: ["127.0.0.1:2379"] } }\nadmin: { bind: "0.0.0.0:${api.port}", token: "${TOKEN}" }\n`);
    const s = streams();
    expect(await main(['resume', 'ro', '--config', file], s.out, s.err)).toBe(0);
    expect(api.seen).toMatchObject([{ url: '/admin/listeners/ro/resume', auth: `Bearer ${TOKEN}`, body: '{}' }]);
    expect(s.text.out).toBe('listener ro resumed\n');
  });

  it('says what the admin API answered when it refuses, and exits 1', async () => {
    const api = await fakeAdmin(404, { error: 'not_found', message: 'no listener named "nope" (have rw, ro)' });
    process.env.PGROUTER_ADMIN_TOKEN = TOKEN;
    const s = streams();
    expect(await main(['pause', 'nope', '--url', api.url], s.out, s.err)).toBe(1);
    expect(s.text.err).toBe(`pgrouter pause: ${api.url}/admin/listeners/nope/pause answered HTTP 404: no listener named "nope" (have rw, ro)\n`);
  });

  it('fails clearly without a token, without an address, without a listener, or with --timeout on resume', async () => {
    delete process.env.PGROUTER_ADMIN_TOKEN;
    const s = streams();
    expect(await main(['pause', 'rw', '--url', 'http://127.0.0.1:1'], s.out, s.err)).toBe(1);
    expect(s.text.err).toContain('no admin token: set PGROUTER_ADMIN_TOKEN or admin.token');
    expect(await main(['pause', 'rw'], s.out, s.err)).toBe(2);
    expect(await main(['pause'], s.out, s.err)).toBe(2);
    expect(await main(['resume', 'rw', '--timeout', '1s', '--url', 'http://127.0.0.1:1'], s.out, s.err)).toBe(2);
    expect(await main(['status', '--timeout', '1s'], s.out, s.err)).toBe(2);
  });

  it('reports an admin API it cannot reach', async () => {
    process.env.PGROUTER_ADMIN_TOKEN = TOKEN;
    const api = await fakeAdmin(200, {});
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const s = streams();
    expect(await main(['resume', 'rw', '--url', api.url], s.out, s.err)).toBe(1);
    expect(s.text.err).toMatch(/cannot reach the admin API at .*ECONNREFUSED/);
  });

  it('prefers the environment\'s token over the config\'s, like the router', () => {
    expect(adminToken({ PGROUTER_ADMIN_TOKEN: 'from-env' }, null)).toBe('from-env');
    expect(adminToken({ PGROUTER_ADMIN_TOKEN: '' }, null)).toBeNull();
  });
});
