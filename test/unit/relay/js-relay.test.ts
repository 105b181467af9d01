// The relay contract (src/relay/relay.ts), checked on the JS engine with real loopback sockets.
// Written against RelayEngine only, so a second engine can run the same table.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { JS_RELAY } from '../../../src/relay/js-relay.js';
import type { RelayEnd, RelayEngine, RelayObserver } from '../../../src/relay/relay.js';
import { waitFor } from '../proxy/helpers/wait-for.js';

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

class Watcher implements RelayObserver {
  readonly ends: RelayEnd[] = [];
  readonly seen: Buffer[] = [];
  relayServerData(chunk: Buffer): void {
    this.seen.push(chunk);
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

const open: Array<() => void> = [];
afterEach(() => {
  for (const close of open.splice(0)) close();
});

async function relayed(engine: RelayEngine, opts: { timeouts?: { client: number; server: number }; observeServer?: boolean; halfOpen?: boolean } = {}) {
  const { timeouts = { client: 0, server: 0 }, observeServer = false, halfOpen = false } = opts;
  const client = await socketPair(halfOpen);
  const server = await socketPair(halfOpen);
  open.push(client.close, server.close);
  const counts = { bytesIn: 7, bytesOut: 3 };
  const watcher = new Watcher();
  const relay = engine.start({ client: client.inner, server: server.inner, timeouts, counts, observeServer }, watcher);
  return { client: client.outer, server: server.outer, counts, watcher, relay };
}

describe.each([JS_RELAY])('the $name relay engine', (engine) => {
  it('moves bytes both ways, adds them to the counts as they pass, and ends once with its own totals', async () => {
    const r = await relayed(engine);
    const atServer = collect(r.server);
    const atClient = collect(r.client);
    r.client.write('hello');
    r.server.write('world!');
    await waitFor(() => atServer.bytes().toString() === 'hello' && atClient.bytes().toString() === 'world!', { what: 'bytes both ways' });
    expect(r.counts).toEqual({ bytesIn: 7 + 5, bytesOut: 3 + 6 });
    r.client.end();
    await waitFor(() => r.watcher.ends.length === 1, { what: 'the relay to end' });
    expect(r.watcher.ends).toEqual([{ reason: expect.stringMatching(/^(client|server)_closed$/) as unknown, bytesIn: 5, bytesOut: 6 }]);
  });

  it('passes a FIN on as a FIN, so the other side can still answer', async () => {
    const r = await relayed(engine, { halfOpen: true });
    const atClient = collect(r.client);
    const serverSawEnd = new Promise<void>((resolve) => r.server.once('end', resolve));
    r.client.end();
    await serverSawEnd;
    r.server.end('bye');
    await waitFor(() => atClient.bytes().toString() === 'bye', { what: 'the answer after the FIN' });
  });

  it('kills both sockets at once, ending with the reason of the first kill', async () => {
    const r = await relayed(engine);
    const closed = Promise.all([r.client, r.server].map((s) => new Promise<void>((resolve) => s.once('close', () => resolve()))));
    r.relay.kill('killed_not_primary');
    r.relay.kill('shutdown');
    await closed;
    await waitFor(() => r.watcher.ends.length > 0, { what: 'the end' });
    expect(r.watcher.ends.map((e) => e.reason)).toEqual(['killed_not_primary']);
  });

  it('ends an idle session with server_timeout', async () => {
    const r = await relayed(engine, { timeouts: { client: 0, server: 100 } });
    await waitFor(() => r.watcher.ends.length === 1, { what: 'the idle timeout' });
    expect(r.watcher.ends[0]?.reason).toBe('server_timeout');
  });

  it('shows server chunks to the session only when asked to', async () => {
    const quiet = await relayed(engine);
    const watched = await relayed(engine, { observeServer: true });
    const got = [collect(quiet.client), collect(watched.client)];
    quiet.server.write('one');
    watched.server.write('two');
    await waitFor(() => got.every((g) => g.bytes().length === 3), { what: 'both answers' });
    expect(quiet.watcher.seen).toEqual([]);
    expect(Buffer.concat(watched.watcher.seen).toString()).toBe('two');
  });
});
