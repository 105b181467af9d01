// Socket-level tests of DataPath.reconfigure: a reload in one process keeps established
// sessions, kept sockets and cancel keys, binds what was added and retires what was removed.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ListenerConfig } from '../../../src/config/types.js';
import { PgrError } from '../../../src/errors.js';
import { findFreePort } from '../../harness/ports.js';
import { captureLog } from '../../helpers/capture-log.js';
import { listenerConfig, testConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import { cancelPacket, queryPacket, startupPacket } from './helpers/packets.js';
import { errorFields, RawClient, readySession } from './helpers/raw-client.js';
import { check } from './helpers/view.js';
import { waitFor } from './helpers/wait-for.js';

let f: Fixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

const READY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
const rw = listenerConfig({ name: 'rw', role: 'primary' });
const ro = listenerConfig({ name: 'ro', role: 'replica' });



/** Sends a query on a raw session and returns the backend name in its one-row answer. */
async function ask(raw: RawClient, sql = 'select backend'): Promise<string> {
  const before = raw.received.length;
  raw.write(queryPacket(sql));
  await waitFor(() => raw.received.subarray(before).includes(READY), { what: `answer to ${sql}` });
  const answer = raw.received.subarray(before);
  const d = answer.indexOf('D');
  const len = answer.readUInt32BE(d + 7);
  return answer.toString('utf8', d + 11, d + 11 + len);
}

/** Resolves with the connect error code, or null when the connection was accepted. */
function tryConnect(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(null);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function config(listeners: ListenerConfig[]): ReturnType<typeof testConfig> {
  return testConfig({ listeners });
}

describe('DataPath.reconfigure', () => {
  it('keeps a session opened before the reload relaying through it and after it', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([rw, ro]) });
    const s = await readySession(f.port('rw'));
    expect(await ask(s.raw)).toBe('n1');
    const result = await f.dp.reconfigure(config([listenerConfig({ name: 'rw', role: 'primary', balance: 'leastconn' }), ro]));
    expect(result).toEqual({ added: [], removed: [], changed: [], kept: ['rw', 'ro'] });
    expect(await ask(s.raw)).toBe('n1');
    expect(s.raw.closed).toBe(false);
    expect(f.dp.sessionCount()).toBe(1);
    s.raw.destroy();
  });

  it('binds an added listener, which serves right after the reload', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([rw]) });
    const result = await f.dp.reconfigure(config([rw, ro]));
    expect(result).toEqual({ added: ['ro'], removed: [], changed: [], kept: ['rw'] });
    expect(Object.keys(f.dp.addresses())).toEqual(['rw', 'ro']);
    expect(await f.whereAmI('ro')).toBe('n2');
    expect(Object.keys(f.dp.traffic())).toEqual(['rw', 'ro']);
  });

  it('stops a removed listener accepting, keeps its session relaying, and still kills it when its backend stops being primary', async () => {
    const rw2 = listenerConfig({ name: 'rw2', role: 'primary' });
    const logs = captureLog();
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([rw, rw2]), logger: logs.logger });
    const port = f.port('rw2');
    const s = await readySession(port);
    const result = await f.dp.reconfigure(config([rw]));
    expect(result).toEqual({ added: [], removed: ['rw2'], changed: [], kept: ['rw'] });
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
    expect(Object.keys(f.dp.addresses())).toEqual(['rw']);
    expect(await ask(s.raw)).toBe('n1');
    // Still visible under its name while it relays a session.
    expect(f.dp.traffic()['rw2']?.current).toBe(1);
    expect(f.dp.traffic()['rw2']?.backends['n1']?.current).toBe(1);

    f.publish('n2');
    await s.raw.waitClosed();
    // The removed listener's counters go with its last session: the kill is in the log.
    expect(logs.lines.filter((l) => l['event'] === 'sessions_killed').map((l) => [l['listener'], l['reason'], l['count']])).toEqual([['rw2', 'not_primary', 1]]);
    await waitFor(() => f?.dp.traffic()['rw2'] === undefined, { what: 'the drained listener to leave traffic()' });
    expect(Object.keys(f.dp.traffic())).toEqual(['rw']);
  });

  it('judges the old socket’s sessions of a moved listener by the config they were routed with, the new socket’s by the new one', async () => {
    // Same name on both sockets: only the session's own listener can tell the rules apart.
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([listenerConfig({ name: 'rw', on_marked_down: 'keep' })]) });
    const before = await readySession(f.port('rw'));
    const port = await findFreePort();
    await f.dp.reconfigure(config([listenerConfig({ name: 'rw', on_marked_down: 'shutdown', bind: { host: '127.0.0.1', port } })]));
    const after = await readySession(port);
    f.publish('n2');
    await after.raw.waitClosed();
    expect(await ask(before.raw)).toBe('n1');
    expect(f.dp.traffic()['rw']?.backends['n1']?.killed).toEqual({ not_primary: 1 });
    before.raw.destroy();
  });

  it('judges a kept listener’s established sessions by its new settings', async () => {
    const keep = listenerConfig({ name: 'rw', role: 'primary', on_marked_down: 'keep' });
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([keep]) });
    const s = await readySession(f.port('rw'));
    await f.dp.reconfigure(config([listenerConfig({ name: 'rw', role: 'primary', on_marked_down: 'shutdown' })]));
    f.publish('n2');
    await s.raw.waitClosed();
    expect(f.dp.traffic()['rw']?.backends['n1']?.killed).toEqual({ not_primary: 1 });
  });

  it('refuses a client held on a removed listener with 57P01', async () => {
    const rw2 = listenerConfig({ name: 'rw2', role: 'primary' });
    const logs = captureLog('debug');
    f = await Fixture.start({ backends: ['n1'], primary: null, config: config([rw, rw2]), logger: logs.logger });
    const held = await RawClient.connect(f.port('rw2'));
    held.write(startupPacket({ user: 'app' }));
    await waitFor(() => f?.dp.traffic()['rw2']?.held === 1, { what: 'the client to be held' });
    await f.dp.reconfigure(config([rw]));
    await held.waitClosed();
    expect(errorFields(held.received)).toMatchObject({ S: 'FATAL', C: '57P01' });
    expect(logs.lines.filter((l) => l['event'] === 'client_rejected').map((l) => [l['listener'], l['reason']])).toEqual([['rw2', 'listener_removed']]);
  });

  it('applies a kept listener’s balance change to new sessions', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1', config: config([ro]) });
    const pinned = await readySession(f.port('ro'));
    const busy = await ask(pinned.raw);
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      seen.add(await f.whereAmI('ro'));
      await waitFor(() => f?.dp.sessionCount() === 1, { what: 'the probe session to end' });
    }
    expect([...seen].sort()).toEqual(['n2', 'n3']);

    await f.dp.reconfigure(config([listenerConfig({ name: 'ro', role: 'replica', balance: 'leastconn' })]));
    const after = new Set<string>();
    for (let i = 0; i < 4; i++) {
      after.add(await f.whereAmI('ro'));
      await waitFor(() => f?.dp.sessionCount() === 1, { what: 'the probe session to end' });
    }
    expect([...after]).toEqual([busy === 'n2' ? 'n3' : 'n2']);
    pinned.raw.destroy();
  });

  it('never refuses a connection on a kept listener while reloading', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([rw]) });
    const port = f.port('rw');
    let reloading = true;
    const outcomes: Array<string | null> = [];
    const loop = (async () => {
      while (reloading) outcomes.push(await tryConnect(port));
    })();
    // Reloads (adding and removing another listener, retuning this one) interleaved with the
    // connect loop: each waits until at least one more attempt has finished.
    for (let i = 0; i < 30; i++) {
      const extra = i % 2 === 0 ? [ro] : [];
      const seen = outcomes.length;
      await f.dp.reconfigure(config([listenerConfig({ name: 'rw', role: 'primary', balance: i % 2 === 0 ? 'leastconn' : 'roundrobin' }), ...extra]));
      await waitFor(() => outcomes.length > seen, { what: 'a connection attempt during the reloads' });
    }
    reloading = false;
    await loop;
    expect(outcomes.filter((o) => o !== null)).toEqual([]);
    expect(f.port('rw')).toBe(port);
  });

  it('rolls back when an added listener cannot bind: the old config stays in force and the new sockets are closed', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([rw]) });
    const before = f.dp.addresses();
    const free = await findFreePort();
    const taken = f.backends['n1']?.port ?? 0;
    const next = config([
      listenerConfig({ name: 'rw', role: 'primary', balance: 'leastconn' }),
      listenerConfig({ name: 'ok', bind: { host: '127.0.0.1', port: free } }),
      listenerConfig({ name: 'clash', bind: { host: '127.0.0.1', port: taken } }),
    ]);
    const err = await f.dp.reconfigure(next).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PgrError);
    expect((err as PgrError).code).toBe('PGR_ERR_BIND');
    expect((err as PgrError).message).toContain('listeners[2].bind');
    expect(f.dp.addresses()).toEqual(before);
    expect(await tryConnect(free)).toBe('ECONNREFUSED');
    expect(await f.whereAmI('rw')).toBe('n1');
    // The data path is on the old config: the same reload without the clash applies cleanly.
    const result = await f.dp.reconfigure(config([rw, listenerConfig({ name: 'ok', bind: { host: '127.0.0.1', port: free } })]));
    expect(result).toEqual({ added: ['ok'], removed: [], changed: [], kept: ['rw'] });
  });

  it('forwards the cancel of a session routed before the reload to its backend, from a listener added by it', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([ro]) });
    const a = await readySession(f.port('ro'));
    await f.dp.reconfigure(config([listenerConfig({ name: 'ro2', role: 'replica' })]));
    const before = a.raw.received.length;
    a.raw.write(queryPacket('sleep 5'));
    await waitFor(() => f?.backends['n2']?.queries.includes('sleep 5'), { what: 'the query to start' });
    const c = await RawClient.connect(f.port('ro2'));
    c.write(cancelPacket(a.pid, a.key));
    await c.waitClosed();
    await waitFor(() => a.raw.received.length > before, { what: 'the cancelled query to answer' });
    expect(errorFields(a.raw.received.subarray(before))).toMatchObject({ C: '57014' });
    expect(f.cancels()).toEqual({ exact: 1 });
    a.raw.destroy();
  });

  it('moves a listener to a new bind: the old socket refuses, its session runs on, and the counters of the name continue', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: config([rw]) });
    const oldPort = f.port('rw');
    const s = await readySession(oldPort);
    const port = await findFreePort();
    const result = await f.dp.reconfigure(config([listenerConfig({ name: 'rw', role: 'primary', bind: { host: '127.0.0.1', port } })]));
    expect(result).toEqual({ added: [], removed: [], changed: ['rw'], kept: [] });
    expect(f.port('rw')).toBe(port);
    expect(await tryConnect(oldPort)).toBe('ECONNREFUSED');
    expect(await f.whereAmI('rw')).toBe('n1');
    expect(await ask(s.raw)).toBe('n1');
    expect(f.dp.traffic()['rw']).toMatchObject({ total: 2, current: 1 });
    s.raw.destroy();
  });

  it('hands the socket of a renamed listener over, so its port never refuses', async () => {
    const port = await findFreePort();
    const bind = { host: '127.0.0.1', port };
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([listenerConfig({ name: 'rw', bind })]) });
    const s = await readySession(port);
    const result = await f.dp.reconfigure(config([listenerConfig({ name: 'writer', bind })]));
    expect(result).toEqual({ added: ['writer'], removed: ['rw'], changed: [], kept: [] });
    expect(f.dp.addresses()).toEqual({ writer: { host: '127.0.0.1', port } });
    expect(await f.whereAmI('writer')).toBe('n1');
    expect(f.dp.traffic()['writer']?.total).toBe(1);
    expect(await ask(s.raw)).toBe('n1');
    s.raw.destroy();
  });

  it('applies new timeouts to new sessions', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: null, config: config([rw]) });
    await f.dp.reconfigure(testConfig({ listeners: [rw], timeouts: { connect_wait: 0 } }));
    const c = await RawClient.connect(f.port('rw'));
    c.write(startupPacket({ user: 'app' }));
    await c.waitClosed();
    expect(errorFields(c.received)).toMatchObject({ C: '57P03' });
  });

  it('keeps a replica session lagging under a kept listener’s new on_lag: drain', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: config([ro]) });
    const s = await readySession(f.port('ro'));
    await f.dp.reconfigure(config([listenerConfig({ name: 'ro', role: 'replica', on_lag: 'drain' })]));
    f.publish('n1', [f.member('n1'), f.member('n2', { replica: { any: check(false, { lagging: true }) } })]);
    expect(await ask(s.raw)).toBe('n2');
    s.raw.destroy();
  });
});
