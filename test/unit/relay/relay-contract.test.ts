// The relay contract (src/relay/relay.ts), checked on both engines with real loopback sockets:
// the JS engine, and the native one (relay/handover-relay.ts: sessions handed to the relay
// thread once their startup phase is over). Written against RelayEngine only.
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PgrError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { NativeRelayEngine } from '../../../src/relay/handover-relay.js';
import { JS_RELAY } from '../../../src/relay/js-relay.js';
import { nativeSessions, type NativeEntry, type NativeSessions } from '../../../src/relay/native-engine.js';
import { available } from '../../../src/relay/native-relay.js';
import type { ByteCounts, RelayEnd, RelayEngine, RelayObserver } from '../../../src/relay/relay.js';
import { waitFor } from '../proxy/helpers/wait-for.js';
import { fdCensus, noFdLeak, type FdCensus } from '../proxy/helpers/engines.js';

/**
 * Two connected sockets: `outer` plays the peer, `inner` is what the relay gets (half-open
 * allowed, as the router's sockets are). A peer closes fully on a FIN unless `halfOpen`.
 */
async function socketPair(halfOpen: boolean): Promise<{ outer: net.Socket; inner: net.Socket; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const outer = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, allowHalfOpen: halfOpen });
  const inner = await accepted;
  server.close();
  return { outer, inner, close: () => (outer.destroy(), inner.destroy()) };
}

/** Shows server chunks until it has seen `enough` bytes (a startup phase that ends), then answers false. */
class Watcher implements RelayObserver {
  readonly ends: RelayEnd[] = [];
  readonly seen: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly enough = Infinity) {}
  relayServerData(chunk: Buffer): boolean {
    this.seen.push(chunk);
    this.bytes += chunk.length;
    return this.bytes < this.enough;
  }
  relayEnded(end: RelayEnd): void {
    this.ends.push(end);
  }
}

function collect(socket: net.Socket): { bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return { bytes: () => Buffer.concat(chunks) };
}

/** The counts as stats read them: the native relay's live counters included. */
function live(counts: ByteCounts): { bytesIn: number; bytesOut: number } {
  return { bytesIn: counts.bytesIn + (counts.relayBytes?.bytesIn ?? 0), bytesOut: counts.bytesOut + (counts.relayBytes?.bytesOut ?? 0) };
}

const open: Array<() => void> = [];
let before: FdCensus;
beforeEach(() => {
  before = fdCensus();
});
afterEach(async () => {
  for (const close of open.splice(0)) close();
  // Sockets back where they were; the relay thread may keep spare pipes for its splices.
  await noFdLeak(before);
});

const engines: RelayEngine[] = [JS_RELAY, ...(available() ? [new NativeRelayEngine(nativeSessions(silentLogger()), silentLogger())] : [])];

describe.each(engines)('the $name relay engine', (engine) => {
  async function relayed(opts: { timeouts?: { client: number; server: number }; watcher?: Watcher; halfOpen?: boolean } = {}) {
    const { timeouts = { client: 0, server: 0 }, watcher = new Watcher(), halfOpen = false } = opts;
    const client = await socketPair(halfOpen);
    const server = await socketPair(halfOpen);
    open.push(client.close, server.close);
    const counts: ByteCounts = { bytesIn: 7, bytesOut: 3, relayBytes: null };
    const observeServer = opts.watcher !== undefined;
    const relay = engine.start({ client: client.inner, server: server.inner, timeouts, counts, observeServer }, watcher);
    return { client: client.outer, server: server.outer, counts, watcher, relay };
  }

  it('moves bytes both ways, counts them as they pass, and ends once with its own totals', async () => {
    const r = await relayed();
    const atServer = collect(r.server);
    const atClient = collect(r.client);
    r.client.write('hello');
    r.server.write('world!');
    await waitFor(() => atServer.bytes().toString() === 'hello' && atClient.bytes().toString() === 'world!', { what: 'bytes both ways' });
    await waitFor(() => live(r.counts).bytesOut === 3 + 6, { what: 'the counts' });
    expect(live(r.counts)).toEqual({ bytesIn: 7 + 5, bytesOut: 3 + 6 });
    r.client.end();
    await waitFor(() => r.watcher.ends.length === 1, { what: 'the relay to end' });
    expect(r.watcher.ends).toEqual([{ reason: expect.stringMatching(/^(client|server)_closed$/) as unknown, bytesIn: 5, bytesOut: 6 }]);
    // Once ended, every byte is in the counts themselves.
    expect(r.counts).toEqual({ bytesIn: 7 + 5, bytesOut: 3 + 6, relayBytes: null });
  });

  it('passes a FIN on as a FIN, so the other side can still answer', async () => {
    const r = await relayed({ halfOpen: true });
    const atClient = collect(r.client);
    const serverSawEnd = new Promise<void>((resolve) => r.server.once('end', resolve));
    r.client.end();
    await serverSawEnd;
    r.server.end('bye');
    await waitFor(() => atClient.bytes().toString() === 'bye', { what: 'the answer after the FIN' });
  });

  it('kills both sockets at once, ending with the reason of the first kill', async () => {
    const r = await relayed();
    const closed = Promise.all([r.client, r.server].map((s) => new Promise<void>((resolve) => s.once('close', () => resolve()))));
    r.relay.kill('killed_not_primary');
    r.relay.kill('shutdown');
    await closed;
    await waitFor(() => r.watcher.ends.length > 0, { what: 'the end' });
    expect(r.watcher.ends.map((e) => e.reason)).toEqual(['killed_not_primary']);
  });

  it('ends an idle session with server_timeout', async () => {
    const r = await relayed({ timeouts: { client: 0, server: 100 } });
    await waitFor(() => r.watcher.ends.length === 1, { what: 'the idle timeout' });
    expect(r.watcher.ends[0]?.reason).toBe('server_timeout');
  });

  it('ends a session whose client is idle with client_timeout', async () => {
    const r = await relayed({ timeouts: { client: 150, server: 0 } });
    await waitFor(() => r.watcher.ends.length === 1, { what: 'the idle timeout' });
    expect(r.watcher.ends[0]?.reason).toBe('client_timeout');
  });

  it('shows server chunks to the session only when asked to, and stops when it says it has seen enough', async () => {
    const quiet = await relayed();
    const watched = await relayed({ watcher: new Watcher(3) });
    const got = [collect(quiet.client), collect(watched.client)];
    quiet.server.write('one');
    watched.server.write('two');
    await waitFor(() => got.every((g) => g.bytes().length === 3), { what: 'both answers' });
    expect(quiet.watcher.seen).toEqual([]);
    expect(Buffer.concat(watched.watcher.seen).toString()).toBe('two');
    // Past the startup phase: the bytes still flow, the session no longer sees them.
    watched.server.write('three');
    watched.client.write('ping');
    await waitFor(() => got[1]?.bytes().toString() === 'twothree', { what: 'the bytes after the startup phase' });
    expect(Buffer.concat(watched.watcher.seen).toString()).toBe('two');
  });
});

describe.runIf(available())('the native relay engine', () => {
  it('hands a session to the relay thread once its startup phase is over, and its sockets are released', async () => {
    const engine = new NativeRelayEngine(nativeSessions(silentLogger()), silentLogger());
    const client = await socketPair(false);
    const server = await socketPair(false);
    open.push(client.close, server.close);
    const counts: ByteCounts = { bytesIn: 0, bytesOut: 0, relayBytes: null };
    const watcher = new Watcher(5);
    engine.start({ client: client.inner, server: server.inner, timeouts: { client: 0, server: 0 }, counts, observeServer: true }, watcher);
    const atClient = collect(client.outer);
    server.outer.write('hello');
    await waitFor(() => engine.report().native_sessions === 1, { what: 'the handover' });
    expect(client.inner.destroyed && server.inner.destroyed).toBe(true);
    expect(counts.relayBytes).not.toBeNull();
    server.outer.write(' world');
    await waitFor(() => atClient.bytes().toString() === 'hello world', { what: 'the bytes after the handover' });
    await waitFor(() => counts.bytesOut + (counts.relayBytes?.bytesOut ?? 0) === 11, { what: 'the live count' });
    client.outer.end();
    await waitFor(() => watcher.ends.length === 1, { what: 'the end' });
    expect(engine.report()).toEqual({ engine: 'native', native_sessions: 0, js_fallbacks: {} });
    expect(watcher.ends[0]).toMatchObject({ bytesOut: 11 });
  });

  it('hands over a session whose writes to a slow client are still queued, once they have flushed', async () => {
    const engine = new NativeRelayEngine(nativeSessions(silentLogger()), silentLogger());
    const client = await socketPair(false);
    const server = await socketPair(false);
    open.push(client.close, server.close);
    const counts: ByteCounts = { bytesIn: 0, bytesOut: 0, relayBytes: null };
    // The "startup phase" ends after 1 MB, while the client reads nothing: the handover waits.
    const watcher = new Watcher(1 << 20);
    engine.start({ client: client.inner, server: server.inner, timeouts: { client: 0, server: 0 }, counts, observeServer: true }, watcher);
    client.outer.pause();
    const payload = Buffer.alloc(8 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
    server.outer.write(payload);
    await waitFor(() => watcher.seen.reduce((n, c) => n + c.length, 0) >= 1 << 20, { what: 'the end of the startup phase' });
    const atClient = collect(client.outer);
    client.outer.resume();
    await waitFor(() => atClient.bytes().length === payload.length, { timeoutMs: 20_000, what: 'every byte at the client' });
    expect(atClient.bytes().equals(payload)).toBe(true);
    await waitFor(() => engine.report().native_sessions === 1, { what: 'the handover' });
    expect(live(counts).bytesOut).toBe(payload.length);
    client.outer.end();
    await waitFor(() => watcher.ends.length === 1, { what: 'the end' });
  });

  it('keeps a session in the JS relay when the relay thread refuses it, and counts why', async () => {
    const full = { adopt: () => { throw new PgrError('PGR_ERR_RELAY_FULL', 'every slot is taken'); } } as unknown as NativeSessions;
    const engine = new NativeRelayEngine(full, silentLogger());
    const client = await socketPair(false);
    const server = await socketPair(false);
    open.push(client.close, server.close);
    const counts: ByteCounts = { bytesIn: 0, bytesOut: 0, relayBytes: null };
    const watcher = new Watcher();
    engine.start({ client: client.inner, server: server.inner, timeouts: { client: 0, server: 0 }, counts, observeServer: false }, watcher);
    await waitFor(() => engine.report().js_fallbacks['full'] === 1, { what: 'the refusal counted' });
    const atClient = collect(client.outer);
    server.outer.write('still relayed');
    await waitFor(() => atClient.bytes().toString() === 'still relayed', { what: 'the bytes through the JS relay' });
    expect(counts).toMatchObject({ bytesOut: 13, relayBytes: null });
    expect(engine.report()).toEqual({ engine: 'native', native_sessions: 0, js_fallbacks: { full: 1 } });
    client.outer.end();
    await waitFor(() => watcher.ends.length === 1, { what: 'the end' });
  });

  it('keeps a TLS-terminated session in the JS relay: its fd carries TLS records', async () => {
    const engine = new NativeRelayEngine(nativeSessions(silentLogger()), silentLogger());
    const client = await socketPair(false);
    const server = await socketPair(false);
    open.push(client.close, server.close);
    const watcher = new Watcher();
    const terminated = new tls.TLSSocket(client.inner, { isServer: true });
    const relay = engine.start({ client: terminated, server: server.inner, timeouts: { client: 0, server: 0 }, counts: { bytesIn: 0, bytesOut: 0, relayBytes: null }, observeServer: false }, watcher);
    expect(engine.report().js_fallbacks).toEqual({ tls: 1 });
    relay.kill('shutdown');
    await waitFor(() => watcher.ends.length === 1, { what: 'the end' });
    expect(watcher.ends[0]?.reason).toBe('shutdown');
    terminated.destroy();
  });
});

describe('the native relay engine, with a stand-in for the relay thread', () => {
  it('ends a killed session with the kill\'s reason when the thread\'s own end report crossed the kill', async () => {
    const entries: NativeEntry[] = [];
    const kills: string[] = [];
    // adopt() takes the session as the thread would (the net.Sockets go); kill() finds it still
    // in the table, but the thread has already ended it: its report (client_closed) is on the way.
    const thread = {
      adopt: (client: net.Socket, server: net.Socket, _timeouts: unknown, entry: NativeEntry): number => {
        client.destroy();
        server.destroy();
        entries.push(entry);
        return 1;
      },
      kill: (_id: number, reason: string): boolean => {
        kills.push(reason);
        return true;
      },
      bytesIn: (): number => 0,
      bytesOut: (): number => 0,
    } as unknown as NativeSessions;
    const engine = new NativeRelayEngine(thread, silentLogger());
    const client = await socketPair(false);
    const server = await socketPair(false);
    open.push(client.close, server.close);
    const watcher = new Watcher();
    const counts: ByteCounts = { bytesIn: 0, bytesOut: 0, relayBytes: null };
    const relay = engine.start({ client: client.inner, server: server.inner, timeouts: { client: 0, server: 0 }, counts, observeServer: false }, watcher);
    await waitFor(() => engine.report().native_sessions === 1, { what: 'the handover' });
    relay.kill('killed_not_primary');
    expect(kills).toEqual(['killed_not_primary']);
    entries[0]?.nativeEnded('client_closed', 10, 20);
    expect(watcher.ends).toEqual([{ reason: 'killed_not_primary', bytesIn: 10, bytesOut: 20 }]);
  });
});
