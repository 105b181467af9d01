// Socket-level tests of cancel routing: exact owner when known, broadcast when not.
import { afterEach, describe, expect, it } from 'vitest';
import { listenerConfig, testConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import { cancelPacket, queryPacket } from './helpers/packets.js';
import { errorFields, RawClient, readySession } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait-for.js';

let f: Fixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});



async function sendCancel(port: number, pid: number, key: Buffer): Promise<RawClient> {
  const c = await RawClient.connect(port);
  c.write(cancelPacket(pid, key));
  return c;
}

describe('DataPath cancel requests', () => {
  it('sends a cancel with a known key to the owning replica only, and the query is cancelled', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1' });
    const a = await readySession(f.port('ro'));
    const b = await readySession(f.port('ro'));
    const before = a.raw.received.length;
    a.raw.write(queryPacket('sleep 5'));
    await waitFor(() => f?.backends['n2']?.queries.includes('sleep 5'), { what: 'query to start' });

    const c = await sendCancel(f.port('ro'), a.pid, a.key);
    await c.waitClosed();
    expect(c.received.length).toBe(0);
    await waitFor(() => a.raw.received.length > before, { what: 'cancelled query to answer' });
    expect(errorFields(a.raw.received.subarray(before))).toMatchObject({ C: '57014' });
    expect(f.backends['n2']?.cancels).toEqual([{ pid: a.pid, key: a.key }]);
    expect(f.backends['n3']?.cancels).toEqual([]);
    expect(f.backends['n1']?.cancels).toEqual([]);
    expect(f.cancels()).toEqual({ exact: 1 });
    a.raw.destroy();
    b.raw.destroy();
  });

  it('finds the owner even when the cancel arrives on another listener', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n1' });
    const a = await readySession(f.port('ro'));
    const c = await sendCancel(f.port('rw'), a.pid, a.key);
    await c.waitClosed();
    await waitFor(() => f?.backends['n2']?.cancels.length === 1, { what: 'cancel at n2' });
    expect(f.backends['n1']?.cancels).toEqual([]);
    a.raw.destroy();
  });

  it('sends a cancel with an unknown key to every eligible member of the listener', async () => {
    const config = testConfig({ listeners: [listenerConfig({ name: 'ro', role: 'replica', fallback: 'primary' })] });
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1', config });
    const key = Buffer.from([1, 2, 3, 4]);
    const c = await sendCancel(f.port('ro'), 999, key);
    await c.waitClosed();
    await waitFor(() => ['n1', 'n2', 'n3'].every((n) => f?.backends[n]?.cancels.length === 1), { what: 'broadcast to reach all' });
    for (const n of ['n1', 'n2', 'n3']) expect(f.backends[n]?.cancels).toEqual([{ pid: 999, key }]);
    expect(f.cancels()).toEqual({ broadcast: 1 });
  });

  it('sends an unknown RW cancel to the primary only', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2'], primary: 'n2' });
    const c = await sendCancel(f.port('rw'), 5, Buffer.from([5, 5, 5, 5]));
    await c.waitClosed();
    await waitFor(() => f?.backends['n2']?.cancels.length === 1, { what: 'cancel at the primary' });
    expect(f.backends['n1']?.cancels).toEqual([]);
  });

  it('forwards a protocol 3.2 cancel with a 32-byte key to its exact owner', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1', backend: { keyLength: 32 } });
    const a = await readySession(f.port('ro'));
    expect(a.key.length).toBe(32);
    const c = await sendCancel(f.port('ro'), a.pid, a.key);
    await c.waitClosed();
    await waitFor(() => f?.backends['n2']?.cancels.length === 1, { what: 'cancel at n2' });
    expect(f.backends['n2']?.cancels[0]?.key.equals(a.key)).toBe(true);
    expect(f.backends['n3']?.cancels).toEqual([]);
    expect(f.cancels()).toEqual({ exact: 1 });
    a.raw.destroy();
  });

  it('forgets the cancel key when the session ends, then broadcasts', async () => {
    f = await Fixture.start({ backends: ['n1', 'n2', 'n3'], primary: 'n1' });
    const a = await readySession(f.port('ro'));
    a.raw.destroy();
    await waitFor(() => f?.dp.sessionCount() === 0, { what: 'session gone' });
    const c = await sendCancel(f.port('ro'), a.pid, a.key);
    await c.waitClosed();
    expect(f.cancels()).toEqual({ broadcast: 1 });
  });
});
