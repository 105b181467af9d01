// The data path's relay phase, once per relay engine (issue 12): bytes intact both ways,
// backpressure with a reader that does not read, half-close each way, both idle timeouts,
// thousands of sessions, and live byte counts. Every test ends with no socket left behind.
// Kills (view change, admin, shutdown, during a large transfer) and cancels are in
// data-path-relay-kills.test.ts.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { testConfig } from './helpers/config.js';
import { checkFdsAround, ENGINES, handedOver } from './helpers/engines.js';
import { Fixture } from './helpers/fixture.js';
import type { FakeBackendOptions } from './helpers/fake-backend.js';
import { queryPacket, sslRequest, startupPacket } from './helpers/packets.js';
import { RawClient, readySession } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait-for.js';

const READY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

describe.each(ENGINES)('the data path relay (%s engine)', (engine) => {
  let f: Fixture | null = null;
  checkFdsAround(async () => {
    await f?.close();
    f = null;
  });

  const start = async (opts: { backend?: FakeBackendOptions; timeouts?: { client?: number; server?: number } } = {}): Promise<Fixture> => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ relay: engine, timeouts: opts.timeouts ?? {} }), ...(opts.backend ? { backend: opts.backend } : {}) });
    return f;
  };

  it('relays 8 MB through a TLS-passthrough session intact, with backpressure both ways', async () => {
    const fixture = await start({ backend: { sslAnswer: 'S' } });
    const raw = await RawClient.connect(fixture.port('rw'));
    raw.write(sslRequest());
    await raw.waitBytes(1);
    await handedOver(fixture, engine, 1);
    const payload = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
    raw.write(payload);
    await raw.waitBytes(1 + payload.length, 30_000);
    expect(raw.received.subarray(1).equals(payload)).toBe(true);
    expect(fixture.dp.sessionCount()).toBe(1);
    raw.destroy();
    await waitFor(() => fixture.dp.traffic()['rw']?.closed['client_closed'] === 1, { what: 'the end counted' });
    // The SSLRequest and its answer are the session's own, not the relay's: only the TLS bytes count.
    expect(fixture.dp.traffic()['rw']?.backends['n1']).toMatchObject({ bytes_in: payload.length, bytes_out: payload.length });
  });

  it('stops reading from the backend while the client does not read, instead of buffering', async () => {
    const fixture = await start({ backend: { sslAnswer: 'S' } });
    const raw = await RawClient.connect(fixture.port('rw'));
    raw.write(sslRequest());
    await raw.waitBytes(1);
    await handedOver(fixture, engine, 1);
    raw.socket.pause();
    const payload = Buffer.alloc(48 * 1024 * 1024, 0x61);
    raw.write(payload);
    // The echo piles up in the fake backend's own send queue: the router stopped reading it.
    await waitFor(() => [...(fixture.backends['n1']?.conns ?? [])].some((c) => c.socket.writableLength > 4 * 1024 * 1024), {
      timeoutMs: 20_000,
      what: 'backpressure to reach the backend',
    });
    raw.socket.resume();
    await raw.waitBytes(1 + payload.length, 30_000);
    expect(raw.received.length).toBe(1 + payload.length);
    raw.destroy();
  });

  it("passes the client's FIN to the backend, which still answers, then closes: client_closed", async () => {
    const fixture = await start({ backend: { halfOpen: true } });
    const { raw } = await readySession(fixture.port('rw'));
    await handedOver(fixture, engine, 1);
    raw.socket.end();
    await raw.waitClosed();
    expect(raw.received.includes('after your FIN')).toBe(true);
    await waitFor(() => fixture.dp.traffic()['rw']?.closed['client_closed'] === 1, { what: 'client_closed counted' });
    expect(fixture.dp.sessionCount()).toBe(0);
  });

  it("passes the backend's FIN to the client, which can still send: server_closed", async () => {
    const fixture = await start({ backend: { halfOpen: true } });
    const client = net.connect({ host: '127.0.0.1', port: fixture.port('rw'), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    client.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise<void>((resolve) => client.once('end', resolve));
    client.write(startupPacket({ user: 'app' }));
    await waitFor(() => Buffer.concat(chunks).includes(READY), { what: 'ReadyForQuery' });
    await handedOver(fixture, engine, 1);
    client.write(queryPacket('finish'));
    await ended;
    // Half-open: the backend's FIN arrived, the client's side is still open both ways round.
    client.write(queryPacket('late'));
    await waitFor(() => fixture.backends['n1']?.queries.includes('late'), { what: 'the late query at the backend' });
    client.end();
    await waitFor(() => fixture.dp.traffic()['rw']?.closed['server_closed'] === 1, { what: 'server_closed counted' });
    client.destroy();
  });

  it('closes the client when the backend goes away: server_closed', async () => {
    const fixture = await start();
    const { raw } = await readySession(fixture.port('rw'));
    await handedOver(fixture, engine, 1);
    for (const c of fixture.backends['n1']?.conns ?? []) c.socket.destroy();
    await raw.waitClosed();
    await waitFor(() => fixture.dp.traffic()['rw']?.closed['server_closed'] === 1, { what: 'server_closed counted' });
  });

  it('closes a session idle longer than timeouts.client: client_timeout', async () => {
    const fixture = await start({ timeouts: { client: 200 } });
    const { raw } = await readySession(fixture.port('rw'));
    await raw.waitClosed();
    expect(fixture.dp.traffic()['rw']?.closed).toEqual({ client_timeout: 1 });
  });

  it('closes a session whose backend is idle longer than timeouts.server: server_timeout', async () => {
    const fixture = await start({ timeouts: { server: 200 } });
    const { raw } = await readySession(fixture.port('rw'));
    await raw.waitClosed();
    expect(fixture.dp.traffic()['rw']?.closed).toEqual({ server_timeout: 1 });
  });

  it('shows the bytes of a session while it is open, on /stats and in the session list', async () => {
    const fixture = await start();
    const { raw } = await readySession(fixture.port('rw'));
    await handedOver(fixture, engine, 1);
    const startup = fixture.dp.sessions()[0];
    const at = raw.received.length;
    raw.write(queryPacket('select 1'));
    await raw.waitBytes(at + 1);
    const answer = raw.received.length - at;
    const query = queryPacket('select 1').length;
    await waitFor(() => fixture.dp.sessions()[0]?.bytes_out === (startup?.bytes_out ?? 0) + answer, { what: 'the live count' });
    expect(fixture.dp.sessions()[0]).toMatchObject({ bytes_in: (startup?.bytes_in ?? 0) + query });
    expect(fixture.dp.traffic()['rw']).toMatchObject({ bytes_in: (startup?.bytes_in ?? 0) + query, bytes_out: (startup?.bytes_out ?? 0) + answer });
    raw.destroy();
    await waitFor(() => fixture.dp.sessionCount() === 0, { what: 'the end' });
    // Folded in at the end: the ledger neither loses nor repeats a byte.
    expect(fixture.dp.traffic()['rw']).toMatchObject({ bytes_in: (startup?.bytes_in ?? 0) + query, bytes_out: (startup?.bytes_out ?? 0) + answer });
  });

  it('relays two thousand sessions at once and counts every end', async () => {
    const fixture = await start();
    const port = fixture.port('rw');
    const sessions: RawClient[] = [];
    for (let batch = 0; batch < 20; batch++) {
      sessions.push(...(await Promise.all(Array.from({ length: 100 }, async () => (await readySession(port)).raw))));
    }
    await handedOver(fixture, engine, 2000);
    expect(fixture.dp.sessionCount()).toBe(2000);
    expect(fixture.dp.traffic()['rw']?.current).toBe(2000);
    await Promise.all(
      sessions.map(async (raw, i) => {
        const at = raw.received.length;
        raw.write(queryPacket(`select ${i}`));
        await raw.waitBytes(at + 1, 20_000);
      }),
    );
    for (const raw of sessions) raw.socket.end();
    await waitFor(() => fixture.dp.traffic()['rw']?.closed['client_closed'] === 2000, { timeoutMs: 30_000, what: 'every end counted' });
    expect(fixture.dp.sessionCount()).toBe(0);
    expect(fixture.dp.relay.report().native_sessions).toBe(0);
  });
});
