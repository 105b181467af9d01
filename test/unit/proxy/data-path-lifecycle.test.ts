// Socket-level tests of the relay and the session lifecycle: backpressure, half-close, idle
// timeouts, re-routing before the client saw a byte, shutdown.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { DataPath } from '../../../src/proxy/data-path.js';
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


describe('DataPath relay', () => {
  it('relays 8 MB through a TLS-passthrough session intact, with backpressure both ways', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', backend: { sslAnswer: 'S' } });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(sslRequest());
    await raw.waitBytes(1);
    const payload = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
    raw.write(payload);
    await raw.waitBytes(1 + payload.length, 30_000);
    expect(raw.received.subarray(1).equals(payload)).toBe(true);
    await waitFor(() => f?.dp.sessionCount() === 1, { what: 'one session' });
    raw.destroy();
  });

  it('stops reading from the backend while the client does not read, instead of buffering', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', backend: { sslAnswer: 'S' } });
    const fixture = f;
    const raw = await RawClient.connect(fixture.port('rw'));
    raw.write(sslRequest());
    await raw.waitBytes(1);
    raw.socket.pause();
    const payload = Buffer.alloc(48 * 1024 * 1024, 0x61);
    raw.write(payload);
    // The echo piles up in the fake backend's own send queue: the router paused reading it.
    await waitFor(() => [...(fixture.backends['n1']?.conns ?? [])].some((c) => c.socket.writableLength > 4 * 1024 * 1024), {
      timeoutMs: 20_000,
      what: 'backpressure to reach the backend',
    });
    raw.socket.resume();
    await raw.waitBytes(1 + payload.length, 30_000);
    expect(raw.received.length).toBe(1 + payload.length);
    raw.destroy();
  });

  it("passes the client's FIN to the backend, and the backend's close back to the client", async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1' });
    const raw = (await readySession(f.port('rw'))).raw;
    raw.socket.end();
    await raw.waitClosed();
    await waitFor(() => f?.backends['n1']?.conns.size === 0, { what: 'backend connection closed' });
    await waitFor(() => f?.dp.sessionCount() === 0, { what: 'session gone' });
  });

  it('closes the client when the backend goes away, counted as server_closed', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1' });
    const raw = (await readySession(f.port('rw'))).raw;
    for (const c of f.backends['n1']?.conns ?? []) c.socket.destroy();
    await raw.waitClosed();
    await waitFor(() => f?.dp.traffic()['rw']?.closed['server_closed'] === 1, { what: 'server_closed counted' });
  });

  it('closes a session idle longer than timeouts.client', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ timeouts: { client: 200 } }) });
    const raw = (await readySession(f.port('rw'))).raw;
    await raw.waitClosed();
    expect(f.dp.traffic()['rw']?.closed).toEqual({ client_timeout: 1 });
  });

  it('closes a session whose backend is idle longer than timeouts.server', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ timeouts: { server: 200 } }) });
    const raw = (await readySession(f.port('rw'))).raw;
    await raw.waitClosed();
    expect(f.dp.traffic()['rw']?.closed).toEqual({ server_timeout: 1 });
  });

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
