import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressIn, cidrContains, parseCidr } from '../../../src/config/cidr.js';
import { formatIp, parseIp, parseIpv6 } from '../../../src/config/ip-address.js';
import type { Cidr } from '../../../src/config/types.js';

function cidr(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

describe('IP addresses', () => {
  it.each<[string, number[]]>([
    ['10.1.2.3', [10, 1, 2, 3]],
    ['0.0.0.0', [0, 0, 0, 0]],
    ['::', Array<number>(16).fill(0)],
    ['::1', [...Array<number>(15).fill(0), 1]],
    ['2001:db8::7', [0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 7]],
    ['1:2:3:4:5:6:7:8', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
    ['::ffff:10.1.2.3', [...Array<number>(10).fill(0), 0xff, 0xff, 10, 1, 2, 3]],
    ['fe80::1%eth0', [0xfe, 0x80, ...Array<number>(13).fill(0), 1]],
  ])('reads %s as its bytes', (text, bytes) => {
    expect(parseIp(text)?.bytes).toEqual(bytes);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', '1.2.3.4::', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', 'g::1', '::1.2.3'])(
    'refuses %j',
    (text) => {
      expect(parseIp(text)).toBeNull();
    },
  );

  it('writes IPv6 canonically (RFC 5952): lower case, the longest zero run as ::, mapped IPv4 dotted', () => {
    const show = (t: string): string => formatIp(parseIp(t) ?? { family: 4, bytes: [] });
    expect(show('2001:DB8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(show('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(show('0:0:0:0:0:0:0:0')).toBe('::');
    expect(show('0:0:0:0:0:ffff:a01:203')).toBe('::ffff:10.1.2.3');
  });

  it('agrees with node:net on any IPv6 text, and reads back what it writes (fast-check)', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const bytes = parseIpv6(text);
        expect(bytes, text).not.toBeNull();
        expect(isIPv6(text)).toBe(true);
        const canonical = formatIp({ family: 6, bytes: bytes ?? [] });
        expect(parseIpv6(canonical)).toEqual(bytes);
        expect(new URL(`http://[${canonical}]/`).hostname).toBe(`[${canonical}]`);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('CIDRs', () => {
  it('normalizes a range, a bare host and a mapped IPv4 range', () => {
    expect(cidr('10.0.0.0/8')).toEqual({ text: '10.0.0.0/8', family: 4, bytes: [10, 0, 0, 0], prefix: 8 });
    expect(cidr('10.1.2.3').text).toBe('10.1.2.3/32');
    expect(cidr('2001:DB8::/32').text).toBe('2001:db8::/32');
    expect(cidr('::1').text).toBe('::1/128');
    expect(cidr('::ffff:10.0.0.0/104')).toMatchObject({ text: '10.0.0.0/8', family: 4 });
    expect(cidr('0.0.0.0/0').text).toBe('0.0.0.0/0');
  });

  it.each<[string, string]>([
    ['10.0.0.0/33', '"10.0.0.0/33" is not a CIDR: the prefix length must be 0 to 32 for IPv4'],
    ['2001:db8::/129', '"2001:db8::/129" is not a CIDR: the prefix length must be 0 to 128 for IPv6'],
    ['10.0.0.0/', '"10.0.0.0/" is not a CIDR: the prefix length must be 0 to 32 for IPv4'],
    ['10.0.0.0/08', '"10.0.0.0/08" is not a CIDR: the prefix length must be 0 to 32 for IPv4'],
    ['10.0.0.0/-1', '"10.0.0.0/-1" is not a CIDR: the prefix length must be 0 to 32 for IPv4'],
    ['10.0.0.1/8', '"10.0.0.1/8" is not a CIDR: it has host bits set (the network is 10.0.0.0/8)'],
    ['10.0.0/8', '"10.0.0/8" is not a CIDR: "10.0.0" is not an IPv4 or IPv6 address'],
    ['fe80::1%eth0/64', '"fe80::1%eth0/64" is not a CIDR: "fe80::1%eth0" is not an IPv4 or IPv6 address'],
    ['localhost', '"localhost" is not a CIDR: "localhost" is not an IPv4 or IPv6 address'],
  ])('refuses %s with a message that says why', (text, message) => {
    expect(parseCidr(text)).toEqual({ ok: false, message });
  });

  it('matches by prefix, IPv4-mapped addresses as IPv4, and never across families', () => {
    const net10 = [cidr('10.0.0.0/8')];
    expect(addressIn(net10, '10.255.0.1')).toBe(true);
    expect(addressIn(net10, '11.0.0.1')).toBe(false);
    expect(addressIn(net10, '::ffff:10.1.2.3')).toBe(true);
    expect(addressIn([cidr('10.1.2.128/25')], '10.1.2.127')).toBe(false);
    expect(addressIn([cidr('10.1.2.128/25')], '10.1.2.128')).toBe(true);
    expect(addressIn([cidr('::/0')], '10.1.2.3')).toBe(false);
    expect(addressIn([cidr('::/0')], '::ffff:10.1.2.3')).toBe(false);
    expect(addressIn([cidr('::/0')], '2001:db8::1')).toBe(true);
    expect(addressIn([cidr('0.0.0.0/0')], '::1')).toBe(false);
    expect(addressIn([cidr('fe80::/10')], 'fe80::1%lo')).toBe(true);
    expect(addressIn(net10, 'not an address')).toBe(false);
  });

  it('contains exactly the addresses that share its first prefix bits, IPv4 and IPv6 (fast-check)', () => {
    for (const size of [4, 16] as const) {
      const bytes = fc.uint8Array({ minLength: size, maxLength: size }).map((x) => [...x]);
      fc.assert(
        fc.property(bytes, bytes, fc.integer({ min: 0, max: size * 8 }), (a, b, prefix) => {
          fc.pre(!isMapped(a) && !isMapped(b));
          const family = size === 4 ? 4 : 6;
          const range = cidr(`${formatIp({ family, bytes: maskBytes(a, prefix) })}/${prefix}`);
          let same = true;
          for (let i = 0; i < prefix; i++) if (bit(a, i) !== bit(b, i)) same = false;
          expect(cidrContains(range, { family, bytes: a })).toBe(true);
          expect(cidrContains(range, { family, bytes: b })).toBe(same);
        }),
        { numRuns: 2_000 },
      );
    }
  });
});

function bit(bytes: readonly number[], i: number): number {
  return ((bytes[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
}

function maskBytes(bytes: number[], prefix: number): number[] {
  return bytes.map((b, i) => b & ((0xff << (8 - Math.min(8, Math.max(0, prefix - i * 8)))) & 0xff));
}

/** ::ffff:a.b.c.d (16 bytes only): matched as IPv4, so left out of the IPv6 property. */
function isMapped(b: readonly number[]): boolean {
  return b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}
