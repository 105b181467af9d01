import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';
import { captureLog } from '../../helpers/capture-log.js';
import { HttpServer, type HttpServerOptions } from '../../../src/http/server.js';
import type { ReloadReply } from '../../../src/http/types.js';
import { describePlan, planReload } from '../../../src/plane/reload.js';
import { refreshSeconds } from '../../../src/http/public-routes.js';
import { PgrError } from '../../../src/errors.js';
import { backend, FakeControl, listener, snapshot } from './fixtures.js';

const TOKEN = 'admin-token-0123456789';

function config(extra = ''): Config {
  const yaml = `cluster: { scope: demo, etcd: { hosts: ["127.0.0.1:2379"] } }\nhttp: { bind: "127.0.0.1:18404", stats_refresh: 7s }\n${extra}`;
  const r = loadConfigText(yaml, { env: {} });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

/** Port 0: the kernel picks, so tests never bind a fixed port. */
function onPortZero(c: Config): Config {
  const zero = { host: '127.0.0.1', port: 0 };
  return { ...c, http: { ...c.http, bind: zero }, admin: { ...c.admin, bind: zero } };
}


const servers: HttpServer[] = [];
function server(c: Config, control = new FakeControl(), extra: Pick<HttpServerOptions, 'current' | 'reload'> = {}) {
  const logs = captureLog();
  const s = new HttpServer({ config: c, control, logger: logs.logger, ...extra });
  servers.push(s);
  return { s, control, logs };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('the public HTTP routes', () => {
  it('serves /metrics as the control renders it, with its content type', async () => {
    const { s } = server(config());
    const res = await s.http.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('pgrouter_up 1');
  });

  it('serves /stats as a self-contained HTML page with a strict CSP and the configured refresh', async () => {
    const { s } = server(config());
    const res = await s.http.inject('/stats');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'unsafe-inline'/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toContain('<meta http-equiv="refresh" content="7">');
    expect((await s.http.inject('/stats?refresh=0')).body).not.toContain('http-equiv="refresh"');
    expect((await s.http.inject('/stats?refresh=3')).body).toContain('content="3"');
  });

  it('takes ?refresh as whole seconds and falls back to http.stats_refresh for anything else', () => {
    expect(refreshSeconds({}, 10_000)).toBe(10);
    expect(refreshSeconds({}, 500)).toBe(1);
    expect(refreshSeconds({}, 0)).toBe(0);
    expect(refreshSeconds({ refresh: '0' }, 10_000)).toBe(0);
    expect(refreshSeconds({ refresh: '-1' }, 10_000)).toBe(10);
    expect(refreshSeconds({ refresh: 'abc' }, 10_000)).toBe(10);
    expect(refreshSeconds({ refresh: '99999' }, 10_000)).toBe(86_400);
  });

  it('serves the snapshot as /stats.json', async () => {
    const { s, control } = server(config());
    const res = await s.http.inject('/stats.json');
    expect(res.json()).toEqual(JSON.parse(JSON.stringify(control.snap)));
  });

  it('answers /health 200 whatever the cluster does', async () => {
    const { s, control } = server(config());
    control.snap = snapshot({ primary: null, listeners: [] });
    const res = await s.http.inject('/health');
    expect([res.statusCode, res.json()]).toEqual([200, { status: 'ok' }]);
  });

  it('answers /ready 200 with a confirmed primary and 503 without, saying why', async () => {
    const { s, control } = server(config());
    const ok = await s.http.inject('/ready');
    expect([ok.statusCode, ok.json()]).toEqual([200, { status: 'ok', policy: 'primary', reason: 'confirmed primary node1 (leader key node1 confirmed by /primary)' }]);
    control.snap = snapshot({ primary: null, primary_reason: 'no leader key' });
    const no = await s.http.inject('/ready');
    expect([no.statusCode, no.json()]).toEqual([503, { status: 'unavailable', policy: 'primary', reason: 'no confirmed primary (no leader key)' }]);
  });

  it('applies http.ready: with no primary but a fit replica, replica and any are ready and primary is not', async () => {
    const noPrimary = snapshot({ primary: null, listeners: [listener('rw', 'primary', [backend('node1', { state: 'DOWN' })]), listener('ro', 'replica', [backend('node2')])] });
    const codes: Record<string, number> = {};
    for (const policy of ['primary', 'replica', 'any'] as const) {
      const base = config();
      const { s, control } = server({ ...base, http: { ...base.http, ready: policy } });
      control.snap = noPrimary;
      codes[policy] = (await s.http.inject('/ready')).statusCode;
    }
    expect(codes).toEqual({ primary: 503, replica: 200, any: 200 });
  });

  it('follows a reloaded http.ready and http.stats_refresh without a restart', async () => {
    const base = config();
    let now = base;
    const { s, control } = server(base, new FakeControl(), { current: () => now });
    control.snap = snapshot({ primary: null, listeners: [listener('rw', 'primary', [backend('node1', { state: 'DOWN' })]), listener('ro', 'replica', [backend('node2')])] });
    expect((await s.http.inject('/ready')).statusCode).toBe(503);
    expect((await s.http.inject('/stats')).body).toContain('content="7"');
    now = { ...base, http: { ...base.http, ready: 'replica', stats_refresh: 3_000 } };
    expect((await s.http.inject('/ready')).json()).toMatchObject({ status: 'ok', policy: 'replica' });
    expect((await s.http.inject('/stats')).body).toContain('content="3"');
  });

  it('answers /health/:listener 200 while it can route, 503 when not, 404 for an unknown listener', async () => {
    const { s, control } = server(config());
    expect((await s.http.inject('/health/rw')).statusCode).toBe(200);
    control.snap = snapshot({ listeners: [listener('rw', 'primary', [backend('node1', { state: 'DOWN' })]), listener('ro', 'replica', [backend('node2')])] });
    const down = await s.http.inject('/health/rw');
    expect([down.statusCode, down.json()]).toEqual([503, { status: 'unavailable', listener: 'rw', reason: 'no backend to route to on rw (primary)' }]);
    expect((await s.http.inject('/health/ro')).statusCode).toBe(200);
    const unknown = await s.http.inject('/health/nope');
    expect([unknown.statusCode, unknown.json()]).toEqual([404, { status: 'unknown', reason: 'no listener named "nope" (have rw, ro)' }]);
  });

  it('answers HEAD probes like GET, without a body', async () => {
    const { s } = server(config());
    const res = await s.http.inject({ method: 'HEAD', url: '/health/rw' });
    expect([res.statusCode, res.body]).toEqual([200, '']);
  });

  it('fails probes closed with 503 when no snapshot can be taken, and logs it', async () => {
    const { s, control, logs } = server(config());
    control.snapshotError = new Error('boom');
    expect((await s.http.inject('/ready')).statusCode).toBe(503);
    expect((await s.http.inject('/health/rw')).statusCode).toBe(503);
    expect((await s.http.inject('/health')).statusCode).toBe(200);
    const stats = await s.http.inject('/stats');
    expect([stats.statusCode, stats.json()]).toEqual([500, { error: 'internal', message: 'internal error (see the router log)' }]);
    expect(logs.text()).toContain('boom');
  });

  it('has no admin routes on http.bind', async () => {
    const { s } = server(config(`admin: { token: "${TOKEN}" }\n`));
    expect((await s.http.inject({ url: '/admin/sessions', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(404);
  });
});

describe('the admin API', () => {
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('is off without admin.token', () => {
    const { s } = server(config());
    expect(s.admin).toBeNull();
  });

  it('refuses a request without a token or with a wrong one: 401 with a WWW-Authenticate challenge', async () => {
    const { s, control, logs } = server(config(`admin: { token: "${TOKEN}" }\n`));
    const admin = s.admin ?? expect.fail('admin API should be on');
    const missing = await admin.inject('/admin/sessions');
    expect([missing.statusCode, missing.headers['www-authenticate'], missing.json()]).toEqual([
      401,
      'Bearer realm="pgrouter admin"',
      { error: 'unauthorized', message: 'missing bearer token' },
    ]);
    const wrong = await admin.inject({ method: 'POST', url: '/admin/backends/node2/state', headers: { authorization: 'Bearer wrong-token-000000000' }, payload: { state: 'maint' } });
    expect([wrong.statusCode, wrong.headers['www-authenticate']]).toEqual([401, 'Bearer realm="pgrouter admin", error="invalid_token"']);
    expect((await admin.inject('/admin/no-such-route')).statusCode).toBe(401);
    expect(control.calls).toEqual([]);
    expect(logs.lines.filter((l) => l.event === 'admin_auth_failed').map((l) => l.why)).toEqual(['missing', 'invalid', 'missing']);
    expect(logs.text()).not.toContain('wrong-token');
  });

  it('with the right token lists sessions and admin states, sets a state and kills sessions', async () => {
    const { s, control, logs } = server(config(`admin: { token: "${TOKEN}" }\n`));
    const admin = s.admin ?? expect.fail('admin API should be on');
    control.sessionList = [{ id: '1', listener: 'ro', backend: 'node2', backend_address: '10.0.0.2:5432', client_address: '10.1.0.1:40000', started_at: 1, bytes_in: 2, bytes_out: 3 }];
    expect((await admin.inject({ url: '/admin/sessions', headers: auth })).json()).toEqual({ sessions: control.sessionList });

    const set = await admin.inject({ method: 'POST', url: '/admin/backends/node2/state', headers: auth, payload: { state: 'drain' } });
    expect([set.statusCode, set.json()]).toEqual([200, { member: 'node2', state: 'drain', previous: 'ready', deadline_at: null }]);
    expect((await admin.inject({ url: '/admin/backends', headers: auth })).json()).toEqual({ backends: { node1: 'ready', node2: 'drain', node3: 'ready' }, drain_deadlines: {} });

    const kill = await admin.inject({ method: 'POST', url: '/admin/backends/node2/kill', headers: auth });
    expect([kill.statusCode, kill.json()]).toEqual([200, { member: 'node2', killed: 3 }]);
    expect(control.calls).toEqual(['setAdminState node2 drain', 'kill node2']);

    const actions = logs.lines.filter((l) => l.event === 'admin_set_state' || l.event === 'admin_kill');
    expect(actions.map((l) => [l.event, l.member, l.remote])).toEqual([
      ['admin_set_state', 'node2', '127.0.0.1'],
      ['admin_kill', 'node2', '127.0.0.1'],
    ]);
    expect(logs.text()).not.toContain(TOKEN);
  });

  it('answers 404 for an unknown member and 400 for a state that is not ready, drain or maint', async () => {
    const { s, control } = server(config(`admin: { token: "${TOKEN}" }\n`));
    const admin = s.admin ?? expect.fail('admin API should be on');
    const unknown = await admin.inject({ method: 'POST', url: '/admin/backends/node9/state', headers: auth, payload: { state: 'drain' } });
    expect([unknown.statusCode, unknown.json()]).toEqual([404, { error: 'not_found', message: 'no member named "node9"' }]);
    expect((await admin.inject({ method: 'POST', url: '/admin/backends/node9/kill', headers: auth })).statusCode).toBe(404);
    for (const payload of [{ state: 'down' }, { state: 1 }, {}, []]) {
      const bad = await admin.inject({ method: 'POST', url: '/admin/backends/node2/state', headers: auth, payload });
      expect([bad.statusCode, bad.json()]).toEqual([400, { error: 'bad_request', message: 'body must be {"state": "ready" | "drain" | "maint"}' }]);
    }
    const notJson = await admin.inject({ method: 'POST', url: '/admin/backends/node2/state', headers: { ...auth, 'content-type': 'application/json' }, payload: '{' });
    expect(notJson.statusCode).toBe(400);
    expect(control.calls).toEqual([]);
  });
});

describe('POST /admin/reload', () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  const withAdmin = config(`admin: { token: "${TOKEN}" }\n`);

  it('applies the file like SIGHUP and says what changed and what waits for a restart', async () => {
    const next = config(`admin: { token: "${TOKEN}" }\nlog: { level: debug }\n`);
    const plan = planReload(withAdmin, next);
    const outcome: ReloadReply = { ok: true, changes: describePlan(plan), restartNeeded: plan.restartNeeded };
    let calls = 0;
    const { s, logs } = server(withAdmin, new FakeControl(), { reload: () => (calls++, Promise.resolve(outcome)) });
    const admin = s.admin ?? expect.fail('admin API should be on');
    expect((await admin.inject({ method: 'POST', url: '/admin/reload' })).statusCode).toBe(401);
    expect(calls).toBe(0);
    const res = await admin.inject({ method: 'POST', url: '/admin/reload', headers: auth });
    expect([res.statusCode, res.json()]).toEqual([200, { ok: true, changes: 'changed: log; kept until a restart: log', restart_needed: ['log'] }]);
    expect(calls).toBe(1);
    expect(logs.lines.filter((l) => l.event === 'admin_reload').map((l) => l.remote)).toEqual(['127.0.0.1']);
  });

  it('answers 400 with every issue for an invalid file, 500 when applying failed, 501 without a file', async () => {
    const invalid: ReloadReply = { ok: false, reason: 'invalid', issues: [{ path: 'listeners[0].bind', line: 4, message: 'bad address' }] };
    const admin = server(withAdmin, new FakeControl(), { reload: () => Promise.resolve(invalid) }).s.admin ?? expect.fail('admin API should be on');
    const bad = await admin.inject({ method: 'POST', url: '/admin/reload', headers: auth });
    expect([bad.statusCode, bad.json()]).toEqual([
      400,
      { ok: false, error: 'invalid_config', message: 'the config file is invalid; the running config is kept', issues: [{ path: 'listeners[0].bind', line: 4, message: 'bad address' }] },
    ]);
    const failed: ReloadReply = { ok: false, reason: 'apply_failed', error: 'EADDRINUSE' };
    const admin2 = server(withAdmin, new FakeControl(), { reload: () => Promise.resolve(failed) }).s.admin ?? expect.fail('admin API should be on');
    const res = await admin2.inject({ method: 'POST', url: '/admin/reload', headers: auth });
    expect([res.statusCode, res.json()]).toEqual([500, { ok: false, error: 'apply_failed', message: 'the running config is kept: EADDRINUSE' }]);
    const admin3 = server(withAdmin).s.admin ?? expect.fail('admin API should be on');
    expect((await admin3.inject({ method: 'POST', url: '/admin/reload', headers: auth })).statusCode).toBe(501);
  });

  it('takes a rotated token at once, and keeps the last one when a reload removes it', async () => {
    let now = withAdmin;
    const admin = server(withAdmin, new FakeControl(), { current: () => now }).s.admin ?? expect.fail('admin API should be on');
    const NEW = 'rotated-token-9876543210';
    now = { ...withAdmin, admin: { ...withAdmin.admin, token: NEW } };
    expect((await admin.inject({ url: '/admin/backends', headers: auth })).statusCode).toBe(401);
    expect((await admin.inject({ url: '/admin/backends', headers: { authorization: `Bearer ${NEW}` } })).statusCode).toBe(200);
    now = { ...withAdmin, admin: { ...withAdmin.admin, token: null } };
    expect((await admin.inject({ url: '/admin/backends', headers: { authorization: `Bearer ${NEW}` } })).statusCode).toBe(200);
    expect((await admin.inject({ url: '/admin/backends', headers: auth })).statusCode).toBe(401);
  });
});

describe('HttpServer', () => {
  it('listens on http.bind and admin.bind, reports the bound addresses, and closes both', async () => {
    const { s } = server(onPortZero(config(`admin: { token: "${TOKEN}" }\n`)));
    await s.start();
    const { http, admin } = s.addresses();
    expect(http.port).toBeGreaterThan(0);
    expect(admin?.port).toBeGreaterThan(0);
    expect(await (await fetch(`http://127.0.0.1:${http.port}/health`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`http://127.0.0.1:${admin?.port ?? 0}/admin/backends`)).status).toBe(401);
    await s.close();
    await s.close();
    await expect(fetch(`http://127.0.0.1:${http.port}/health`)).rejects.toThrow();
  });

  it('fails to start with PGR_ERR_BIND naming the key when the address is taken, and leaves nothing open', async () => {
    const first = server(onPortZero(config())).s;
    await first.start();
    const taken = first.addresses().http;
    const c = onPortZero(config(`admin: { token: "${TOKEN}" }\n`));
    const { s } = server({ ...c, admin: { ...c.admin, bind: taken } });
    const err: unknown = await s.start().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(PgrError);
    expect((err as PgrError).code).toBe('PGR_ERR_BIND');
    expect((err as PgrError).message).toMatch(new RegExp(`^cannot listen on admin\\.bind 127\\.0\\.0\\.1:${taken.port}: .*EADDRINUSE`));
    expect(s.http.server.listening).toBe(false);
  });
});

describe('POST /quitquitquit (admin.quitquitquit)', () => {
  function quitServer(extra: string) {
    let quits = 0;
    const logs = captureLog();
    const s = new HttpServer({ config: onPortZero(config(extra)), control: new FakeControl(), logger: logs.logger, quit: () => quits++ });
    servers.push(s);
    return { s, quits: () => quits, logs };
  }
  const post = { method: 'POST' as const, url: '/quitquitquit' };

  it('opens the admin socket for it alone when no token is set, and stops the router for a loopback peer', async () => {
    const { s, quits } = quitServer('admin: { quitquitquit: true }');
    if (!s.admin) throw new Error('no admin socket');
    const res = await s.admin.inject({ ...post, remoteAddress: '127.0.0.1' });
    expect([res.statusCode, res.json()]).toEqual([200, { status: 'stopping' }]);
    expect(quits()).toBe(1);
    // The admin API itself stays off without a token.
    expect((await s.admin.inject({ url: '/admin/backends', remoteAddress: '127.0.0.1' })).statusCode).toBe(404);
  });

  it('refuses a peer that is not on loopback, with 403, and does not stop', async () => {
    const { s, quits, logs } = quitServer('admin: { quitquitquit: true }');
    const res = await s.admin?.inject({ ...post, remoteAddress: '10.1.2.3' });
    expect(res?.statusCode).toBe(403);
    expect(quits()).toBe(0);
    expect(logs.lines.some((l) => l.event === 'quit_refused' && l.remote === '10.1.2.3')).toBe(true);
  });

  it('takes IPv6 and IPv4-mapped loopback peers', async () => {
    const { s, quits } = quitServer('admin: { quitquitquit: true }');
    await s.admin?.inject({ ...post, remoteAddress: '::1' });
    await s.admin?.inject({ ...post, remoteAddress: '::ffff:127.0.0.1' });
    expect(quits()).toBe(2);
  });

  it('needs no token next to a token-guarded admin API, which still refuses tokenless calls', async () => {
    const { s, quits } = quitServer(`admin: { quitquitquit: true, token: "${TOKEN}" }`);
    expect((await s.admin?.inject({ ...post, remoteAddress: '127.0.0.1' }))?.statusCode).toBe(200);
    expect(quits()).toBe(1);
    expect((await s.admin?.inject({ url: '/admin/backends', remoteAddress: '127.0.0.1' }))?.statusCode).toBe(401);
    expect((await s.admin?.inject({ method: 'POST', url: '/quitquitquit?x=1', remoteAddress: '127.0.0.1' }))?.statusCode).toBe(401);
  });

  it('does not exist unless configured: no admin socket without a token, a 404 behind the token otherwise', async () => {
    expect(quitServer('').s.admin).toBeNull();
    const { s, quits } = quitServer(`admin: { token: "${TOKEN}" }`);
    const res = await s.admin?.inject({ ...post, remoteAddress: '127.0.0.1', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res?.statusCode).toBe(404);
    expect(quits()).toBe(0);
  });
});
