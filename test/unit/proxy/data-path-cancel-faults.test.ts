// Cancel requests under fault (issue 10, defect 4): one unauthenticated 16-byte CancelRequest
// with an unknown key fanned out to every candidate backend, with no bound (each connection a
// postmaster fork). Outgoing cancel connections are now capped per process and per client
// address, and with `cancel.rewrite_keys` the client holds a key pgrouter made, which routes the
// cancel to its one owner, to a peer router, or nowhere.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRewrittenPid } from '../../../src/protocol/cancel-key.js';
import { silentLogger } from '../../../src/log.js';
import { DataPath } from '../../../src/proxy/data-path.js';
import { listenerConfig, testConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import { cancelPacket, queryPacket } from './helpers/packets.js';
import { errorFields, RawClient, readySession } from './helpers/raw-client.js';
import { member, view } from './helpers/view.js';
import { waitFor } from './helpers/wait-for.js';

const cleanup: Array<() => Promise<void> | void> = [];
let f: Fixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A server that accepts and never closes: every cancel sent to it holds a connection open. */
async function holder(): Promise<{ port: number; open: () => number; accepted: () => number; packets: Buffer[] }> {
  const sockets = new Set<net.Socket>();
  const packets: Buffer[] = [];
  let accepted = 0;
  // allowHalfOpen: the cancel's FIN does not close it either (a postmaster slow to fork).
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    sockets.add(s);
    s.on('data', (d: Buffer) => packets.push(d));
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, open: () => sockets.size, accepted: () => accepted, packets };
}

async function sendCancel(port: number, pid: number, key: Buffer): Promise<void> {
  const c = await RawClient.connect(port);
  c.write(cancelPacket(pid, key));
  await c.waitClosed();
}

describe('outgoing cancel connections are capped', () => {
  it('drops and counts the unknown cancels of one client beyond cancel.max_inflight_per_client', async () => {
    const targets = [await holder(), await holder(), await holder()];
    const config = testConfig({
      listeners: [listenerConfig({ name: 'ro', role: 'replica' })],
      cancel: { max_inflight: 64, max_inflight_per_client: 8 },
      timeouts: { connect: 5_000 },
    });
    const dp = new DataPath({ config, logger: silentLogger() });
    cleanup.push(() => dp.close({ graceMs: 0 }));
    await dp.start();
    dp.updateView(view(1, [member({ name: 'n1' }), ...targets.map((t, i) => member({ name: `r${i}`, port: t.port }))], 'n1'));
    const port = dp.addresses()['ro']?.port ?? 0;
    // 10 unknown cancels × 3 replicas would be 30 connections held open; 8 may be.
    for (let i = 0; i < 10; i++) await sendCancel(port, 1000 + i, Buffer.from([1, 2, 3, i]));
    await waitFor(() => targets.reduce((n, t) => n + t.accepted(), 0) === 6, { what: `two broadcasts to arrive (${targets.map((t) => t.accepted()).join(',')} ${JSON.stringify(dp.traffic()['ro']?.cancels)})` });
    const ro = dp.traffic()['ro'];
    expect(ro?.cancels).toEqual({ broadcast: 2, dropped_limit: 8 });
    expect(targets.reduce((n, t) => n + t.open(), 0)).toBe(6);
  });

  it('drops cancels beyond cancel.max_inflight for the whole process, whoever sends them', async () => {
    const target = await holder();
    const config = testConfig({ listeners: [listenerConfig({ name: 'rw', role: 'primary' })], cancel: { max_inflight: 3, max_inflight_per_client: 8 }, timeouts: { connect: 5_000 } });
    const dp = new DataPath({ config, logger: silentLogger() });
    cleanup.push(() => dp.close({ graceMs: 0 }));
    await dp.start();
    dp.updateView(view(1, [member({ name: 'n1', port: target.port })], 'n1'));
    const port = dp.addresses()['rw']?.port ?? 0;
    for (let i = 0; i < 5; i++) await sendCancel(port, 2000 + i, Buffer.from([9, 9, 9, i]));
    await waitFor(() => target.accepted() === 3, { what: 'three cancels to arrive' });
    expect(dp.traffic()['rw']?.cancels).toEqual({ broadcast: 3, dropped_limit: 2 });
  });
});

describe('cancel key rewriting (cancel.rewrite_keys)', () => {
  const rewrite = (extra: object = {}) => testConfig({ cancel: { rewrite_keys: true, instance_id: 7, ...extra } });

  it('hands the client a key pgrouter made, of the server\'s length, and cancels with the real one', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1', config: rewrite(), backend: { keyLength: 32 } });
    const a = await readySession(f.port('ro'));
    const owner = [f.backends['n2'], f.backends['n3']].find((b) => b && b.conns.size > 0);
    const real = [...(owner?.conns ?? [])][0];
    expect(a.key.length).toBe(32);
    expect(a.key.equals(real?.key ?? Buffer.alloc(0))).toBe(false);
    expect(a.pid).not.toBe(real?.pid);
    expect(decodeRewrittenPid(a.pid)).toMatchObject({ instance: 7 });

    const before = a.raw.received.length;
    a.raw.write(queryPacket('sleep 5'));
    await waitFor(() => owner?.queries.includes('sleep 5'), { what: 'query to start' });
    await sendCancel(f.port('ro'), a.pid, a.key);
    await waitFor(() => a.raw.received.length > before, { what: 'the cancelled query to answer' });
    expect(errorFields(a.raw.received.subarray(before))).toMatchObject({ C: '57014' });
    expect(owner?.cancels).toEqual([{ pid: real?.pid, key: real?.key }]);
    expect(f.dp.traffic()['ro']?.cancels).toEqual({ exact: 1 });
    a.raw.destroy();
  });

  it('drops a cancel whose key names this instance but no session, and sends nothing', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: rewrite() });
    const a = await readySession(f.port('ro'));
    a.raw.destroy();
    await waitFor(() => f?.dp.sessionCount() === 0, { what: 'the session to end' });
    await sendCancel(f.port('ro'), a.pid, a.key);
    await waitFor(() => f?.dp.traffic()['ro']?.cancels?.['dropped_unknown'] === 1, { what: 'the drop to be counted' });
    expect([f.backends['n1']?.cancels, f.backends['n2']?.cancels]).toEqual([[], []]);
  });

  it('forwards a cancel whose key names a configured peer to that peer, unchanged', async () => {
    const peer = await holder();
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: rewrite({ peers: [{ id: 9, host: '127.0.0.1', port: peer.port }] }) });
    const peerPid = (1 << 30) | (9 << 22) | 5;
    const key = Buffer.from([4, 3, 2, 1]);
    await sendCancel(f.port('ro'), peerPid, key);
    await waitFor(() => Buffer.concat(peer.packets).length === 16, { what: 'the cancel at the peer' });
    expect(Buffer.concat(peer.packets).equals(cancelPacket(peerPid, key))).toBe(true);
    expect(f.dp.traffic()['ro']?.cancels).toEqual({ forwarded_peer: 1 });
    expect(f.backends['n2']?.cancels).toEqual([]);
  });

  it('drops a cancel whose key names an instance that is neither this one nor a peer', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1', config: rewrite() });
    await sendCancel(f.port('ro'), (1 << 30) | (3 << 22) | 1, Buffer.from([1, 1, 1, 1]));
    await waitFor(() => f?.dp.traffic()['ro']?.cancels?.['dropped_unknown'] === 1, { what: 'the drop to be counted' });
    expect([f.backends['n1']?.cancels, f.backends['n2']?.cancels]).toEqual([[], []]);
  });

  it('still broadcasts, within the caps, a key it never saw (TLS pass-through sessions)', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1', config: rewrite() });
    await sendCancel(f.port('ro'), 4242, Buffer.from([7, 7, 7, 7]));
    await waitFor(() => f?.backends['n2']?.cancels.length === 1 && f?.backends['n3']?.cancels.length === 1, { what: 'the broadcast' });
    expect(f.dp.traffic()['ro']?.cancels).toEqual({ broadcast: 1 });
  });
});
