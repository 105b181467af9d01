import { describe, expect, it } from 'vitest';
import { ClientHandshake, handshakeStep, type HandshakeState } from '../../../src/proxy/handshake.js';
import { cancelPacket, gssencRequest, sslRequest, startupPacket } from './helpers/packets.js';

const fresh: HandshakeState = { ssl: 'passthrough', sslDone: false, gssDone: false, inTls: false, requireTls: false };
const disable: HandshakeState = { ...fresh, ssl: 'disable' };
const terminate: HandshakeState = { ...fresh, ssl: 'terminate' };
const hello = Buffer.from([0x16, 3, 1]);

describe('handshakeStep', () => {
  it.each([
    ['waits for more bytes', Buffer.from([0, 0]), fresh, { step: 'wait' }],
    ['relays an SSLRequest in passthrough mode', sslRequest(), fresh, { step: 'ssl_passthrough' }],
    ["answers an SSLRequest itself with ssl: disable", sslRequest(), disable, { step: 'answer_no', request: 'ssl' }],
    ['answers a GSSENCRequest itself', gssencRequest(), fresh, { step: 'answer_no', request: 'gssenc' }],
    ['accepts an SSLRequest after a GSSENCRequest was refused (libpq order)', sslRequest(), { ...fresh, gssDone: true }, { step: 'ssl_passthrough' }],
    ['rejects a second SSLRequest', sslRequest(), { ...fresh, sslDone: true }, { step: 'reject', reason: 'invalid_startup', detail: 'repeated ssl_request' }],
    ['rejects a second GSSENCRequest', gssencRequest(), { ...fresh, gssDone: true }, { step: 'reject', reason: 'invalid_startup', detail: 'repeated gssenc_request' }],
    ['rejects bytes pipelined after an SSLRequest (CVE-2021-23214)', Buffer.concat([sslRequest(), Buffer.from([0])]), fresh, { step: 'reject', reason: 'ssl_pipelined' }],
    ['rejects them with ssl: disable too', Buffer.concat([sslRequest(), startupPacket({ user: 'u' })]), disable, { step: 'reject', reason: 'ssl_pipelined' }],
    ['rejects bytes pipelined after a GSSENCRequest', Buffer.concat([gssencRequest(), Buffer.from('x')]), fresh, { step: 'reject', reason: 'gssenc_pipelined' }],
    ['refuses a direct TLS ClientHello when it does not terminate TLS', hello, fresh, { step: 'reject', reason: 'direct_tls', detail: 'direct TLS on a listener with ssl: passthrough' }],
    ['starts TLS on a direct TLS ClientHello with ssl: terminate, handing the bytes on', hello, terminate, { step: 'start_tls', direct: true, hello }],
    ["answers 'S' and starts TLS on an SSLRequest with ssl: terminate", sslRequest(), terminate, { step: 'start_tls', direct: false, hello: Buffer.alloc(0) }],
    ['still refuses bytes pipelined after the SSLRequest with ssl: terminate (CVE-2021-23214)', Buffer.concat([sslRequest(), hello]), terminate, { step: 'reject', reason: 'ssl_pipelined' }],
    ["answers 'N' to an SSLRequest inside direct TLS", sslRequest(), { ...terminate, inTls: true }, { step: 'answer_no', request: 'ssl' }],
    ['refuses a TLS record inside TLS', hello, { ...terminate, inTls: true }, { step: 'reject', reason: 'direct_tls', detail: 'a TLS record inside TLS' }],
    ['serves a CancelRequest inside TLS (libpq 17 encrypts its cancels)', cancelPacket(7, Buffer.from([9, 9, 9, 9])), { ...terminate, inTls: true }, { step: 'cancel', pid: 7, key: Buffer.from([9, 9, 9, 9]) }],
    ['serves a plaintext CancelRequest even when TLS is required (libpq before 17 sends it so)', cancelPacket(7, Buffer.from([9, 9, 9, 9])), { ...terminate, requireTls: true }, { step: 'cancel', pid: 7, key: Buffer.from([9, 9, 9, 9]) }],
    ['forwards a cancel', cancelPacket(3, Buffer.from([1, 2, 3, 4])), fresh, { step: 'cancel', pid: 3, key: Buffer.from([1, 2, 3, 4]) }],
  ] as const)('%s', (_what, acc, state, expected) => {
    expect(handshakeStep(acc, state)).toEqual(expected);
  });

  it('returns the startup packet, the user and whatever the client pipelined after it', () => {
    const packet = startupPacket({ user: 'app' });
    const step = handshakeStep(Buffer.concat([packet, Buffer.from('Qx')]), fresh);
    expect(step).toEqual({ step: 'startup', packet, tail: Buffer.from('Qx'), user: 'app' });
  });

  it('refuses a plaintext StartupMessage with 28000 when TLS is required, and takes it inside TLS', () => {
    const packet = startupPacket({ user: 'app' });
    const refused = handshakeStep(packet, { ...terminate, requireTls: true });
    expect(refused).toMatchObject({ step: 'reject', reason: 'tls_required' });
    expect(refused.step === 'reject' && refused.message?.toString('latin1')).toContain('C28000');
    expect(handshakeStep(packet, { ...terminate, requireTls: true, inTls: true })).toMatchObject({ step: 'startup', user: 'app' });
  });

  it('rejects garbage with the decoder reason as detail', () => {
    expect(handshakeStep(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0]), fresh)).toMatchObject({ step: 'reject', reason: 'invalid_startup', detail: 'packet length 4 below 8' });
  });
});

describe('ClientHandshake', () => {
  it('gathers a packet split byte by byte, then starts over for the next one', () => {
    const h = new ClientHandshake();
    const ssl = sslRequest();
    for (const byte of ssl.subarray(0, ssl.length - 1)) expect(h.feed(Buffer.from([byte]), 'disable')).toEqual({ step: 'wait' });
    expect(h.feed(ssl.subarray(ssl.length - 1), 'disable')).toEqual({ step: 'answer_no', request: 'ssl' });
    const packet = startupPacket({ user: 'app' });
    expect(h.feed(packet, 'disable')).toEqual({ step: 'startup', packet, tail: Buffer.alloc(0), user: 'app' });
  });

  it('remembers what the client negotiated: a second SSLRequest or GSSENCRequest is refused', () => {
    const h = new ClientHandshake();
    expect(h.feed(gssencRequest(), 'passthrough')).toEqual({ step: 'answer_no', request: 'gssenc' });
    expect(h.feed(sslRequest(), 'passthrough')).toEqual({ step: 'ssl_passthrough' });
    expect(h.feed(sslRequest(), 'passthrough')).toMatchObject({ step: 'reject', detail: 'repeated ssl_request' });
    expect(h.feed(gssencRequest(), 'passthrough')).toMatchObject({ step: 'reject', detail: 'repeated gssenc_request' });
  });
});

describe('ClientHandshake with ssl: terminate', () => {
  it("after its 'S' takes the StartupMessage from inside TLS and refuses a second SSLRequest there", () => {
    const h = new ClientHandshake();
    expect(h.feed(sslRequest(), 'terminate', true)).toEqual({ step: 'start_tls', direct: false, hello: Buffer.alloc(0) });
    expect(h.feed(sslRequest(), 'terminate', true)).toMatchObject({ step: 'reject', detail: 'repeated ssl_request' });
  });

  it("after direct TLS answers an SSLRequest 'N' once, then takes the StartupMessage although TLS is required", () => {
    const h = new ClientHandshake();
    expect(h.feed(hello, 'terminate', true)).toMatchObject({ step: 'start_tls', direct: true });
    expect(h.feed(sslRequest(), 'terminate', true)).toEqual({ step: 'answer_no', request: 'ssl' });
    expect(h.feed(startupPacket({ user: 'app' }), 'terminate', true)).toMatchObject({ step: 'startup', user: 'app' });
  });
});
