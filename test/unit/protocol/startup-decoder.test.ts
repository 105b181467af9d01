import { describe, expect, it } from 'vitest';
import { decodeStartup, type StartupDecode } from '../../../src/protocol/startup-decoder.js';
import { cancelPacket, codePacket, gssencRequest, sslRequest, startupPacket } from '../proxy/helpers/packets.js';

function withLength(body: Buffer, length = body.length + 4): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(length, 0);
  return Buffer.concat([head, body]);
}

function rawStartup(bodyAfterCode: string, version = 196608): Buffer {
  const code = Buffer.alloc(4);
  code.writeUInt32BE(version, 0);
  return withLength(Buffer.concat([code, Buffer.from(bodyAfterCode, 'latin1')]));
}

const VALID: Array<[string, Buffer]> = [
  ['an SSLRequest', sslRequest()],
  ['a GSSENCRequest', gssencRequest()],
  ['a 3.0 CancelRequest', cancelPacket(1234, Buffer.from([1, 2, 3, 4]))],
  ['a 3.2 CancelRequest with a 32-byte key', cancelPacket(99, Buffer.alloc(32, 7))],
  ['a 3.0 StartupMessage', startupPacket({ user: 'app', database: 'db', application_name: 'x' })],
  ['a 3.2 StartupMessage', startupPacket({ user: 'app', _pq_: 'opt' }, 196610)],
];

describe('decodeStartup', () => {
  it('decodes an SSLRequest and a GSSENCRequest of exactly 8 bytes', () => {
    expect(decodeStartup(sslRequest())).toEqual({ kind: 'ssl_request', consumed: 8 });
    expect(decodeStartup(gssencRequest())).toEqual({ kind: 'gssenc_request', consumed: 8 });
  });

  it('rejects an SSLRequest or GSSENCRequest whose length is not 8', () => {
    const longSsl = withLength(Buffer.concat([codePacket(80877103).subarray(4), Buffer.alloc(4)]));
    expect(decodeStartup(longSsl).kind).toBe('invalid');
    const longGss = withLength(Buffer.concat([codePacket(80877104).subarray(4), Buffer.alloc(4)]));
    expect(decodeStartup(longGss).kind).toBe('invalid');
  });

  it('decodes a 3.0 CancelRequest with its pid and 4-byte key', () => {
    const d = decodeStartup(cancelPacket(4242, Buffer.from([9, 8, 7, 6])));
    expect(d).toEqual({ kind: 'cancel', pid: 4242, key: Buffer.from([9, 8, 7, 6]), consumed: 16 });
  });

  it('decodes 3.2 CancelRequests with keys from 4 up to 256 bytes and rejects 3 or 257', () => {
    for (const n of [4, 5, 32, 256]) {
      const d = decodeStartup(cancelPacket(7, Buffer.alloc(n, 1)));
      expect(d.kind).toBe('cancel');
      if (d.kind === 'cancel') expect(d.key.length).toBe(n);
    }
    for (const n of [0, 3, 257]) expect(decodeStartup(cancelPacket(7, Buffer.alloc(n, 1))).kind).toBe('invalid');
  });

  it('decodes StartupMessage 3.0 and 3.2 with their parameters and a copy of the packet', () => {
    const packet = startupPacket({ user: 'app', database: 'db' });
    const d = decodeStartup(packet);
    expect(d.kind).toBe('startup');
    if (d.kind !== 'startup') return;
    expect(d.version).toBe('3.0');
    expect({ ...d.params }).toEqual({ user: 'app', database: 'db' });
    expect(d.packet.equals(packet)).toBe(true);
    expect(d.consumed).toBe(packet.length);
    const d32 = decodeStartup(startupPacket({ user: 'u' }, 196610));
    expect(d32.kind === 'startup' && d32.version).toBe('3.2');
  });

  it('keeps a parameter named __proto__ as a plain entry', () => {
    const d = decodeStartup(startupPacket({ user: 'u', ['__proto__']: 'x' }));
    expect(d.kind === 'startup' && d.params['__proto__']).toBe('x');
    expect(d.kind === 'startup' && Object.getPrototypeOf(d.params)).toBe(null);
  });

  it('reports the pipelined rest through consumed', () => {
    const both = Buffer.concat([sslRequest(), startupPacket({ user: 'u' })]);
    expect(decodeStartup(both)).toEqual({ kind: 'ssl_request', consumed: 8 });
  });

  it.each<[string, Buffer]>([
    ['a startup without user', startupPacket({ database: 'db' })],
    ['a startup with an empty user', startupPacket({ user: '' })],
    ['a startup without the final NUL', rawStartup('user\0u\0')],
    ['a startup with a name but no value', rawStartup('user\0u\0database\0')],
    ['a startup with bytes after the terminator', rawStartup('user\0u\0\0x')],
    ['a startup with no parameters at all', rawStartup('')],
    ['protocol 3.1 (no exact code)', startupPacket({ user: 'u' }, 196609)],
    ['protocol 2.0', startupPacket({ user: 'u' }, 131072)],
    ['an unknown request code', codePacket(80877199)],
    ['a length below 8', withLength(Buffer.alloc(3), 7)],
    ['a length of 0', Buffer.alloc(8)],
    ['a length over 10000', startupPacket({ user: 'u', database: 'x'.repeat(10_000) })],
    ['a length field of 10001 before the body arrives', withLength(Buffer.alloc(4), 10_001)],
  ])('rejects %s', (_what, packet) => {
    expect(decodeStartup(packet).kind).toBe('invalid');
  });

  it('rejects a length over 10000 as soon as the first byte shows it', () => {
    expect(decodeStartup(Buffer.from([0x01]))).toMatchObject({ kind: 'invalid' });
    expect(decodeStartup(Buffer.from([0x00, 0x01]))).toMatchObject({ kind: 'invalid' });
  });

  it('recognizes a direct TLS ClientHello by its first byte (PostgreSQL 17), before any length', () => {
    expect(decodeStartup(Buffer.from([0x16]))).toEqual({ kind: 'direct_tls', consumed: 0 });
    expect(decodeStartup(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8]))).toEqual({ kind: 'direct_tls', consumed: 0 });
  });

  it('accepts a startup packet of exactly 10000 bytes', () => {
    const base = startupPacket({ user: 'u', database: '' });
    const packet = startupPacket({ user: 'u', database: 'x'.repeat(10_000 - base.length) });
    expect(packet.length).toBe(10_000);
    expect(decodeStartup(packet).kind).toBe('startup');
  });

  it.each(VALID)('returns incomplete for every strict prefix of %s and the same result at every split point', (_what, packet) => {
    const whole = decodeStartup(packet);
    for (let cut = 0; cut < packet.length; cut++) {
      expect(decodeStartup(packet.subarray(0, cut)).kind, `prefix ${cut}`).toBe('incomplete');
      // Two chunks accumulated at this split point decode like the whole packet.
      const acc = Buffer.concat([packet.subarray(0, cut), packet.subarray(cut)]);
      expect(decodeStartup(acc)).toEqual(whole);
    }
  });

  it.each(VALID)('decodes %s fed byte by byte into an accumulator', (_what, packet) => {
    let acc = Buffer.alloc(0);
    let last: StartupDecode = { kind: 'incomplete', consumed: 0 };
    for (const byte of packet) {
      acc = Buffer.concat([acc, Buffer.from([byte])]);
      last = decodeStartup(acc);
      if (acc.length < packet.length) expect(last.kind).toBe('incomplete');
    }
    expect(last).toEqual(decodeStartup(packet));
  });

  it('never throws on 10,000 random buffers and always returns a known kind', () => {
    let seed = 42;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const kinds = new Set(['incomplete', 'ssl_request', 'gssenc_request', 'cancel', 'startup', 'invalid']);
    for (let i = 0; i < 10_000; i++) {
      const len = Math.floor(rand() * 64);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = Math.floor(rand() * 256);
      // Half of them get a plausible header so the deeper branches are exercised too.
      if (i % 2 === 0 && len >= 8) {
        buf.writeUInt32BE(Math.floor(rand() * 80), 0);
        buf.writeUInt32BE([80877103, 80877104, 80877102, 196608, 196610][i % 5] ?? 0, 4);
      }
      const d = decodeStartup(buf);
      expect(kinds.has(d.kind)).toBe(true);
      expect(d.consumed).toBeLessThanOrEqual(buf.length);
    }
  });
});
