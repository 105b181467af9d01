// Socket-level tests of routing, holding and killing, against fake PostgreSQL backends.
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig, listenerConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import { startupPacket } from './helpers/packets.js';
import { errorFields, RawClient } from './helpers/raw-client.js';
import { check } from './helpers/view.js';
import { waitFor } from './helpers/wait-for.js';

let f: Fixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

describe('DataPath routing', () => {
  it('routes a node-postgres session on the RW listener to the view primary, end to end', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n2' });
    const c = await f.pgClient('rw', { application_name: 'routing-test' });
    const r = await c.query<{ backend: string }>('select backend');
    expect(r.rows).toEqual([{ backend: 'n2' }]);
    expect(f.backends['n2']?.startups[0]).toMatchObject({ user: 'app', database: 'db', application_name: 'routing-test' });
    expect([f.sessionsOn('rw'), f.sessionsOn('ro')]).toEqual([{ n2: 1 }, {}]);
    await c.end();
    await waitFor(() => f?.dp.sessionCount() === 0, { what: 'session to end' });
    expect(f.dp.traffic()['rw']?.closed).toMatchObject({ client_closed: 1 });
  });

  it('spreads RO sessions over both replicas round robin, never the primary', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1' });
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push(await f.whereAmI('ro'));
    expect(seen).toEqual(['n2', 'n3', 'n2', 'n3']);
  });

  it('tries the next fit replica when one refuses the connection', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1' });
    const dead = f.member('n2', {});
    await f.backends['n2']?.close();
    delete f.backends['n2'];
    f.publish('n1', [f.member('n1'), dead, f.member('n3')]);
    expect(await f.whereAmI('ro')).toBe('n3');
    expect(await f.whereAmI('ro')).toBe('n3');
    expect(f.dp.traffic()['ro']?.backends['n2']?.connect_errors).toBeGreaterThanOrEqual(1);
  });

  it('moves a client to the next replica when one answers its startup with 57P03, unseen by the client', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1', perBackend: { n2: { refuseStartups: 100 } } });
    expect(await f.whereAmI('ro')).toBe('n3');
    expect([f.dp.traffic()['ro']?.backends['n2']?.connect_errors, f.dp.traffic()['ro']?.backends['n3']?.connect_errors]).toEqual([1, 0]);
  });

  it('holds an RW client while the primary answers 57P03 and connects it once the primary accepts', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', perBackend: { n1: { refuseStartups: 2 } } });
    expect(await f.whereAmI('rw')).toBe('n1');
    expect(f.dp.traffic()['rw']?.backends['n1']?.connect_errors).toBe(2);
    expect(f.dp.traffic()['rw']?.refusals).toEqual({});
  });

  it('relays any other startup error to the client as is', async () => {
    const refuseWith = { code: '28P01', message: 'password authentication failed for user "app"' };
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', perBackend: { n1: { refuseStartups: 1, refuseWith } } });
    const err = await f.pgClient('rw').then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err).toMatchObject({ code: '28P01', message: refuseWith.message });
    expect(f.dp.traffic()['rw']?.backends['n1']?.connect_errors).toBe(0);
  });

  it('falls back to the primary on a replica listener with fallback: primary when no replica is fit', async () => {
    const config = testConfig({ listeners: [listenerConfig({ name: 'ro', role: 'replica', fallback: 'primary' })] });
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config });
    f.publish('n1', [f.member('n1'), f.member('n2', { replica: { any: check(false) } })]);
    expect(await f.whereAmI('ro')).toBe('n1');
  });

  it('closes the RW session when a view change makes its backend no longer the primary', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1' });
    const c = await f.pgClient('rw');
    const ended = new Promise<void>((resolve) => {
      c.on('error', () => resolve());
      c.on('end', () => resolve());
    });
    f.publish('n2');
    await ended;
    await waitFor(() => f?.backends['n1']?.sessions === 0, { what: 'backend side closed too' });
    expect(f.dp.traffic()['rw']?.closed).toMatchObject({ killed_not_primary: 1 });
    expect(f.dp.traffic()['rw']?.backends['n1']?.killed).toEqual({ not_primary: 1 });
    expect(await f.whereAmI('rw')).toBe('n2');
  });

  it('ignores a view whose generation is not newer', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1' });
    const stale = { ...f.dp.current(), primary: 'n2' };
    f.dp.updateView(stale);
    expect(f.dp.current().primary).toBe('n1');
    expect(await f.whereAmI('rw')).toBe('n1');
  });
});

describe('DataPath without a backend', () => {
  it('holds a client for connect_wait, then refuses it with 57P03', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: null, config: testConfig({ timeouts: { connect_wait: 300 } }) });
    const started = Date.now();
    const err = await f.pgClient('rw').then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err).toMatchObject({ code: '57P03', message: 'no primary available for listener rw' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(f.dp.traffic()['rw']?.refusals).toEqual({ no_backend: 1 });
  });

  it('names the replica listener in its 57P03', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ timeouts: { connect_wait: 0 } }) });
    const err = await f.pgClient('ro').then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err).toMatchObject({ code: '57P03', message: 'no replica available for listener ro' });
  });

  it('refuses at once when connect_wait is 0', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: null, config: testConfig({ timeouts: { connect_wait: 0, startup: 10_000 } }) });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitClosed(1_000);
    expect(errorFields(raw.received)).toMatchObject({ S: 'FATAL', V: 'FATAL', C: '57P03', M: 'no primary available for listener rw' });
  });

  it('connects a held client as soon as a view offers a backend', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: null, config: testConfig({ timeouts: { connect_wait: 10_000 } }) });
    const fixture = f;
    const pending = fixture.whereAmI('rw');
    await waitFor(() => fixture.dp.traffic()['rw']?.held === 1, { what: 'client to be held' });
    expect(fixture.backends['n1']?.startups).toEqual([]);
    fixture.publish('n1');
    expect(await pending).toBe('n1');
  });

  it('keeps the held client paused: bytes after its startup packet reach the backend only after the startup', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: null, config: testConfig({ timeouts: { connect_wait: 10_000 } }) });
    const fixture = f;
    const raw = await RawClient.connect(fixture.port('rw'));
    raw.write(startupPacket({ user: 'app' }));
    await waitFor(() => fixture.dp.traffic()['rw']?.held === 1, { what: 'client to be held' });
    const q = Buffer.from('select 1\0');
    const msg = Buffer.alloc(5);
    msg.write('Q');
    msg.writeUInt32BE(4 + q.length, 1);
    raw.write(Buffer.concat([msg, q]));
    fixture.publish('n1');
    await waitFor(() => fixture.backends['n1']?.queries.length === 1, { what: 'query to reach the backend' });
    expect(fixture.backends['n1']?.queries).toEqual(['select 1']);
    raw.destroy();
  });
});

describe('DataPath maxconn', () => {
  it('queues a client beyond maxconn and admits it when a session ends', async () => {
    const config = testConfig({ listeners: [listenerConfig({ name: 'rw', maxconn: 1 })], timeouts: { queue: 10_000 } });
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config });
    const fixture = f;
    const first = await fixture.pgClient('rw');
    const second = fixture.pgClient('rw');
    await waitFor(() => fixture.dp.traffic()['rw']?.queued === 1, { what: 'second client to queue' });
    await first.end();
    const c2 = await second;
    expect((await c2.query<{ backend: string }>('select backend')).rows).toEqual([{ backend: 'n1' }]);
    await c2.end();
  });

  it('refuses a queued client with 53300 after timeouts.queue', async () => {
    const config = testConfig({ listeners: [listenerConfig({ name: 'rw', maxconn: 1 })], timeouts: { queue: 200 } });
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config });
    const first = await f.pgClient('rw');
    const err = await f.pgClient('rw').then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err).toMatchObject({ code: '53300', message: 'too many connections for listener rw' });
    expect(f.dp.traffic()['rw']?.refusals).toEqual({ queue_timeout: 1 });
    await first.end();
  });
});
