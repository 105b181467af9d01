// IP addresses as text and as bytes (PURE: no import at all), for the `allow` and
// `proxy_protocol.trusted` CIDRs (cidr.ts) and the PROXY protocol header (protocol/proxy-header.ts).
//
// It sits in config/, the bottom part, because both the config (which validates CIDRs) and the
// wire format (which reads addresses in a PROXY header) need it, and config may not import
// protocol. node:net's isIP() only says yes or no; here we also need the bytes, to match a prefix.
//
// Strict on purpose: a leading zero in an IPv4 octet ("010.0.0.1") is refused, because some
// parsers read it as octal and the operator would not get the range they think they wrote.

export interface IpAddress {
  readonly family: 4 | 6;
  /** 4 bytes (IPv4) or 16 bytes (IPv6), network order. A plain array: config is deep-frozen. */
  readonly bytes: readonly number[];
}

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
/** "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255": nothing longer is an address. */
const MAX_IPV6_TEXT = 45;

export function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes: number[] = [];
  for (const p of parts) {
    if (!DECIMAL_OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    bytes.push(n);
  }
  return bytes;
}

/** RFC 4291 section 2.2 text forms: hex groups, one "::" at most, an IPv4 dotted tail. No zone. */
export function parseIpv6(text: string): number[] | null {
  if (text.length < 2 || text.length > MAX_IPV6_TEXT) return null;
  const gap = text.indexOf('::');
  if (gap !== -1 && text.indexOf('::', gap + 1) !== -1) return null;
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? '' : text.slice(gap + 2);
  // An IPv4 tail ends the address: "1.2.3.4::" is not one.
  const headGroups = groups(head, gap === -1);
  const tailGroups = groups(tail, true);
  if (headGroups === null || tailGroups === null) return null;
  const count = headGroups.length + tailGroups.length;
  if (gap === -1 ? count !== 8 : count > 7) return null;
  const words = [...headGroups, ...Array<number>(8 - count).fill(0), ...tailGroups];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/** 16-bit words of "a:b:c" ("" is none); the last part may be an IPv4 address when `v4Tail`. */
function groups(part: string, v4Tail: boolean): number[] | null {
  if (part === '') return [];
  const pieces = part.split(':');
  const words: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i] ?? '';
    if (v4Tail && i === pieces.length - 1 && p.includes('.')) {
      const v4 = parseIpv4(p);
      if (v4 === null) return null;
      words.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    } else if (HEX_GROUP.test(p)) {
      words.push(parseInt(p, 16));
    } else {
      return null;
    }
  }
  return words;
}

/** An IPv4 or IPv6 address in text; a zone ("fe80::1%eth0", as a socket may report it) is dropped. */
export function parseIp(text: string): IpAddress | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return { family: 4, bytes: v4 };
  const zone = text.indexOf('%');
  const v6 = parseIpv6(zone === -1 ? text : text.slice(0, zone));
  return v6 === null ? null : { family: 6, bytes: v6 };
}

/** The first 80 bits zero, then 0xffff: an IPv4 address on a dual-stack socket (RFC 4291 2.5.5.2). */
function isV4Mapped(bytes: readonly number[]): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** ::ffff:a.b.c.d is a.b.c.d: an allow-list written in IPv4 must match a dual-stack socket's peer. */
export function unmapIp(ip: IpAddress): IpAddress {
  return ip.family === 6 && isV4Mapped(ip.bytes) ? { family: 4, bytes: ip.bytes.slice(12) } : ip;
}

/** Canonical text (RFC 5952: lower case, longest zero run as "::", ::ffff:a.b.c.d for mapped). */
export function formatIp(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.family === 4) return b.join('.');
  if (isV4Mapped(b)) return `::ffff:${b.slice(12).join('.')}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (best === -1) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}
