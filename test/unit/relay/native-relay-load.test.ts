// The native relay under load (issue 12), every strategy: thousands of pairs, kills during a
// large transfer, a reader that does not read, the handover in the middle of pipelined
// traffic, close(), and the event loop. Every test ends with the process back to its fds.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor, within } from '../../harness/wait.js';
import { available, type NativeStrategy } from '../../../src/relay/native-relay.js';
import { settleForHandover } from '../../../src/relay/native-handover.js';
import { collect, fdsBackTo, openFds, Pairs, stream, writeAll, type Pair } from './pairs.js';
import { useRelayFixture } from './relay-fixture.js';

const NO_TIMEOUTS = { client: 0, server: 0 };
const BUFFER = 16_384;

describe.runIf(available()).each<NativeStrategy>(['copy', 'splice', 'auto'])('the native relay under load (%s)', (strategy) => {
  const f = useRelayFixture({ strategy, bufferSize: BUFFER });

  const ended = (count: number, what: string): Promise<true> =>
    waitFor(() => f.ends.length >= count, { timeoutMs: 30_000, intervalMs: 10, what: `${what} (${f.ends.length}/${count} ended)` });

  it('relays two thousand pairs at once and leaves no fd and no timer behind when they close', async () => {
    const sessions = [];
    for (let i = 0; i < 2000; i++) {
      const pair = await f.pairs.open();
      pair.server.on('data', (d: Buffer) => pair.server.end(d));
      sessions.push({ ...pair, id: f.relay.adopt(pair.front, pair.back, { client: 1_800_000, server: 1_800_000 }) });
    }
    expect(f.relay.sessions).toBe(2000);
    const answers = sessions.map((s) => {
      s.client.resume(); // 'end' comes once the answer is consumed
      return once(s.client, 'end');
    });
    for (const [i, s] of sessions.entries()) s.client.write(`hello ${i}`);
    await within(Promise.all(answers), 30_000, () => 'every client to get its answer and the FIN');
    for (const s of sessions) s.client.end();
    await ended(2000, 'every session to end');
    expect(new Set(f.ends.map((e) => e.reason))).toEqual(new Set(['server_closed']));
    expect(f.ends.every((e) => e.bytesIn === e.bytesOut && e.bytesIn > 0)).toBe(true);
    expect(f.relay.stats()).toMatchObject({ sessions: 0, pendingBytes: 0, pipesInUse: 0, buffersInUse: 0 });
    // The 30-minute timers of the ended sessions are swept, not kept until they expire.
    await waitFor(() => f.relay.stats().timers === 0, { timeoutMs: 5000, intervalMs: 10, what: 'the stale timers to be swept' });
  });

  it('kills a session in the middle of a large transfer: both ends close at once, no fd is left', async () => {
    const { client, server, front, back } = await f.pairs.open();
    const id = f.relay.adopt(front, back, NO_TIMEOUTS);
    server.on('error', () => undefined); // writing into the killed connection may fail with EPIPE
    const big = stream('kill', 64 << 20);
    void writeAll(server, big).catch(() => undefined);
    const received = collect(client);
    await waitFor(() => received.bytes() > 4 << 20, { timeoutMs: 20_000, intervalMs: 5, what: 'the transfer to be under way' });
    // The server may see the kill as a reset (the relay closed with its bytes unread): wait for
    // 'close', which comes either way (once() would reject on 'error').
    const closed = Promise.all([once(client, 'end'), new Promise((resolve) => server.once('close', resolve))]);
    expect(f.relay.kill(id, 'admin')).toBe(true);
    await ended(1, 'the killed session');
    expect(f.ends[0]).toMatchObject({ id, reason: 'killed', killReason: 'admin' });
    expect(f.ends[0]?.bytesOut).toBeGreaterThanOrEqual(4 << 20);
    expect(received.data().equals(big.subarray(0, received.bytes()))).toBe(true);
    server.destroy();
    await closed;
    expect(f.relay.stats()).toMatchObject({ sessions: 0, pendingBytes: 0, pipesInUse: 0, buffersInUse: 0 });
  });

  it('killAll() ends every session at once with its reason', async () => {
    for (let i = 0; i < 20; i++) {
      const pair = await f.pairs.open();
      f.relay.adopt(pair.front, pair.back, NO_TIMEOUTS);
    }
    expect(f.relay.killAll('shutdown')).toBe(20);
    await ended(20, 'the killed sessions');
    expect(f.ends.every((e) => e.reason === 'killed' && e.killReason === 'shutdown')).toBe(true);
    expect(f.relay.sessions).toBe(0);
  });

  it('holds at most one buffer or pipe per direction while the client does not read, then delivers every byte', async () => {
    const { client, server, front, back } = await f.pairs.open();
    const id = f.relay.adopt(front, back, NO_TIMEOUTS);
    client.pause();
    const big = stream('slow reader', 32 << 20);
    const written = writeAll(server, big);
    // The kernel buffers fill, the relay keeps what the client cannot take and stops reading
    // the server, whose own writes then back up in Node.
    await waitFor(() => server.writableNeedDrain && f.relay.stats().pendingBytes > 0, { timeoutMs: 20_000, intervalMs: 10, what: 'the transfer to stall' });
    const stats = f.relay.stats();
    expect(stats.pendingBytes).toBeLessThanOrEqual(strategy === 'copy' ? BUFFER : stats.pipeCapacity);
    expect(stats.pipesInUse + stats.buffersInUse).toBeLessThanOrEqual(1);
    expect(f.relay.bytesOut(id)).toBeLessThan(big.length / 2);
    const received = collect(client);
    client.resume();
    await written;
    server.end();
    await once(client, 'end');
    expect(received.data().equals(big)).toBe(true);
    expect(f.relay.counters(id)?.bytesOut ?? f.ends[0]?.bytesOut).toBe(big.length);
  });

  it('relays a bulk transfer, then request/response traffic, then bulk the other way, byte for byte', async () => {
    const { client, server, front, back } = await f.pairs.open();
    const id = f.relay.adopt(front, back, NO_TIMEOUTS);
    const down = stream('bulk down', 8 << 20);
    const up = stream('bulk up', 8 << 20);
    const atClient = collect(client);
    await writeAll(server, down);
    await waitFor(() => atClient.bytes() === down.length, { timeoutMs: 20_000, intervalMs: 5, what: 'the bulk transfer to the client' });
    expect(atClient.data().equals(down)).toBe(true);
    const atServer = collect(server);
    for (let i = 0; i < 20; i++) {
      client.write(`q${i}`);
      await waitFor(() => atServer.bytes() === 2 * (i + 1) + (i >= 10 ? i - 9 : 0), { timeoutMs: 5000, intervalMs: 1, what: `query ${i}` });
      server.write(`a${i}`);
      await waitFor(() => atClient.bytes() === down.length + 2 * (i + 1) + (i >= 10 ? i - 9 : 0), { timeoutMs: 5000, intervalMs: 1, what: `answer ${i}` });
    }
    await writeAll(client, up);
    client.end();
    await once(server, 'end');
    expect(atServer.data().subarray(-up.length).equals(up)).toBe(true);
    server.end();
    await ended(1, 'the session');
    expect(f.ends[0]).toMatchObject({ id, reason: 'client_closed', bytesIn: atServer.bytes(), bytesOut: atClient.bytes() });
    expect(f.relay.stats()).toMatchObject({ pendingBytes: 0, pipesInUse: 0, buffersInUse: 0 });
  });

  it('loses no byte when a session moves from the JS pipe to the relay in the middle of pipelined traffic', async () => {
    const { client, server, front, back } = await f.pairs.open();
    // The JS relay first, as during the startup phase.
    front.pipe(back, { end: false });
    back.pipe(front, { end: false });
    const up = stream('client to server', 16 << 20);
    const down = stream('server to client', 16 << 20);
    const atServer = collect(server);
    const atClient = collect(client);
    const sent = Promise.all([writeAll(client, up, 4096), writeAll(server, down, 4096)]);
    await waitFor(() => atServer.bytes() > 1 << 20 && atClient.bytes() > 1 << 20, { timeoutMs: 20_000, intervalMs: 2, what: 'traffic both ways' });
    // The handover (what the ClientSession does): detach the JS relay, settle, adopt.
    front.unpipe(back);
    back.unpipe(front);
    await settleForHandover(front, back);
    const id = f.relay.adopt(front, back, NO_TIMEOUTS);
    await sent;
    client.end();
    server.end();
    await Promise.all([once(client, 'end'), once(server, 'end')]);
    expect(atServer.data().equals(up)).toBe(true);
    expect(atClient.data().equals(down)).toBe(true);
    await ended(1, 'the session');
    expect(f.ends[0]).toMatchObject({ id });
    expect(f.ends[0]?.bytesIn).toBeGreaterThan(0);
    expect(f.ends[0]?.bytesOut).toBeGreaterThan(0);
  });

  it('close() ends every session, stops the thread and closes every fd before it returns', async () => {
    const before = openFds();
    const opened: Pair[] = [];
    for (let i = 0; i < 10; i++) {
      const pair = await f.pairs.open();
      opened.push(pair);
      f.relay.adopt(pair.front, pair.back, NO_TIMEOUTS);
    }
    await waitFor(() => f.relay.stats().sessions === 10, { timeoutMs: 5000, intervalMs: 5, what: 'the thread to hold the sessions' });
    f.relay.close('shutdown');
    // Left: the test's own 20 ends of the 10 pairs (front/back were closed by the handover).
    expect(openFds()).toBeLessThanOrEqual(before + 20 - 2);
    await ended(10, 'the closed sessions');
    expect(f.ends.every((e) => e.reason === 'killed' && e.killReason === 'shutdown')).toBe(true);
    expect(() => f.relay.adopt(opened[0]!.front, opened[0]!.back, NO_TIMEOUTS)).toThrow();
  });
});

describe('the handover settle', () => {
  // Node emits 'drain' only after a write() that returned false (the queue reached
  // highWaterMark). A smaller write the kernel could not take at once empties without one, so a
  // settle that waited for 'drain' waited for ever, with both sockets no longer read.
  it("resolves once a write below highWaterMark that the kernel could not take at once is flushed, without a 'drain'", async () => {
    const baseline = openFds();
    const pairs = await Pairs.start();
    try {
      const { client, front, back } = await pairs.open();
      client.pause();
      // Half the highWaterMark per write: the queue never reaches it, so no 'drain' is due.
      const chunk = Buffer.alloc(front.writableHighWaterMark / 2, 0x61);
      while (front.writableLength === 0) {
        front.write(chunk);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(front.writableNeedDrain).toBe(false);
      const settled = settleForHandover(front, back);
      client.resume();
      await within(settled, 10_000, () => `the settle (${front.writableLength} bytes still queued)`);
      expect(front.writableLength).toBe(0);
    } finally {
      await pairs.close();
    }
    await fdsBackTo(baseline, 'after the test');
  });
});

describe.runIf(available())('the native relay and the event loop', () => {
  it('keeps the process alive while a session is relayed, and lets it exit once none is', async () => {
    const script = path.join(import.meta.dirname, 'fixtures', 'exit-when-idle.mjs');
    const addon = path.resolve(import.meta.dirname, '../../../build/Release/pgrouter_relay.node');
    const child = spawn(process.execPath, [script, addon], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await within(once(child, 'exit'), 20_000, () => `the child to exit on its own (output: ${out})`)) as [number];
    expect(code).toBe(0);
    expect(out).toContain('ended client_closed');
  });
});
