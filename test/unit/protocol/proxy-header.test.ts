import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeProxyHeader, MAX_PROXY_V1, MAX_PROXY_V2, type ProxyHeaderDecode } from '../../../src/protocol/proxy-header.js';
import { sslRequest, startupPacket } from '../proxy/helpers/packets.js';
import { azureLinkId, proxyV1, proxyV2, V2_SIGNATURE } from '../proxy/helpers/proxy-header.js';

const CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4]);

const VALID: Array<[string, Buffer]> = [
  ['a v1 TCP4 header', proxyV1('TCP4 10.1.2.3 10.0.0.1 51234 5432')],
  ['a v1 TCP6 header', proxyV1('TCP6 2001:db8::7 2001:db8::1 51234 5432')],
  ['a v1 UNKNOWN header', proxyV1('UNKNOWN')],
  ['a v2 TCP4 header with an Azure LINKID', proxyV2({ source: { address: '10.1.2.3', port: 51234 }, tlvs: [azureLinkId(0x01020304)] })],
  ['a v2 TCP6 header', proxyV2({ source: { address: '2001:db8::7', port: 51234 } })],
  ['a v2 LOCAL header', proxyV2({ command: 'local' })],
  ['a v2 UNSPEC header with an unknown TLV', proxyV2({ tlvs: [{ type: 0xe0, value: Buffer.from('hi') }] })],
];

function header(d: ProxyHeaderDecode): Extract<ProxyHeaderDecode, { kind: 'header' }> {
  if (d.kind !== 'header') throw new Error(`expected a header, got ${JSON.stringify(d)}`);
  return d;
}

describe('decodeProxyHeader, version 1', () => {
  it('reads a TCP4 line and leaves the StartupMessage behind it to the next phase', () => {
    const h = proxyV1('TCP4 10.1.2.3 10.0.0.1 51234 5432');
    const d = header(decodeProxyHeader(Buffer.concat([h, startupPacket({ user: 'app' })]), 'any'));
    expect(d).toEqual({
      kind: 'header',
      version: 1,
      source: { address: '10.1.2.3', port: 51234 },
      destination: { address: '10.0.0.1', port: 5432 },
      linkId: null,
      consumed: h.length,
    });
  });

  it('reads a TCP6 line and gives its addresses in canonical form', () => {
    const d = header(decodeProxyHeader(proxyV1('TCP6 2001:DB8:0:0:0:0:0:7 ::FFFF:10.1.2.3 1 65535'), 'v1'));
    expect(d.source).toEqual({ address: '2001:db8::7', port: 1 });
    expect(d.destination).toEqual({ address: '::ffff:10.1.2.3', port: 65535 });
  });

  it('takes UNKNOWN, with or without more on the line, as a header without an address', () => {
    for (const line of ['UNKNOWN', 'UNKNOWN 1.2.3.4 whatever']) {
      expect(header(decodeProxyHeader(proxyV1(line), 'v1')).source).toBeNull();
    }
  });

  it('accepts a line of exactly 107 bytes and refuses one of 108', () => {
    const pad = (n: number): Buffer => proxyV1(`UNKNOWN ${'x'.repeat(n)}`);
    const max = pad(MAX_PROXY_V1 - proxyV1('UNKNOWN ').length);
    expect(max.length).toBe(MAX_PROXY_V1);
    expect(header(decodeProxyHeader(max, 'v1')).consumed).toBe(107);
    const over = pad(MAX_PROXY_V1 - proxyV1('UNKNOWN ').length + 1);
    expect(decodeProxyHeader(over, 'v1').kind).toBe('invalid');
    // Without its end, too: 106 bytes and no CR is already too long.
    expect(decodeProxyHeader(over.subarray(0, 106), 'v1').kind).toBe('invalid');
    expect(decodeProxyHeader(over.subarray(0, 105), 'v1').kind).toBe('incomplete');
  });

  it.each<[string, Buffer]>([
    ['an unknown protocol', proxyV1('UDP4 10.1.2.3 10.0.0.1 1 2')],
    ['a missing port', proxyV1('TCP4 10.1.2.3 10.0.0.1 1')],
    ['an extra field', proxyV1('TCP4 10.1.2.3 10.0.0.1 1 2 3')],
    ['two spaces', proxyV1('TCP4  10.1.2.3 10.0.0.1 1 2')],
    ['an IPv6 address in TCP4', proxyV1('TCP4 ::1 10.0.0.1 1 2')],
    ['an IPv4 address in TCP6', proxyV1('TCP6 10.1.2.3 ::1 1 2')],
    ['an octet over 255', proxyV1('TCP4 10.1.2.256 10.0.0.1 1 2')],
    ['an octet with a leading zero', proxyV1('TCP4 10.01.2.3 10.0.0.1 1 2')],
    ['a port over 65535', proxyV1('TCP4 10.1.2.3 10.0.0.1 65536 2')],
    ['a port with a leading zero', proxyV1('TCP4 10.1.2.3 10.0.0.1 080 2')],
    ['an empty line', proxyV1('')],
    ['a CR without LF', Buffer.from('PROXY UNKNOWN\rX\n', 'latin1')],
    ['a bare LF', Buffer.from('PROXY UNKNOWN\n', 'latin1')],
    ['a NUL byte', Buffer.from('PROXY UNK\0NOWN\r\n', 'latin1')],
  ])('refuses a v1 line with %s', (_what, bytes) => {
    expect(decodeProxyHeader(bytes, 'any').kind).toBe('invalid');
  });
});

describe('decodeProxyHeader, version 2', () => {
  it('reads a TCP4 header with Azure LINKID by its length, leaving the SSLRequest behind it', () => {
    const h = proxyV2({ source: { address: '10.1.2.3', port: 51234 }, destination: { address: '10.0.0.1', port: 5432 }, tlvs: [azureLinkId(0xdeadbeef)] });
    const d = header(decodeProxyHeader(Buffer.concat([h, sslRequest()]), 'v2'));
    expect(d).toEqual({
      kind: 'header',
      version: 2,
      source: { address: '10.1.2.3', port: 51234 },
      destination: { address: '10.0.0.1', port: 5432 },
      linkId: 0xdeadbeef,
      consumed: h.length,
    });
  });

  it('reads a TCP6 header, and does not swallow a TLS ClientHello in the same chunk', () => {
    const h = proxyV2({ source: { address: '2001:db8::7', port: 40000 }, destination: { address: '2001:db8::1', port: 5432 } });
    const d = header(decodeProxyHeader(Buffer.concat([h, CLIENT_HELLO]), 'any'));
    expect(d.source).toEqual({ address: '2001:db8::7', port: 40000 });
    expect(d.consumed).toBe(h.length);
  });

  it('takes LOCAL (a health probe) as a header without an address, skipping whatever its block holds', () => {
    const local = proxyV2({ command: 'local', source: { address: '10.9.9.9', port: 1 }, tlvs: [azureLinkId(7)] });
    const d = header(decodeProxyHeader(local, 'v2'));
    expect(d).toMatchObject({ source: null, destination: null, linkId: null, consumed: local.length });
  });

  it('takes UNSPEC and AF_UNIX as headers without an address', () => {
    expect(header(decodeProxyHeader(proxyV2(), 'v2')).source).toBeNull();
    const unix = proxyV2({ famProto: 0x31, tlvs: [{ type: 0x04, value: Buffer.alloc(216 - 3) }] });
    expect(header(decodeProxyHeader(unix, 'v2')).source).toBeNull();
  });

  it('ignores TLVs it does not know, and Azure subtypes other than LINKID', () => {
    const tlvs = [
      { type: 0x01, value: Buffer.from('postgresql') },
      { type: 0xee, value: Buffer.from([0x02, 1, 2, 3]) },
      { type: 0x04, value: Buffer.alloc(0) },
    ];
    const d = header(decodeProxyHeader(proxyV2({ source: { address: '10.1.2.3', port: 1 }, tlvs }), 'v2'));
    expect(d.linkId).toBeNull();
  });

  it('refuses a length over its bound as soon as the 16 fixed bytes show it, before the body arrives', () => {
    const big = proxyV2({ length: MAX_PROXY_V2 - 16 + 1 }).subarray(0, 16);
    expect(decodeProxyHeader(big, 'v2').kind).toBe('invalid');
    const atLimit = proxyV2({ command: 'local', length: MAX_PROXY_V2 - 16 });
    expect(decodeProxyHeader(atLimit, 'v2').kind).toBe('incomplete');
    expect(decodeProxyHeader(Buffer.concat([atLimit, Buffer.alloc(MAX_PROXY_V2 - 16)]), 'v2').kind).toBe('header');
  });

  it.each<[string, Buffer]>([
    ['version 1 in the version nibble', proxyV2({ verCmd: 0x11 })],
    ['an unknown command', proxyV2({ verCmd: 0x22 })],
    ['an unknown address family', proxyV2({ famProto: 0x41 })],
    ['UDP over IPv4', proxyV2({ famProto: 0x12, length: 12, tlvs: [{ type: 0x04, value: Buffer.alloc(9) }] })],
    ['a TCP4 block too short for its addresses', proxyV2({ famProto: 0x11, tlvs: [{ type: 0x04, value: Buffer.alloc(5) }] })],
    ['a TLV that overruns the header', proxyV2({ source: { address: '10.1.2.3', port: 1 }, tlvs: [{ type: 0xe0, value: Buffer.alloc(4) }], length: 12 + 5 })],
    ['a truncated TLV', proxyV2({ source: { address: '10.1.2.3', port: 1 }, tlvs: [{ type: 0xe0, value: Buffer.alloc(4) }], length: 12 + 2 })],
    ['an Azure LINKID of 4 bytes', proxyV2({ source: { address: '10.1.2.3', port: 1 }, tlvs: [{ type: 0xee, value: Buffer.from([0x01, 1, 2, 3]) }] })],
  ])('refuses a v2 header with %s', (_what, bytes) => {
    expect(decodeProxyHeader(bytes, 'v2').kind).toBe('invalid');
  });
});

describe('decodeProxyHeader, what is not a header', () => {
  it.each<[string, Buffer]>([
    ['a StartupMessage', startupPacket({ user: 'app' })],
    ['an SSLRequest', sslRequest()],
    ['a TLS ClientHello', CLIENT_HELLO],
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\n')],
    ['"PROXZ"', Buffer.from('PROXZ TCP4')],
    ['a v2 signature with one byte off', Buffer.concat([V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0b])])],
  ])('calls %s missing, from its first differing byte', (_what, bytes) => {
    expect(decodeProxyHeader(bytes, 'any')).toEqual({ kind: 'missing' });
  });

  it('refuses the version a listener does not accept', () => {
    expect(decodeProxyHeader(proxyV1('UNKNOWN'), 'v2').kind).toBe('invalid');
    expect(decodeProxyHeader(proxyV2(), 'v1').kind).toBe('invalid');
    // Already from the first byte: nothing of the wrong version is buffered.
    expect(decodeProxyHeader(Buffer.from('P'), 'v2').kind).toBe('invalid');
    expect(decodeProxyHeader(Buffer.from([0x0d]), 'v1').kind).toBe('invalid');
  });

  it('waits on no bytes at all', () => {
    expect(decodeProxyHeader(Buffer.alloc(0), 'any')).toEqual({ kind: 'incomplete' });
  });
});

describe('decodeProxyHeader on split and random input', () => {
  it.each(VALID)('returns incomplete for every strict prefix of %s, and the same header at every split point', (_what, h) => {
    const following = startupPacket({ user: 'app' });
    const whole = decodeProxyHeader(Buffer.concat([h, following]), 'any');
    expect(header(whole).consumed).toBe(h.length);
    for (let cut = 0; cut < h.length; cut++) {
      expect(decodeProxyHeader(h.subarray(0, cut), 'any').kind, `prefix ${cut}`).toBe('incomplete');
    }
    for (let cut = h.length; cut <= h.length + following.length; cut++) {
      expect(decodeProxyHeader(Buffer.concat([h, following]).subarray(0, cut), 'any'), `cut ${cut}`).toEqual(whole);
    }
  });

  it.each(VALID)('decodes %s fed byte by byte into an accumulator', (_what, h) => {
    let acc = Buffer.alloc(0);
    let last: ProxyHeaderDecode = { kind: 'incomplete' };
    for (const byte of h) {
      acc = Buffer.concat([acc, Buffer.from([byte])]);
      last = decodeProxyHeader(acc, 'any');
      if (acc.length < h.length) expect(last.kind).toBe('incomplete');
    }
    expect(last).toEqual(decodeProxyHeader(h, 'any'));
  });

  it('never throws on 10,000 random buffers, half of them behind a real signature', () => {
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const kinds = new Set(['incomplete', 'missing', 'invalid', 'header']);
    for (let i = 0; i < 10_000; i++) {
      const len = Math.floor(rand() * 120);
      let buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = Math.floor(rand() * 256);
      if (i % 4 === 0) buf = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, [0x00, 0x11, 0x21, 0x31][i % 3] ?? 0, 0, Math.floor(rand() * 64)]), buf]);
      if (i % 4 === 1) buf = Buffer.concat([Buffer.from('PROXY TCP4 '), buf]);
      const d = decodeProxyHeader(buf, 'any');
      expect(kinds.has(d.kind)).toBe(true);
      if (d.kind === 'header') expect(d.consumed).toBeLessThanOrEqual(buf.length);
    }
  });
});

describe('decodeProxyHeader properties (fast-check)', () => {
  const port = fc.integer({ min: 0, max: 65535 });
  const tlv = fc.record({ type: fc.integer({ min: 0, max: 0xed }), value: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) });
  const tail = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));

  it('reads back any v2 IPv4 or IPv6 source with any TLVs, and never a byte of what follows', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), port, fc.array(tlv, { maxLength: 5 }), fc.option(fc.integer({ min: 0, max: 0xffffffff })), tail, (ip, p, tlvs, link, after) => {
        const dst = ip.includes(':') ? '::1' : '127.0.0.1';
        const all = link === null ? tlvs : [...tlvs, azureLinkId(link)];
        const h = proxyV2({ source: { address: ip, port: p }, destination: { address: dst, port: 5432 }, tlvs: all });
        const d = header(decodeProxyHeader(Buffer.concat([h, after]), 'any'));
        expect(d.consumed).toBe(h.length);
        expect(d.source?.port).toBe(p);
        expect(d.linkId).toBe(link);
        // The same address, canonically spelled: decoding the text we return gives it back.
        const again = header(decodeProxyHeader(proxyV2({ source: { address: d.source?.address ?? '', port: p }, destination: { address: dst, port: 1 } }), 'v2'));
        expect(again.source?.address).toBe(d.source?.address);
      }),
    );
  });

  it('reads back any v1 TCP4 line, and is incomplete on each of its strict prefixes', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), port, port, (src, dst, sp, dp) => {
        const h = proxyV1(`TCP4 ${src} ${dst} ${sp} ${dp}`);
        const d = header(decodeProxyHeader(h, 'v1'));
        expect(d.source).toEqual({ address: src, port: sp });
        expect(d.consumed).toBe(h.length);
        const cut = (sp + dp) % h.length;
        expect(decodeProxyHeader(h.subarray(0, cut), 'v1').kind).toBe('incomplete');
      }),
    );
  });

  it('never throws on any bytes, and a header it finds is within the bytes and its bound', () => {
    const sig = fc.constantFrom(Buffer.alloc(0), V2_SIGNATURE, Buffer.from('PROXY '));
    fc.assert(
      fc.property(sig, fc.uint8Array({ maxLength: 300 }), fc.constantFrom('v1' as const, 'v2' as const, 'any' as const), (prefix, body, accept) => {
        const buf = Buffer.concat([prefix, Buffer.from(body)]);
        const d = decodeProxyHeader(buf, accept);
        if (d.kind === 'header') {
          expect(d.consumed).toBeLessThanOrEqual(buf.length);
          expect(d.consumed).toBeLessThanOrEqual(d.version === 1 ? MAX_PROXY_V1 : MAX_PROXY_V2);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
