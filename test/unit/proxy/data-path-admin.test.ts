// Socket-level tests of the operator controls (admin states, kill) and of the traffic counters
// the stats page and the Prometheus exporter read.
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import { cancelPacket } from './helpers/packets.js';
import { RawClient } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait-for.js';

let f: Fixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

function ended(c: { on(event: 'error' | 'end', fn: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    c.on('error', () => resolve());
    c.on('end', () => resolve());
  });
}

describe('DataPath paused listeners (issue 13)', () => {
  it('holds new clients of a paused listener, leaves its sessions and the other listeners alone, and lets them in on resume', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: testConfig({ timeouts: { connect_wait: 10_000 } }) });
    const fixture = f;
    const established = await f.pgClient('rw');
    f.dp.setPausedListeners({ rw: { since: Date.now(), hold_ms: 10_000 } });
    expect(f.dp.pausedListeners()).toEqual({ rw: { since: expect.any(Number), hold_ms: 10_000 } });
    const held = f.whereAmI('rw');
    await waitFor(() => fixture.dp.traffic()['rw']?.held === 1, { timeoutMs: 5_000, what: 'the client held' });
    expect(await f.whereAmI('ro')).toBe('n2');
    expect((await established.query<{ backend: string }>('select backend')).rows).toEqual([{ backend: 'n1' }]);
    f.dp.setPausedListeners({});
    expect(await held).toBe('n1');
    expect(f.dp.traffic()['rw']).toMatchObject({ held: 0, held_total: 1 });
    await established.end();
  });

  it('refuses with 57P03 and counts it as paused once the pause\'s hold limit is over', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1' });
    f.dp.setPausedListeners({ rw: { since: Date.now(), hold_ms: 50 } });
    await expect(f.pgClient('rw')).rejects.toMatchObject({ code: '57P03', message: 'listener rw is paused for maintenance' });
    expect(f.dp.traffic()['rw']?.refusals).toEqual({ paused: 1 });
  });
});

describe('DataPath admin states', () => {
  it('sends no new sessions to a drained replica and keeps the sessions it has', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1' });
    const onN2 = await f.pgClient('ro');
    expect((await onN2.query<{ backend: string }>('select backend')).rows).toEqual([{ backend: 'n2' }]);
    f.dp.setAdminStates({ n2: 'drain' });
    expect(f.dp.adminStates()).toEqual({ n2: 'drain' });
    expect([await f.whereAmI('ro'), await f.whereAmI('ro'), await f.whereAmI('ro')]).toEqual(['n3', 'n3', 'n3']);
    expect((await onN2.query<{ backend: string }>('select backend')).rows).toEqual([{ backend: 'n2' }]);
    f.dp.setAdminStates({});
    const seen = new Set([await f.whereAmI('ro'), await f.whereAmI('ro')]);
    expect([...seen].sort()).toEqual(['n2', 'n3']);
    await onN2.end();
  });

  it('holds RW clients while the primary is in maint and connects them once it is ready again', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ timeouts: { connect_wait: 10_000 } }) });
    const fixture = f;
    fixture.dp.setAdminStates({ n1: 'maint' });
    const pending = fixture.whereAmI('rw');
    await waitFor(() => fixture.dp.traffic()['rw']?.held === 1, { what: 'client to be held' });
    expect(fixture.backends['n1']?.startups).toEqual([]);
    fixture.dp.setAdminStates({ n1: 'ready' });
    expect(await pending).toBe('n1');
  });

  it('still broadcasts a cancel with an unknown key to a drained replica, whose sessions still exist', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1' });
    f.dp.setAdminStates({ n2: 'drain', n3: 'maint' });
    const key = Buffer.from([9, 9, 9, 9]);
    const c = await RawClient.connect(f.port('ro'));
    c.write(cancelPacket(77, key));
    await c.waitClosed();
    await waitFor(() => f?.backends['n2']?.cancels.length === 1 && f.backends['n3']?.cancels.length === 1, { what: 'broadcast to reach n2 and n3' });
    expect(f.backends['n1']?.cancels).toEqual([]);
  });

  it('kills every session on a member on request, on all listeners, counted as admin', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1' });
    const rw = await f.pgClient('rw');
    const ro = await f.pgClient('ro');
    const rwEnded = ended(rw);
    expect(f.dp.killBackendSessions('n1')).toBe(1);
    await rwEnded;
    const fixture = f;
    await waitFor(() => fixture.dp.traffic()['rw']?.backends['n1']?.current === 0, { what: 'killed session to end' });
    expect(fixture.dp.traffic()['rw']?.backends['n1']?.killed).toEqual({ admin: 1 });
    expect(fixture.dp.traffic()['rw']?.closed).toMatchObject({ killed_admin: 1 });
    expect((await ro.query<{ backend: string }>('select backend')).rows).toEqual([{ backend: 'n2' }]);
    expect(fixture.dp.killBackendSessions('n9')).toBe(0);
    await ro.end();
  });
});

describe('DataPath traffic and sessions', () => {
  it('counts sessions and bytes per listener and backend while a session runs and after it ends', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1' });
    const fixture = f;
    const c = await fixture.pgClient('rw', { application_name: 'traffic-test' });
    await c.query('select backend');
    const during = fixture.dp.traffic()['rw'];
    expect(during).toMatchObject({ current: 1, total: 1, queued: 0, held: 0 });
    expect(during?.backends['n1']).toMatchObject({ current: 1, max: 1, total: 1, connect_errors: 0 });
    expect(during?.bytes_in).toBeGreaterThan(0);
    expect(during?.bytes_out).toBeGreaterThan(0);
    expect(during?.bytes_in).toBe(during?.backends['n1']?.bytes_in);

    const [info] = fixture.dp.sessions();
    expect(info).toMatchObject({ listener: 'rw', backend: 'n1', backend_address: `127.0.0.1:${fixture.backends['n1']?.port ?? 0}` });
    expect(info?.client_address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(info?.bytes_in).toBe(during?.bytes_in);
    expect(fixture.dp.sessionCount()).toBe(1);

    await c.query('select backend');
    await c.end();
    await waitFor(() => fixture.dp.traffic()['rw']?.current === 0, { what: 'session to end' });
    const after = fixture.dp.traffic()['rw'];
    expect(after?.backends['n1']).toMatchObject({ current: 0, max: 1, total: 1 });
    expect(after?.bytes_in).toBeGreaterThan(during?.bytes_in ?? 0);
    expect(after?.bytes_out).toBeGreaterThan(during?.bytes_out ?? 0);
    expect(fixture.dp.sessions()).toEqual([]);
    expect(fixture.dp.traffic()['ro']).toEqual({ current: 0, total: 0, queued: 0, held: 0, held_total: 0, bytes_in: 0, bytes_out: 0, refusals: {}, closed: {}, backends: {}, cancels: {} });
  });

  it('counts refused clients by reason and failed backend connections per backend', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: null, config: testConfig({ timeouts: { connect_wait: 0 } }), perBackend: { n2: { refuseStartups: 1 } } });
    await f.pgClient('rw').catch((e: unknown) => e);
    expect(f.dp.traffic()['rw']?.refusals).toEqual({ no_backend: 1 });
    f.publish('n1');
    // roundrobin: the first RO session tries n2, which answers 57P03; it moves on to n3.
    expect(await f.whereAmI('ro')).toBe('n3');
    expect(f.dp.traffic()['ro']?.backends['n2']).toMatchObject({ connect_errors: 1, total: 0 });
    expect(f.cancels()).toEqual({});
  });
});
