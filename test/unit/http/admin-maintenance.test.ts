// The admin API's planned-maintenance calls (issue 13): pause and resume a listener, drain a
// member with a deadline. Against a fake RouterControl, through fastify's inject.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../../src/config/load.js';
import { HttpServer } from '../../../src/http/server.js';
import { bodyDuration } from '../../../src/http/admin-maintenance-routes.js';
import { captureLog } from '../../helpers/capture-log.js';
import { FakeControl, listener, backend, snapshot } from './fixtures.js';

const TOKEN = 'admin-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const servers: HttpServer[] = [];

function server() {
  const yaml = `cluster: { scope: demo, etcd: { hosts: ["127.0.0.1:2379"] } }\nhttp: { bind: "127.0.0.1:18404" }\nadmin: { bind: "127.0.0.1:18405", token: "${TOKEN}" }\n`;
  const r = loadConfigText(yaml, { env: {} });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  const control = new FakeControl();
  const logs = captureLog();
  const s = new HttpServer({ config: r.config, control, logger: logs.logger });
  servers.push(s);
  const admin = s.admin ?? expect.fail('admin API should be on');
  return { s, admin, control, logs };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('POST /admin/listeners/:name/pause and /resume', () => {
  it('pauses with the router\'s default hold, or the timeout given, and resumes; each action logged with the caller', async () => {
    const { admin, control, logs } = server();
    const plain = await admin.inject({ method: 'POST', url: '/admin/listeners/rw/pause', headers: auth });
    expect([plain.statusCode, plain.json()]).toMatchObject([200, { listener: 'rw', paused: true, hold_ms: 15_000 }]);
    const timed = await admin.inject({ method: 'POST', url: '/admin/listeners/rw/pause', headers: auth, payload: { timeout: '30s' } });
    expect(timed.json()).toMatchObject({ hold_ms: 30_000 });
    expect((await admin.inject({ url: '/admin/listeners', headers: auth })).json()).toEqual({
      listeners: { rw: { paused: true, since: expect.any(Number), hold_ms: 30_000 }, ro: { paused: false, since: null, hold_ms: null } },
    });
    const resumed = await admin.inject({ method: 'POST', url: '/admin/listeners/rw/resume', headers: auth });
    expect(resumed.json()).toMatchObject({ listener: 'rw', paused: false, was_paused: true });
    const again = await admin.inject({ method: 'POST', url: '/admin/listeners/rw/resume', headers: auth });
    expect(again.json()).toMatchObject({ was_paused: false });
    expect(control.calls).toEqual(['pause rw 15000', 'pause rw 30000', 'resume rw', 'resume rw']);
    expect(logs.lines.filter((l) => l.event === 'admin_pause' || l.event === 'admin_resume').map((l) => [l.event, l.listener, l.remote])).toEqual([
      ['admin_pause', 'rw', '127.0.0.1'],
      ['admin_pause', 'rw', '127.0.0.1'],
      ['admin_resume', 'rw', '127.0.0.1'],
      ['admin_resume', 'rw', '127.0.0.1'],
    ]);
  });

  it('answers 404 for an unknown listener, 400 for a bad timeout, and 401 without the token', async () => {
    const { admin, control } = server();
    const unknown = await admin.inject({ method: 'POST', url: '/admin/listeners/nope/pause', headers: auth });
    expect([unknown.statusCode, unknown.json()]).toEqual([404, { error: 'not_found', message: 'no listener named "nope" (have rw, ro)' }]);
    expect((await admin.inject({ method: 'POST', url: '/admin/listeners/nope/resume', headers: auth })).statusCode).toBe(404);
    for (const timeout of ['soon', -1, true, '3 s']) {
      const bad = await admin.inject({ method: 'POST', url: '/admin/listeners/rw/pause', headers: auth, payload: { timeout } });
      expect(bad.statusCode).toBe(400);
    }
    expect((await admin.inject({ method: 'POST', url: '/admin/listeners/rw/pause' })).statusCode).toBe(401);
    expect(control.calls).toEqual([]);
  });
});

describe('POST /admin/backends/:member/state with a drain deadline', () => {
  it('drains with a deadline and reports it; a later state call replaces it', async () => {
    const { admin, control } = server();
    const drain = await admin.inject({ method: 'POST', url: '/admin/backends/node2/state', headers: auth, payload: { state: 'drain', timeout: '5m' } });
    expect([drain.statusCode, drain.json()]).toEqual([200, { member: 'node2', state: 'drain', previous: 'ready', deadline_at: expect.any(Number) }]);
    expect((await admin.inject({ url: '/admin/backends', headers: auth })).json()).toMatchObject({ drain_deadlines: { node2: expect.any(Number) } });
    await admin.inject({ method: 'POST', url: '/admin/backends/node2/state', headers: auth, payload: { state: 'ready' } });
    expect(control.calls).toEqual(['setAdminState node2 drain 300000', 'setAdminState node2 ready']);
    expect(control.drainDeadlines()).toEqual({});
  });

  it('refuses a timeout on any state but drain, and a timeout that is not a duration', async () => {
    const { admin, control } = server();
    const maint = await admin.inject({ method: 'POST', url: '/admin/backends/node2/state', headers: auth, payload: { state: 'maint', timeout: '5m' } });
    expect([maint.statusCode, maint.json()]).toEqual([400, { error: 'bad_request', message: '"timeout" only applies to "drain"' }]);
    const bad = await admin.inject({ method: 'POST', url: '/admin/backends/node2/state', headers: auth, payload: { state: 'drain', timeout: 'later' } });
    expect(bad.statusCode).toBe(400);
    expect(control.calls).toEqual([]);
  });
});

describe('bodyDuration', () => {
  it('reads durations and milliseconds, and says what is wrong otherwise', () => {
    expect(bodyDuration({ timeout: '1.5s' }, 'timeout')).toEqual({ ok: true, ms: 1_500 });
    expect(bodyDuration({ timeout: 250 }, 'timeout')).toEqual({ ok: true, ms: 250 });
    expect(bodyDuration(undefined, 'timeout')).toEqual({ ok: true, ms: null });
    expect(bodyDuration({ timeout: null }, 'timeout')).toEqual({ ok: true, ms: null });
    expect(bodyDuration({ timeout: {} }, 'timeout')).toEqual({ ok: false, message: '"timeout" must be a duration such as "30s" or a number of milliseconds' });
    expect(bodyDuration({ timeout: '99d' }, 'timeout')).toMatchObject({ ok: false });
  });
});

describe('the public routes of a paused listener', () => {
  it('answers 503 on /health/<listener> while it is paused', async () => {
    const { s, control } = server();
    control.snap = snapshot({ listeners: [listener('rw', 'primary', [backend('node1')], { paused: { since: 1, hold_ms: 15_000 } })] });
    const res = await s.http.inject('/health/rw');
    expect([res.statusCode, res.json()]).toEqual([503, { status: 'unavailable', listener: 'rw', reason: 'listener rw is paused by the operator' }]);
  });
});
