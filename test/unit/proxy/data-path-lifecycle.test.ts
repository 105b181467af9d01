// Socket-level tests of the session lifecycle: re-routing before the client saw a byte,
// shutdown. The relay phase itself (both engines) is in data-path-relay*.test.ts.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { DataPath } from '../../../src/proxy/data-path.js';
import { JS_RELAY } from '../../../src/relay/js-relay.js';
import type { RelayEngine } from '../../../src/relay/relay.js';
import { captureLog } from '../../helpers/capture-log.js';
import { listenerConfig, testConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import { sslRequest, startupPacket } from './helpers/packets.js';
import { errorFields, RawClient, readySession } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait-for.js';

let f: Fixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

const READY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);


describe('DataPath sessions', () => {
  it('moves a client still negotiating SSL with a former primary to the new primary', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', perBackend: { n1: { sslAnswer: 'none' } } });
    const fixture = f;
    const raw = await RawClient.connect(fixture.port('rw'));
    raw.write(sslRequest());
    await waitFor(() => fixture.backends['n1']?.sslRequests === 1, { what: 'SSLRequest at n1' });
    fixture.publish('n2');
    expect((await raw.waitBytes(1)).toString()).toBe('N');
    raw.write(startupPacket({ user: 'app' }));
    await waitFor(() => raw.received.includes(READY), { what: 'ReadyForQuery from n2' });
    expect(fixture.backends['n2']?.startups).toEqual([{ user: 'app' }]);
    expect(fixture.sessionsOn('rw')).toEqual({ n2: 1 });
    raw.destroy();
  });
});

describe('DataPath shutdown', () => {
  it('refuses held clients with 57P01 and lets established sessions drain within the grace period', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ timeouts: { connect_wait: 10_000 } }) });
    const fixture = f;
    f = null;
    const established = (await readySession(fixture.port('rw'))).raw;
    const held = await RawClient.connect(fixture.port('ro'));
    held.write(startupPacket({ user: 'app' }));
    await waitFor(() => fixture.dp.traffic()['ro']?.held === 1, { what: 'RO client held' });

    let closed = false;
    const closing = fixture.dp.close({ graceMs: 10_000 }).then(() => {
      closed = true;
    });
    await held.waitClosed();
    expect(errorFields(held.received)).toMatchObject({ C: '57P01' });
    expect(closed).toBe(false);
    expect(established.closed).toBe(false);
    established.socket.end();
    await closing;
    await Promise.all(Object.values(fixture.backends).map((b) => b.close()));
  });

  it('destroys sessions still open when the grace period is over', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1' });
    const fixture = f;
    f = null;
    const established = (await readySession(fixture.port('rw'))).raw;
    await fixture.dp.close({ graceMs: 50 });
    await established.waitClosed();
    await Promise.all(Object.values(fixture.backends).map((b) => b.close()));
  });

  it('stops within its deadline when a closed session never reports its end, and names it in the log', async () => {
    // An engine whose kill ends nothing: a relay that lost its end report (a bug) must not hang
    // the shutdown (SIGTERM would never exit).
    const never: RelayEngine = { name: 'js', start: () => ({ kill: () => undefined }), report: () => JS_RELAY.report() };
    const log = captureLog();
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', relay: never, logger: log.logger });
    const fixture = f;
    f = null;
    await readySession(fixture.port('rw'));
    await fixture.dp.close({ graceMs: 0 });
    expect(log.lines.find((l) => l['event'] === 'shutdown_unfinished')).toMatchObject({ open: { rw: 1, ro: 0 } });
    await Promise.all(Object.values(fixture.backends).map((b) => b.close()));
  }, 15_000);

  it('fails to start with PGR_ERR_BIND when a port is taken, and releases the other listeners', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    const config = testConfig({ listeners: [listenerConfig({ name: 'rw' }), listenerConfig({ name: 'ro', role: 'replica', bind: { host: '127.0.0.1', port: taken } })] });
    const dp = new DataPath({ config, logger: silentLogger() });
    await expect(dp.start()).rejects.toMatchObject({ code: 'PGR_ERR_BIND' });
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  });
});
