import { describe, expect, it } from 'vitest';
import { ClientHandshake, handshakeStep, type HandshakeState } from '../../../src/proxy/handshake.js';
import { cancelPacket, gssencRequest, sslRequest, startupPacket } from './helpers/packets.js';

const fresh: HandshakeState = { ssl: 'passthrough', sslDone: false, gssDone: false };
const disable: HandshakeState = { ...fresh, ssl: 'disable' };

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
    ['labels a direct TLS ClientHello', Buffer.from([0x16, 3, 1]), fresh, { step: 'reject', reason: 'direct_tls', detail: 'direct TLS not supported yet' }],
    ['forwards a cancel', cancelPacket(3, Buffer.from([1, 2, 3, 4])), fresh, { step: 'cancel', pid: 3, key: Buffer.from([1, 2, 3, 4]) }],
  ] as const)('%s', (_what, acc, state, expected) => {
    expect(handshakeStep(acc, state)).toEqual(expected);
  });

  it('returns the startup packet, the user and whatever the client pipelined after it', () => {
    const packet = startupPacket({ user: 'app' });
    const step = handshakeStep(Buffer.concat([packet, Buffer.from('Qx')]), fresh);
    expect(step).toEqual({ step: 'startup', packet, tail: Buffer.from('Qx'), user: 'app' });
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
