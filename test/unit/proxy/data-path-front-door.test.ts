// Socket-level tests of the front door: the PROXY protocol header and the allow-list, before the
// startup handshake (issue 11, parts 4 and 5).
import { afterEach, describe, expect, it } from 'vitest';
import { parseCidr } from '../../../src/config/cidr.js';
import type { Cidr, ListenerConfig, ProxyAccept } from '../../../src/config/types.js';
import { listenerConfig, testConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import { cancelPacket, sslRequest, startupPacket } from './helpers/packets.js';
import { azureLinkId, proxyV1, proxyV2 } from './helpers/proxy-header.js';
import { errorFields, RawClient, readySession } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait-for.js';

let f: Fixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

const cidrs = (...texts: string[]): Cidr[] =>
  texts.map((t) => {
    const r = parseCidr(t);
    if (!r.ok) throw new Error(r.message);
    return r.value;
  });

/** One primary listener `rw` with these front-door settings, in front of backend n1. */
async function start(rw: { trusted?: string[]; accept?: ProxyAccept; allow?: string[] }, timeouts: { startup?: number } = {}): Promise<Fixture> {
  const over: Partial<ListenerConfig> = {
    proxy_protocol: rw.trusted ? { accept: rw.accept ?? 'any', trusted: cidrs(...rw.trusted) } : null,
    allow: rw.allow ? cidrs(...rw.allow) : null,
  };
  f = await Fixture.start({ backends: ['n1'], primary: 'n1', config: testConfig({ listeners: [listenerConfig({ name: 'rw', ...over })], timeouts }) });
  return f;
}

const READY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

async function waitReady(raw: RawClient): Promise<void> {
  await waitFor(() => raw.received.includes(READY), { what: 'ReadyForQuery' });
}

function refusals(fx: Fixture): Readonly<Record<string, number>> {
  return fx.dp.traffic()['rw']?.refusals ?? {};
}

const V2_FROM_10 = proxyV2({ source: { address: '10.1.2.3', port: 51234 }, destination: { address: '10.0.0.1', port: 5432 }, tlvs: [azureLinkId(0xa1b2c3d4)] });

describe('DataPath with proxy_protocol', () => {
  it('reads a v1 header, relays the startup behind it, and lists the session under the header’s address', async () => {
    const fx = await start({ trusted: ['127.0.0.0/8'] });
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(Buffer.concat([proxyV1('TCP4 10.1.2.3 10.0.0.1 51234 5432'), startupPacket({ user: 'app' })]));
    await waitReady(raw);
    expect(fx.dp.sessions()).toMatchObject([{ listener: 'rw', client_address: '10.1.2.3:51234' }]);
    expect(fx.dp.sessions()[0]).not.toHaveProperty('link_id');
    expect(fx.backends['n1']?.startups).toEqual([{ user: 'app' }]);
    raw.destroy();
  });

  it('reads a v2 header with the startup in the same chunk, and keeps Azure’s link id on the session', async () => {
    const fx = await start({ trusted: ['127.0.0.1'], accept: 'v2' });
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(Buffer.concat([V2_FROM_10, startupPacket({ user: 'app', database: 'db' })]));
    await waitReady(raw);
    expect(fx.dp.sessions()).toMatchObject([{ client_address: '10.1.2.3:51234', link_id: 0xa1b2c3d4 }]);
    raw.destroy();
  });

  it('passes an SSLRequest that follows the header in the same chunk to the handshake, then the startup', async () => {
    const fx = await start({ trusted: ['127.0.0.0/8'] });
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(Buffer.concat([V2_FROM_10, sslRequest()]));
    expect((await raw.waitBytes(1)).toString()).toBe('N');
    expect(fx.backends['n1']?.sslRequests).toBe(1);
    raw.write(startupPacket({ user: 'app' }));
    await waitReady(raw);
    expect(fx.dp.sessions()).toMatchObject([{ client_address: '10.1.2.3:51234', link_id: 0xa1b2c3d4 }]);
    raw.destroy();
  });

  it('reads a header sent in pieces, one write per byte', async () => {
    const fx = await start({ trusted: ['127.0.0.0/8'] });
    const raw = await RawClient.connect(fx.port('rw'));
    for (const byte of V2_FROM_10) raw.write(Buffer.from([byte]));
    raw.write(startupPacket({ user: 'app' }));
    await waitReady(raw);
    expect(fx.dp.sessions()).toMatchObject([{ client_address: '10.1.2.3:51234' }]);
    raw.destroy();
  });

  it('looks for direct TLS only after the header: a ClientHello behind it is the handshake’s (direct_tls)', async () => {
    const fx = await start({ trusted: ['127.0.0.0/8'] });
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(Buffer.concat([V2_FROM_10, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])]));
    await raw.waitClosed();
    expect(refusals(fx)).toEqual({ direct_tls: 1 });
  });

  it('lets a LOCAL header (a health probe) through with the connection’s own address', async () => {
    const fx = await start({ trusted: ['127.0.0.0/8'] });
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(Buffer.concat([proxyV2({ command: 'local' }), startupPacket({ user: 'probe' })]));
    await waitReady(raw);
    const [s] = fx.dp.sessions();
    expect(s?.client_address).toBe(`127.0.0.1:${raw.socket.localPort ?? 0}`);
    raw.destroy();
  });

  it('closes a connection from an untrusted source without reading or answering it', async () => {
    const fx = await start({ trusted: ['10.0.0.0/8'] });
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(Buffer.concat([V2_FROM_10, startupPacket({ user: 'app' })]));
    await raw.waitClosed();
    expect(raw.received.length).toBe(0);
    expect(refusals(fx)).toEqual({ proxy_untrusted: 1 });
    expect(fx.backends['n1']?.startups).toEqual([]);
  });

  it('closes a client that sends no header, one with a bad header, and one of a version not accepted', async () => {
    const fx = await start({ trusted: ['127.0.0.0/8'], accept: 'v2' });
    const plain = await RawClient.connect(fx.port('rw'));
    plain.write(startupPacket({ user: 'app' }));
    const bad = await RawClient.connect(fx.port('rw'));
    bad.write(proxyV2({ famProto: 0x12, source: { address: '10.1.2.3', port: 1 } }));
    const v1 = await RawClient.connect(fx.port('rw'));
    v1.write(proxyV1('TCP4 10.1.2.3 10.0.0.1 1 2'));
    await Promise.all([plain, bad, v1].map((c) => c.waitClosed()));
    for (const c of [plain, bad, v1]) expect(c.received.length).toBe(0);
    expect(refusals(fx)).toEqual({ proxy_missing: 1, proxy_invalid: 2 });
    expect(fx.backends['n1']?.startups).toEqual([]);
  });

  it('closes a silent connection after timeouts.startup, and a client that goes away before its header', async () => {
    const fx = await start({ trusted: ['127.0.0.0/8'] }, { startup: 200 });
    const silent = await RawClient.connect(fx.port('rw'));
    const halfway = await RawClient.connect(fx.port('rw'));
    halfway.write(V2_FROM_10.subarray(0, 10));
    await waitFor(() => fx.dp.traffic()['rw']?.current === 2, { what: 'both clients at the door' });
    halfway.socket.end();
    await Promise.all([silent.waitClosed(), halfway.waitClosed()]);
    expect(refusals(fx)).toEqual({ startup_timeout: 1, client_closed: 1 });
    expect(fx.dp.traffic()['rw']?.current).toBe(0);
  });

  it('closes a client still at the door when the data path shuts down', async () => {
    const fx = await start({ trusted: ['127.0.0.0/8'] });
    const raw = await RawClient.connect(fx.port('rw'));
    await waitFor(() => fx.dp.traffic()['rw']?.current === 1, { what: 'client at the door' });
    await fx.dp.close({ graceMs: 0 });
    await raw.waitClosed();
    expect(refusals(fx)).toEqual({ shutdown: 1 });
  });
});

describe('DataPath with allow', () => {
  it('answers a startup from outside the allow-list with FATAL 28000 and closes it', async () => {
    const fx = await start({ allow: ['10.0.0.0/8'] });
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitClosed();
    expect(errorFields(raw.received)).toMatchObject({ S: 'FATAL', C: '28000', M: 'connection from host "127.0.0.1" is not allowed on listener "rw" (its allow list)' });
    expect(refusals(fx)).toEqual({ not_allowed: 1 });
    expect(fx.backends['n1']?.startups).toEqual([]);
  });

  it('answers an SSLRequest from outside the allow-list with N, then its startup with FATAL 28000, so libpq shows why', async () => {
    const fx = await start({ allow: ['10.0.0.0/8'] });
    const raw = await RawClient.connect(fx.port('rw'));
    raw.write(sslRequest());
    await waitFor(() => raw.received.length >= 1);
    expect(raw.received.subarray(0, 1).toString()).toBe('N');
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitClosed();
    expect(errorFields(raw.received.subarray(1))).toMatchObject({ S: 'FATAL', C: '28000' });
    expect(refusals(fx)).toEqual({ not_allowed: 1 });
    expect(fx.backends['n1']?.sslRequests).toBe(0);
    expect(fx.backends['n1']?.startups).toEqual([]);
  });

  it('closes a denied client without a byte for a CancelRequest, for bytes pipelined behind its SSLRequest, and for a second SSLRequest', async () => {
    const fx = await start({ allow: ['10.0.0.0/8', '2001:db8::/32'] });
    const cancel = await RawClient.connect(fx.port('rw'));
    cancel.write(cancelPacket(1234, Buffer.from([1, 2, 3, 4])));
    const pipelined = await RawClient.connect(fx.port('rw'));
    pipelined.write(Buffer.concat([sslRequest(), startupPacket({ user: 'app' })]));
    const twice = await RawClient.connect(fx.port('rw'));
    twice.write(sslRequest());
    await waitFor(() => twice.received.length >= 1);
    twice.write(sslRequest());
    await Promise.all([cancel.waitClosed(), pipelined.waitClosed(), twice.waitClosed()]);
    expect(cancel.received.length + pipelined.received.length).toBe(0);
    expect(twice.received.toString()).toBe('N');
    expect(refusals(fx)).toEqual({ not_allowed: 3 });
    expect(fx.backends['n1']?.sslRequests).toBe(0);
    expect(fx.backends['n1']?.cancels).toEqual([]);
  });

  it('lets a client in the allow-list through untouched', async () => {
    const fx = await start({ allow: ['192.0.2.0/24', '127.0.0.0/8'] });
    const { raw } = await readySession(fx.port('rw'));
    expect(fx.dp.sessions()).toHaveLength(1);
    raw.destroy();
  });

  it('judges the address from the PROXY header, not the proxy’s', async () => {
    const fx = await start({ trusted: ['127.0.0.0/8'], allow: ['10.0.0.0/8'] });
    const inside = await RawClient.connect(fx.port('rw'));
    inside.write(Buffer.concat([V2_FROM_10, startupPacket({ user: 'app' })]));
    await waitReady(inside);
    const outside = await RawClient.connect(fx.port('rw'));
    outside.write(Buffer.concat([proxyV1('TCP4 192.0.2.9 10.0.0.1 40000 5432'), startupPacket({ user: 'app' })]));
    await outside.waitClosed();
    expect(errorFields(outside.received)).toMatchObject({ C: '28000', M: 'connection from host "192.0.2.9" is not allowed on listener "rw" (its allow list)' });
    // A LOCAL probe has only the proxy's own address, which is not in `allow`.
    const probe = await RawClient.connect(fx.port('rw'));
    probe.write(Buffer.concat([proxyV2({ command: 'local' }), startupPacket({ user: 'app' })]));
    await probe.waitClosed();
    expect(errorFields(probe.received)).toMatchObject({ C: '28000' });
    expect(refusals(fx)).toEqual({ not_allowed: 2 });
    expect(fx.dp.sessions()).toMatchObject([{ client_address: '10.1.2.3:51234' }]);
    inside.destroy();
  });

  it('applies a reloaded allow-list to new clients of a kept listener', async () => {
    const fx = await start({ allow: ['10.0.0.0/8'] });
    const before = await RawClient.connect(fx.port('rw'));
    before.write(startupPacket({ user: 'app' }));
    await before.waitClosed();
    const port = fx.port('rw');
    const result = await fx.dp.reconfigure(testConfig({ listeners: [listenerConfig({ name: 'rw', allow: cidrs('127.0.0.1') })] }));
    expect(result.kept).toEqual(['rw']);
    expect(fx.port('rw')).toBe(port);
    const { raw } = await readySession(port);
    raw.destroy();
    expect(refusals(fx)).toEqual({ not_allowed: 1 });
  });
});
