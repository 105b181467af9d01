// What ends relayed sessions from outside, once per relay engine (issue 12): a view change, the
// admin API, a kill in the middle of a large transfer, the shutdown after its grace period, a
// reload that removes the listener; and the cancel key, learnt before the handover, still routes
// a CancelRequest to its one owner. Every test ends with no socket left behind.
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/log.js';
import { captureLog } from '../../helpers/capture-log.js';
import { listenerConfig, testConfig } from './helpers/config.js';
import { checkFdsAround, ENGINES, handedOver } from './helpers/engines.js';
import { Fixture } from './helpers/fixture.js';
import type { FakeBackendOptions } from './helpers/fake-backend.js';
import { cancelPacket, queryPacket, sslRequest } from './helpers/packets.js';
import { errorFields, RawClient, readySession } from './helpers/raw-client.js';
import { check } from './helpers/view.js';
import { waitFor } from './helpers/wait-for.js';

describe.each(ENGINES)('relayed sessions ended from outside (%s engine)', (engine) => {
  let f: Fixture | null = null;
  checkFdsAround(async () => {
    await f?.close();
    f = null;
  });

  const start = async (backends: string[], opts: { backend?: FakeBackendOptions; listeners?: ReturnType<typeof listenerConfig>[]; logger?: Logger } = {}): Promise<Fixture> => {
    const config = testConfig({ relay: engine, ...(opts.listeners ? { listeners: opts.listeners } : {}) });
    f = await Fixture.start({ backends, primary: 'n1', config, ...(opts.backend ? { backend: opts.backend } : {}), ...(opts.logger ? { logger: opts.logger } : {}) });
    return f;
  };

  it('closes a session at once when a view change makes its backend no longer the primary', async () => {
    const fixture = await start(['n1', 'n2']);
    const { raw } = await readySession(fixture.port('rw'));
    await handedOver(fixture, engine, 1);
    fixture.publish('n2');
    await raw.waitClosed();
    await waitFor(() => fixture.dp.sessionCount() === 0, { what: 'the session to end' });
    expect(fixture.dp.traffic()['rw']?.closed).toEqual({ killed_not_primary: 1 });
    expect(fixture.dp.traffic()['rw']?.backends['n1']?.killed).toEqual({ not_primary: 1 });
    expect(fixture.backends['n1']?.sessions).toBe(0);
  });

  it('closes the sessions of a member on an admin kill', async () => {
    const fixture = await start(['n1']);
    const sessions = await Promise.all([readySession(fixture.port('rw')), readySession(fixture.port('rw'))]);
    await handedOver(fixture, engine, 2);
    expect(fixture.dp.killBackendSessions('n1')).toBe(2);
    await Promise.all(sessions.map((s) => s.raw.waitClosed()));
    await waitFor(() => fixture.dp.traffic()['rw']?.closed['killed_admin'] === 2, { what: 'both kills counted' });
  });

  it('kills a session in the middle of a large transfer: both ends close, the bytes moved so far are counted', async () => {
    const fixture = await start(['n1', 'n2'], { backend: { sslAnswer: 'S' } });
    const raw = await RawClient.connect(fixture.port('rw'));
    raw.write(sslRequest());
    await raw.waitBytes(1);
    await handedOver(fixture, engine, 1);
    // The fake backend echoes: 64 MB out and back, killed once 4 MB have come back.
    const chunk = Buffer.alloc(1 << 20, 0x62);
    for (let i = 0; i < 64; i++) raw.write(chunk);
    await raw.waitBytes(4 << 20, 20_000);
    fixture.publish('n2');
    await raw.waitClosed(20_000);
    await waitFor(() => fixture.dp.sessionCount() === 0, { what: 'the session to end' });
    const t = fixture.dp.traffic()['rw'];
    expect(t?.closed).toEqual({ killed_not_primary: 1 });
    expect(t?.backends['n1']?.bytes_out).toBeGreaterThanOrEqual((4 << 20) - 1);
    expect(t?.backends['n1']?.bytes_in).toBeGreaterThanOrEqual(t?.backends['n1']?.bytes_out ?? 0);
    await waitFor(() => fixture.backends['n1']?.conns.size === 0, { what: 'the backend connection closed' });
  });

  it('lets a session run through the shutdown grace period, then closes it: shutdown', async () => {
    const fixture = await start(['n1']);
    f = null;
    const { raw } = await readySession(fixture.port('rw'));
    await handedOver(fixture, engine, 1);
    await fixture.dp.close({ graceMs: 100 });
    // close() resolves once the relay's end is counted, whichever engine reports it.
    expect(fixture.dp.traffic()['rw']?.closed).toEqual({ shutdown: 1 });
    await raw.waitClosed();
    await Promise.all(Object.values(fixture.backends).map((b) => b.close()));
  });

  it('drains (a cluster reload) until the last relayed session has ended', async () => {
    const fixture = await start(['n1']);
    const { raw } = await readySession(fixture.port('rw'));
    await handedOver(fixture, engine, 1);
    let drained = false;
    const draining = fixture.dp.drain().then(() => {
      drained = true;
    });
    const at = raw.received.length;
    raw.write(queryPacket('select 1'));
    await raw.waitBytes(at + 1);
    expect(drained).toBe(false);
    raw.socket.end();
    await draining;
    expect(fixture.dp.traffic()['rw']?.closed).toEqual({ client_closed: 1 });
  });

  it('keeps a removed listener relaying its session, and a later view still kills it', async () => {
    const rw = listenerConfig({ name: 'rw', role: 'primary' });
    const ro = listenerConfig({ name: 'ro', role: 'replica' });
    const logs = captureLog();
    const fixture = await start(['n1', 'n2'], { listeners: [rw, ro], logger: logs.logger });
    const { raw } = await readySession(fixture.port('ro'));
    await handedOver(fixture, engine, 1);
    await fixture.dp.reconfigure(testConfig({ relay: engine, listeners: [rw] }));
    const at = raw.received.length;
    raw.write(queryPacket('select 1'));
    await raw.waitBytes(at + 1);
    expect(raw.closed).toBe(false);
    fixture.publish('n1', [fixture.member('n1'), fixture.member('n2', { replica: { any: check(false) } })]);
    await raw.waitClosed();
    // The removed listener's counters go with its last session: the kill is in the log.
    expect(logs.lines.filter((l) => l['event'] === 'sessions_killed').map((l) => [l['listener'], l['reason'], l['count']])).toEqual([['ro', 'marked_down', 1]]);
    await waitFor(() => fixture.dp.traffic()['ro'] === undefined, { what: 'the removed listener to go with its last session' });
  });

  it('routes a CancelRequest to the one backend that owns the key, learnt before the handover', async () => {
    const fixture = await start(['n1', 'n2', 'n3']);
    const a = await readySession(fixture.port('ro'));
    const b = await readySession(fixture.port('ro'));
    await handedOver(fixture, engine, 2);
    const at = a.raw.received.length;
    a.raw.write(queryPacket('sleep 5'));
    const owner = await waitFor(() => ['n2', 'n3'].find((n) => fixture.backends[n]?.queries.includes('sleep 5')), { what: 'the query to start' });
    const cancel = await RawClient.connect(fixture.port('rw'));
    cancel.write(cancelPacket(a.pid, a.key));
    await cancel.waitClosed();
    await waitFor(() => a.raw.received.length > at, { what: 'the cancelled query to answer' });
    expect(errorFields(a.raw.received.subarray(at))).toMatchObject({ C: '57014' });
    expect(fixture.cancels()).toEqual({ exact: 1 });
    for (const n of ['n1', 'n2', 'n3']) expect(fixture.backends[n]?.cancels.length).toBe(n === owner ? 1 : 0);
    a.raw.destroy();
    b.raw.destroy();
  });
});
