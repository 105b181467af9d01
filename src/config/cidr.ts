// CIDR ranges: parsed and checked at config load (`listeners[].allow`,
// `listeners[].proxy_protocol.trusted`), matched per connection (PURE; the proxy imports it).
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a socket bound to "::" reports for an IPv4
// peer) are matched as IPv4, on both sides: an operator writes 10.0.0.0/8 and means the IPv4
// clients, whatever the socket family. So ::/0 is every IPv6 client and 0.0.0.0/0 every IPv4 one.
import { formatIp, parseIp, parseIpv4, parseIpv6, unmapIp, type IpAddress } from './ip-address.js';
import type { Cidr } from './types.js';

export type CidrResult = { readonly ok: true; readonly value: Cidr } | { readonly ok: false; readonly message: string };

const PREFIX = /^(0|[1-9][0-9]{0,2})$/;

/** "10.0.0.0/8", "2001:db8::/32"; a bare address is one host (/32, /128). Host bits must be 0. */
export function parseCidr(text: string): CidrResult {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const v4 = parseIpv4(addressText);
  const parsed: IpAddress | null = v4 ? { family: 4, bytes: v4 } : v6OrNull(addressText);
  if (parsed === null) return fail(text, `${JSON.stringify(addressText)} is not an IPv4 or IPv6 address`);
  const bits = parsed.bytes.length * 8;
  let prefix = bits;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    const n = PREFIX.test(prefixText) ? Number(prefixText) : NaN;
    if (!(n <= bits)) return fail(text, `the prefix length must be 0 to ${bits} for ${parsed.family === 4 ? 'IPv4' : 'IPv6'}`);
    prefix = n;
  }
  // A mapped IPv6 range (::ffff:10.0.0.0/104) is the IPv4 range it spells (10.0.0.0/8).
  const ip = prefix >= 96 ? unmapIp(parsed) : parsed;
  if (ip !== parsed) prefix -= 96;
  const network = masked(ip.bytes, prefix);
  const canonical = `${formatIp({ family: ip.family, bytes: network })}/${prefix}`;
  if (network.some((b, i) => b !== ip.bytes[i])) return fail(text, `it has host bits set (the network is ${canonical})`);
  return { ok: true, value: { text: canonical, family: ip.family, bytes: network, prefix } };
}

function v6OrNull(text: string): IpAddress | null {
  const bytes = parseIpv6(text);
  return bytes === null ? null : { family: 6, bytes };
}

function fail(text: string, why: string): CidrResult {
  return { ok: false, message: `${JSON.stringify(text)} is not a CIDR: ${why}` };
}

function masked(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const keep = Math.min(8, Math.max(0, prefix - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  const addr = unmapIp(ip);
  if (addr.family !== cidr.family) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (addr.bytes[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr.bytes[full] ?? 0) & mask) === cidr.bytes[full];
}

/** Whether an address (text, as a socket or a PROXY header gives it) is in one of the ranges. */
export function addressIn(cidrs: readonly Cidr[], address: string): boolean {
  const ip = parseIp(address);
  return ip !== null && cidrs.some((c) => cidrContains(c, ip));
}
