// The native relay engine (issue 12), every copy strategy: bytes, counters, half-close, idle
// timeouts, keepalive, resets and the handover contract. Load, kills, backpressure and the
// handover under traffic are in native-relay-load.test.ts.
import { once } from 'node:events';
import tls from 'node:tls';
import { describe, expect, it, vi } from 'vitest';
import { waitFor } from '../../harness/wait.js';
import { available, createNativeRelay, loadError, type NativeRelayEnd, type NativeStrategy } from '../../../src/relay/native-relay.js';
import { collect, fdsBackTo, openFds, Pairs, type Pair } from './pairs.js';
import { useRelayFixture } from './relay-fixture.js';

const NO_TIMEOUTS = { client: 0, server: 0 };

it('loads the addon on Linux (npm ci builds it)', () => {
  if (process.platform !== 'linux') return;
  expect(loadError()?.message ?? null).toBeNull();
  expect(available()).toBe(true);
});

it('reports a missing addon as PGR_ERR_RELAY_UNAVAILABLE instead of throwing at import', async () => {
  vi.resetModules();
  const previous = process.env.PGROUTER_RELAY_ADDON;
  process.env.PGROUTER_RELAY_ADDON = '/nonexistent/pgrouter_relay.node';
  try {
    const fresh = await import('../../../src/relay/native-relay.js');
    expect(fresh.available()).toBe(false);
    expect(fresh.loadError()?.code).toBe('PGR_ERR_RELAY_UNAVAILABLE');
    expect(() => fresh.createNativeRelay({ onEnd: () => undefined })).toThrow(expect.objectContaining({ code: 'PGR_ERR_RELAY_UNAVAILABLE' }));
  } finally {
    if (previous === undefined) delete process.env.PGROUTER_RELAY_ADDON;
    else process.env.PGROUTER_RELAY_ADDON = previous;
    vi.resetModules();
  }
});

describe.runIf(available()).each<NativeStrategy>(['copy', 'splice', 'auto'])('the native relay (%s)', (strategy) => {
  const f = useRelayFixture({ strategy });

  async function adopted(timeouts = NO_TIMEOUTS): Promise<Pair & { id: number }> {
    const pair = await f.pairs.open();
    return { ...pair, id: f.relay.adopt(pair.front, pair.back, timeouts) };
  }

  const endOf = (id: number): Promise<NativeRelayEnd> => waitFor(() => f.ends.find((e) => e.id === id), { timeoutMs: 10_000, intervalMs: 10, what: `the end of session ${id}` });

  it('relays a request/response ping-pong and counts the bytes without an event per chunk', async () => {
    const { client, server, id } = await adopted();
    server.on('data', (query: Buffer) => server.write(Buffer.concat([Buffer.from('R:'), query])));
    const received = collect(client);
    for (let i = 1; i <= 50; i++) {
      client.write(`query ${i}`);
      const want = Array.from({ length: i }, (_, k) => `R:query ${k + 1}`).join('');
      await waitFor(() => received.data().toString() === want, { timeoutMs: 5000, intervalMs: 2, what: `answer ${i}` });
    }
    const sent = Array.from({ length: 50 }, (_, k) => `query ${k + 1}`).join('').length;
    expect(f.relay.counters(id)).toEqual({ bytesIn: sent, bytesOut: sent + 100 });
    expect(f.relay.bytesIn(id)).toBe(sent);
    expect(f.relay.sessions).toBe(1);
    client.end();
    server.end();
    const end = await endOf(id);
    expect(end).toMatchObject({ reason: 'client_closed', bytesIn: sent, bytesOut: sent + 100 });
    expect(f.relay.counters(id)).toBeUndefined();
    expect(f.relay.sessions).toBe(0);
  });

  it('forwards a client FIN to the server and keeps relaying what the server still sends', async () => {
    const { client, server, id } = await adopted();
    const received = collect(client);
    client.end('last words');
    const got = collect(server);
    await once(server, 'end');
    expect(got.data().toString()).toBe('last words');
    server.end('the answer after your FIN');
    await once(client, 'end');
    expect(received.data().toString()).toBe('the answer after your FIN');
    expect(await endOf(id)).toMatchObject({ reason: 'client_closed', bytesIn: 10, bytesOut: 25 });
  });

  it('forwards a server FIN to the client first, and names the server as the closer', async () => {
    const { client, server, id } = await adopted();
    server.end('bye');
    const received = collect(client);
    await once(client, 'end');
    expect(received.data().toString()).toBe('bye');
    client.end('ack');
    const got = collect(server);
    await once(server, 'end');
    expect(got.data().toString()).toBe('ack');
    expect(await endOf(id)).toMatchObject({ reason: 'server_closed' });
  });

  it('ends a session whose client has been silent for timeouts.client with client_idle', async () => {
    const { client, id } = await adopted({ client: 150, server: 0 });
    const closed = once(client, 'end');
    expect(await endOf(id)).toMatchObject({ reason: 'client_idle' });
    await closed;
  });

  it('ends a session whose server has been silent for timeouts.server with server_idle', async () => {
    const { server, id } = await adopted({ client: 0, server: 150 });
    const closed = once(server, 'end');
    expect(await endOf(id)).toMatchObject({ reason: 'server_idle' });
    await closed;
  });

  it('keeps a session that keeps talking past its idle timeouts', async () => {
    const { client, server, id } = await adopted({ client: 500, server: 500 });
    server.on('data', (d: Buffer) => server.write(d));
    const started = Date.now();
    let rounds = 0;
    while (Date.now() - started < 1200) {
      client.write('x');
      await once(client, 'data');
      rounds++;
    }
    expect(rounds).toBeGreaterThan(0);
    expect(f.ends).toEqual([]);
    expect(f.relay.bytesIn(id)).toBe(rounds);
  });

  it('keeps the TCP keepalive and TCP_NODELAY the router set on both sockets', async () => {
    const { id } = await adopted();
    const sockets = await waitFor(() => f.relay.inspect(id) ?? undefined, { timeoutMs: 5000, intervalMs: 5, what: 'the relay thread to hold the session' });
    for (const s of sockets) expect(s).toMatchObject({ keepalive: true, keepIdle: 60 });
    expect(sockets[0].noDelay).toBe(true);
    expect(sockets[1].noDelay).toBe(true);
  });

  it('reports a reset by the server as server_error with its errno, and closes the client', async () => {
    const { client, server, id } = await adopted();
    const closed = once(client, 'end');
    server.resetAndDestroy();
    expect(await endOf(id)).toMatchObject({ reason: 'server_error', errno: 'ECONNRESET' });
    await closed;
  });

  it('kills one session at once and reports the kill reason, leaving the others', async () => {
    const a = await adopted();
    const b = await adopted();
    const closed = Promise.all([once(a.client, 'end'), once(a.server, 'end')]);
    expect(f.relay.kill(a.id, 'view_change')).toBe(true);
    expect(await endOf(a.id)).toMatchObject({ reason: 'killed', killReason: 'view_change' });
    await closed;
    expect(f.relay.kill(a.id, 'again')).toBe(false);
    b.server.on('data', (d: Buffer) => b.server.write(d));
    b.client.write('still here');
    const [echo] = (await once(b.client, 'data')) as [Buffer];
    expect(echo.toString()).toBe('still here');
  });

  it('refuses a handover that would lose bytes, and leaves both sockets as they were', async () => {
    const { client, front, back } = await f.pairs.open();
    client.write('unread');
    await waitFor(() => front.readableLength > 0, { timeoutMs: 5000, intervalMs: 5, what: 'Node to buffer the bytes' });
    expect(() => f.relay.adopt(front, back, NO_TIMEOUTS)).toThrow(expect.objectContaining({ code: 'PGR_ERR_RELAY_HANDOVER', message: expect.stringContaining('read but not consumed') }));
    expect(String(front.read())).toBe('unread');

    back.cork();
    back.write('queued');
    expect(() => f.relay.adopt(front, back, NO_TIMEOUTS)).toThrow(expect.objectContaining({ message: expect.stringContaining('not flushed') }));
    back.uncork();

    const listener = (): void => undefined;
    front.on('data', listener);
    expect(() => f.relay.adopt(front, back, NO_TIMEOUTS)).toThrow(expect.objectContaining({ message: expect.stringContaining("'data' listener") }));
    front.off('data', listener);

    const tlsFront = new tls.TLSSocket(front);
    expect(() => f.relay.adopt(tlsFront, back, NO_TIMEOUTS)).toThrow(expect.objectContaining({ message: expect.stringContaining('TLS') }));
    expect(front.destroyed || back.destroyed).toBe(false);
    expect(f.relay.sessions).toBe(0);
    tlsFront.destroy();
  });
});

describe.runIf(available())('the native relay slots', () => {
  // A session whose two peers have closed ends as soon as the thread registers it, and the
  // thread frees it then: possibly before adopt() returns. adopt() once read the id from the
  // freed session, returned garbage, and the report named an id nobody knew; the data path
  // then kept the session for ever, and its kill at shutdown found no such session either.
  it('returns the id the end report names, even for a session that ended before adopt() returned', async () => {
    const baseline = openFds();
    const pairs = await Pairs.start();
    const reported = new Set<number>();
    const relay = createNativeRelay({ capacity: 64, onEnd: (end) => reported.add(end.id) });
    const adopted: number[] = [];
    try {
      for (let i = 0; i < 2000; i++) {
        const { client, front, back, server } = await pairs.open();
        client.end();
        server.end();
        await Promise.all([once(client, 'finish'), once(server, 'finish')]);
        adopted.push(relay.adopt(front, back, NO_TIMEOUTS));
        // A slot comes back with its report: keep well below the capacity.
        await waitFor(() => relay.sessions < 32, { timeoutMs: 5000, intervalMs: 1, what: 'the sessions to end' });
      }
      await waitFor(() => relay.sessions === 0, { timeoutMs: 10_000, intervalMs: 5, what: 'every session to end' });
      expect(adopted.filter((id) => !reported.has(id))).toEqual([]);
      expect(reported.size).toBe(adopted.length);
    } finally {
      relay.close();
      await pairs.close();
    }
    await fdsBackTo(baseline, 'after the test');
  });

  it('refuses a session beyond its capacity with PGR_ERR_RELAY_FULL, and never reuses an id', async () => {
    const baseline = openFds();
    const pairs = await Pairs.start();
    const ends: NativeRelayEnd[] = [];
    const relay = createNativeRelay({ capacity: 1, onEnd: (end) => ends.push(end) });
    try {
      const first = await pairs.open();
      const id = relay.adopt(first.front, first.back, NO_TIMEOUTS);
      const second = await pairs.open();
      expect(() => relay.adopt(second.front, second.back, NO_TIMEOUTS)).toThrow(expect.objectContaining({ code: 'PGR_ERR_RELAY_FULL' }));
      expect(second.front.destroyed || second.back.destroyed).toBe(false);
      relay.kill(id, 'make room');
      await waitFor(() => ends.length === 1, { timeoutMs: 5000, intervalMs: 5, what: 'the kill to be reported' });
      const next = relay.adopt(second.front, second.back, NO_TIMEOUTS);
      expect(next).not.toBe(id);
      expect(relay.counters(id)).toBeUndefined();
      expect(relay.counters(next)).toEqual({ bytesIn: 0, bytesOut: 0 });
    } finally {
      relay.close();
      await pairs.close();
    }
    await fdsBackTo(baseline, 'after the test');
  });
});
