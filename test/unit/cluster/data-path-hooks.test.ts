// The DataPath's cluster hooks (CancelKeyHooks): learned and forgotten cancel keys are reported,
// an unknown key is looked up before falling back to the broadcast, and drain() keeps sessions.
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendKey } from '../../../src/protocol/cancel-key.js';
import { DataPath, type CancelKeyHooks } from '../../../src/proxy/data-path.js';
import { silentLogger } from '../../../src/log.js';
import { testConfig } from '../proxy/helpers/config.js';
import { FakeBackend } from '../proxy/helpers/fake-backend.js';
import { cancelPacket, startupPacket } from '../proxy/helpers/packets.js';
import { RawClient } from '../proxy/helpers/raw-client.js';
import { member, view } from '../proxy/helpers/view.js';
import { waitFor } from '../proxy/helpers/wait-for.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

type Owner = { host: string; port: number; key: null } | null;

async function setup(lookup: (pid: number, key: Buffer) => Promise<Owner>) {
  const backends = { n1: await FakeBackend.start('n1'), n2: await FakeBackend.start('n2'), n3: await FakeBackend.start('n3') };
  const events: string[] = [];
  const asked: number[] = [];
  const hooks: CancelKeyHooks = {
    learned: (s, k: BackendKey) => events.push(`learned ${s.listener} ${s.backendPort} ${k.pid}`),
    forgotten: (k) => events.push(`forgotten ${k.pid}`),
    lookup: (pid, key) => (asked.push(pid), lookup(pid, key)),
  };
  const dp = new DataPath({ config: testConfig(), logger: silentLogger(), cancelKeys: hooks });
  await dp.start();
  dp.updateView(view(1, (['n1', 'n2', 'n3'] as const).map((n) => member({ name: n, port: backends[n].port })), 'n1'));
  cleanup.push(async () => {
    await dp.close({ graceMs: 0 });
    await Promise.all(Object.values(backends).map((b) => b.close()));
  });
  const port = (l: string): number => dp.addresses()[l]?.port ?? 0;
  return { dp, backends, events, asked, port };
}

async function session(port: number): Promise<RawClient> {
  const raw = await RawClient.connect(port);
  cleanup.push(async () => {
    raw.socket.destroy();
  });
  raw.write(startupPacket({ user: 'app' }));
  await waitFor(() => raw.received.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])), { what: 'ReadyForQuery' });
  return raw;
}

async function cancel(port: number, pid: number, key: Buffer): Promise<void> {
  const c = await RawClient.connect(port);
  c.write(cancelPacket(pid, key));
  await c.waitClosed();
}

describe('DataPath cancel-key hooks (cluster mode)', () => {
  it('reports a session\'s key when it is learned and when the session ends', async () => {
    const { backends, events, port } = await setup(() => Promise.resolve(null));
    const raw = await session(port('rw'));
    const pid = [...backends.n1.conns][0]?.pid ?? 0;
    expect(events).toEqual([`learned rw ${backends.n1.port} ${pid}`]);
    raw.socket.destroy();
    await waitFor(() => events.length === 2, { what: 'forgotten' });
    expect(events[1]).toBe(`forgotten ${pid}`);
  });

  it('asks for the owner of a key it does not know and sends the cancel to that backend only', async () => {
    const { backends, asked, port } = await setup(() => Promise.resolve({ host: '127.0.0.1', port: backends.n3.port, key: null }));
    await cancel(port('ro'), 4242, Buffer.from([1, 2, 3, 4]));
    await waitFor(() => backends.n3.cancels.length === 1, { what: 'cancel at n3' });
    expect(asked).toEqual([4242]);
    expect(backends.n2.cancels).toEqual([]);
  });

  it('broadcasts when the owner is unknown or the lookup fails, and never asks for a key it relays itself', async () => {
    let fail = false;
    const { backends, asked, port } = await setup(() => (fail ? Promise.reject(new Error('primary gone')) : Promise.resolve(null)));
    await cancel(port('ro'), 1, Buffer.from([1, 1, 1, 1]));
    fail = true;
    await cancel(port('ro'), 2, Buffer.from([2, 2, 2, 2]));
    await waitFor(() => backends.n2.cancels.length === 2 && backends.n3.cancels.length === 2, { what: 'two broadcasts' });
    expect(asked).toEqual([1, 2]);

    await session(port('rw'));
    const conn = [...backends.n1.conns][0];
    await cancel(port('rw'), conn?.pid ?? 0, conn?.key ?? Buffer.alloc(4));
    await waitFor(() => backends.n1.cancels.length === 1, { what: 'exact cancel' });
    expect(asked).toEqual([1, 2]);
  });
});

describe('DataPath.drain', () => {
  it('stops accepting but keeps established sessions, and resolves when the last one ends', async () => {
    const { dp, port } = await setup(() => Promise.resolve(null));
    const rw = port('rw');
    const raw = await session(rw);
    let drained = false;
    const done = dp.drain().then(() => (drained = true));
    await expect(RawClient.connect(rw)).rejects.toThrow(/ECONNREFUSED/);
    expect(raw.closed).toBe(false);
    expect(drained).toBe(false);
    raw.socket.destroy();
    await done;
    expect(drained).toBe(true);
  });
});
