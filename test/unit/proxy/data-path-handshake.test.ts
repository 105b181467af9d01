// Socket-level tests of the startup handshake: SSL/GSS negotiation, CVE-2021-23214, bad clients.
import { afterEach, describe, expect, it } from 'vitest';
import { listenerConfig, testConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import { gssencRequest, sslRequest, startupPacket } from './helpers/packets.js';
import { RawClient } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait-for.js';

let f: Fixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

const sslDisabled = (): ReturnType<typeof testConfig> =>
  testConfig({ listeners: [listenerConfig({ name: 'rw', ssl: 'disable' }), listenerConfig({ name: 'ro', role: 'replica' })] });

/** Bytes of a complete startup reply (R, S..., K, Z) as the fake backend sends it. */
async function waitReady(raw: RawClient): Promise<void> {
  await waitFor(() => raw.received.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])), { what: 'ReadyForQuery' });
}

describe('DataPath handshake', () => {
  it("answers an SSLRequest with 'N' itself when ssl is disable, then relays the plaintext startup", async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: sslDisabled() });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(sslRequest());
    expect((await raw.waitBytes(1)).toString()).toBe('N');
    raw.write(startupPacket({ user: 'app' }));
    await waitReady(raw);
    expect(f.backends['n1']?.sslRequests).toBe(0);
    expect(f.backends['n1']?.startups).toEqual([{ user: 'app' }]);
    raw.destroy();
  });

  it("relays the backend's 'N' to an SSLRequest in passthrough mode, then the plaintext startup on the same backend connection", async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1' });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(sslRequest());
    expect((await raw.waitBytes(1)).toString()).toBe('N');
    expect(f.backends['n1']?.sslRequests).toBe(1);
    raw.write(startupPacket({ user: 'app' }));
    await waitReady(raw);
    expect(f.backends['n1']?.conns.size).toBe(1);
    // BackendKeyData was parsed from the plaintext startup: the cancel key is registered.
    await waitFor(() => f?.dp.sessionCount() === 1, { what: 'session registered' });
    raw.destroy();
  });

  it("relays the backend's 'S' and then every byte both ways untouched (TLS end to end)", async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', backend: { sslAnswer: 'S' } });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(sslRequest());
    expect((await raw.waitBytes(1)).toString()).toBe('S');
    // Stand-in for a TLS ClientHello: the fake echoes raw bytes after 'S'.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
    raw.write(hello);
    const got = await raw.waitBytes(1 + hello.length);
    expect(got.subarray(1).equals(hello)).toBe(true);
    raw.destroy();
  });

  it('rejects plaintext bytes pipelined after an SSLRequest without answering (CVE-2021-23214)', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1' });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(Buffer.concat([sslRequest(), startupPacket({ user: 'app' })]));
    await raw.waitClosed();
    expect(raw.received.length).toBe(0);
    expect(f.dp.traffic()['rw']?.refusals).toEqual({ ssl_pipelined: 1 });
    expect(f.backends['n1']?.sslRequests).toBe(0);
  });

  it('rejects pipelined bytes after an SSLRequest with ssl disable too', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: sslDisabled() });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(Buffer.concat([sslRequest(), Buffer.from('Q')]));
    await raw.waitClosed();
    expect(raw.received.length).toBe(0);
    expect(f.dp.traffic()['rw']?.refusals).toEqual({ ssl_pipelined: 1 });
  });

  it('rejects bytes the client sends while the backend has not answered its SSLRequest yet', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: null, config: testConfig({ timeouts: { connect_wait: 10_000 } }) });
    const fixture = f;
    const raw = await RawClient.connect(fixture.port('rw'));
    raw.write(sslRequest());
    await waitFor(() => fixture.dp.traffic()['rw']?.held === 1, { what: 'client held' });
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitClosed();
    expect(raw.received.length).toBe(0);
    expect(fixture.dp.traffic()['rw']?.refusals).toEqual({ ssl_pipelined: 1 });
  });

  it("answers a GSSENCRequest with 'N' and continues with the startup on the same connection", async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1' });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(gssencRequest());
    expect((await raw.waitBytes(1)).toString()).toBe('N');
    raw.write(startupPacket({ user: 'app' }));
    await waitReady(raw);
    raw.destroy();
  });

  it('closes random bytes, oversized packets, direct TLS and silent clients, counts each, and leaves another session working', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ timeouts: { startup: 300 } }) });
    const fixture = f;
    const good = await fixture.pgClient('rw');

    const random = await RawClient.connect(fixture.port('rw'));
    random.write(Buffer.from([0x42, 0x13, 0x37, 0x00, 0xff, 0x10, 0x20, 0x30, 0x40]));
    const oversized = await RawClient.connect(fixture.port('rw'));
    oversized.write(startupPacket({ user: 'app', database: 'x'.repeat(11_000) }));
    const tls = await RawClient.connect(fixture.port('rw'));
    tls.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    const silent = await RawClient.connect(fixture.port('rw'));
    const noUser = await RawClient.connect(fixture.port('rw'));
    noUser.write(startupPacket({ database: 'db' }));

    await Promise.all([random, oversized, tls, silent, noUser].map((c) => c.waitClosed()));
    expect(fixture.dp.traffic()['rw']?.refusals).toEqual({ invalid_startup: 3, direct_tls: 1, startup_timeout: 1 });
    expect(fixture.backends['n1']?.startups.length).toBe(1);
    expect((await good.query<{ backend: string }>('select backend')).rows).toEqual([{ backend: 'n1' }]);
    await good.end();
  });

  it('closes a client that stops halfway through its startup packet after timeouts.startup', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ timeouts: { startup: 200 } }) });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(startupPacket({ user: 'app' }).subarray(0, 10));
    await raw.waitClosed();
    expect(f.dp.traffic()['rw']?.refusals).toEqual({ startup_timeout: 1 });
  });

  it('accepts a startup packet split byte by byte', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1' });
    const raw = await RawClient.connect(f.port('rw'));
    raw.socket.setNoDelay(true);
    for (const byte of startupPacket({ user: 'app', database: 'db' })) {
      raw.write(Buffer.from([byte]));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await waitReady(raw);
    expect(f.backends['n1']?.startups).toEqual([{ user: 'app', database: 'db' }]);
    raw.destroy();
  });
});
