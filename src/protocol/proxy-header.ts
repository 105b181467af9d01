// The PROXY protocol header a load balancer or proxy tier puts in front of a connection
// (HAProxy's "The PROXY protocol", versions 1 and 2), decoded from the bytes received so far
// (PURE). Azure Private Link, AWS NLB and HAProxy's `send-proxy[-v2]` send it.
//
// The header is read BY ITS LENGTH and nothing past it is taken: v2 says how long it is, v1
// ends at its CRLF. What follows (a StartupMessage, an SSLRequest, a TLS ClientHello) belongs
// to the next phase, which gets acc.subarray(consumed). Both forms are bounded: 107 bytes for
// v1 (the spec's maximum), MAX_PROXY_V2 for v2, refused as soon as the length field says more.
//
// A PostgreSQL client's first byte is 0x00 (a packet length under 10,000) or 0x16 (TLS), so
// neither can be taken for a header ('P' starts v1, '\r' starts v2's signature).
import { formatIp, parseIpv4, parseIpv6 } from '../config/ip-address.js';
import type { ProxyAccept } from '../config/types.js';

export interface ProxyEndpoint {
  /** Canonical text: "10.1.2.3", "2001:db8::7", "::ffff:10.1.2.3". */
  readonly address: string;
  readonly port: number;
}

export type ProxyHeaderDecode =
  | { readonly kind: 'incomplete' }
  /** The bytes do not start a PROXY header at all. */
  | { readonly kind: 'missing' }
  /** They start one, of a version not accepted, or a malformed one. */
  | { readonly kind: 'invalid'; readonly reason: string }
  | {
      readonly kind: 'header';
      readonly version: 1 | 2;
      /**
       * The client, or null: a v2 LOCAL command (a health probe of the proxy itself), v1
       * UNKNOWN, or v2 with no usable address (UNSPEC, AF_UNIX). The connection's own peer
       * address stands then, as the spec asks.
       */
      readonly source: ProxyEndpoint | null;
      readonly destination: ProxyEndpoint | null;
      /** Azure Private Link's LINKID (TLV 0xEE, subtype 0x01), when sent. */
      readonly linkId: number | null;
      /** Header length: what follows is the next phase's. */
      readonly consumed: number;
    };

/** Spec section 2.1: "PROXY UNKNOWN" plus the longest TCP6 line, CRLF included. */
export const MAX_PROXY_V1 = 107;
/** Our bound on a whole v2 header: addresses (216 bytes at most) and TLVs, with room to spare. */
export const MAX_PROXY_V2 = 4096;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** Spec section 2.2: \r\n\r\n\0\r\nQUIT\n. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;

/** PP2_TYPE_AZURE and its PP2_SUBTYPE_AZURE_PRIVATEENDPOINT_LINKID (a 32-bit little-endian id). */
const TLV_AZURE = 0xee;
const AZURE_LINKID = 0x01;

const INCOMPLETE: ProxyHeaderDecode = Object.freeze({ kind: 'incomplete' });
const MISSING: ProxyHeaderDecode = Object.freeze({ kind: 'missing' });

export function decodeProxyHeader(acc: Buffer, accept: ProxyAccept): ProxyHeaderDecode {
  if (acc.length === 0) return INCOMPLETE;
  const version = startsLike(acc, V1_PREFIX) ? 1 : startsLike(acc, V2_SIGNATURE) ? 2 : 0;
  if (version === 0) return MISSING;
  if (accept !== 'any' && accept !== `v${version}`) return invalid(`a PROXY v${version} header, but this listener accepts ${accept} only`);
  return version === 1 ? decodeV1(acc) : decodeV2(acc);
}

/** Whether the bytes so far agree with `prefix` (as far as both go). */
function startsLike(acc: Buffer, prefix: Buffer): boolean {
  const n = Math.min(acc.length, prefix.length);
  return acc.compare(prefix, 0, n, 0, n) === 0;
}

function invalid(reason: string): ProxyHeaderDecode {
  return { kind: 'invalid', reason };
}

// ---- version 1: one text line -------------------------------------------------------------

function decodeV1(acc: Buffer): ProxyHeaderDecode {
  // The CR is at index MAX_PROXY_V1 - 2 at the latest, so that the line with its LF fits.
  const limit = Math.min(acc.length, MAX_PROXY_V1 - 1);
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = acc[i] ?? 0;
    if (c === 0x0d) {
      if (i + 1 >= acc.length) return INCOMPLETE;
      if (acc[i + 1] !== 0x0a) return invalid('v1: CR not followed by LF');
      return v1Line(acc.toString('latin1', V1_PREFIX.length, i), i + 2);
    }
    if (c < 0x20 || c > 0x7e) return invalid('v1: a byte that is not printable ASCII');
  }
  return acc.length >= MAX_PROXY_V1 - 1 ? invalid(`v1: no CRLF within ${MAX_PROXY_V1} bytes`) : INCOMPLETE;
}

const PORT = /^(0|[1-9][0-9]{0,4})$/;

function v1Line(line: string, consumed: number): ProxyHeaderDecode {
  const fields = line.split(' ');
  // "UNKNOWN": the receiver ignores the rest of the line (section 2.1).
  if (fields[0] === 'UNKNOWN') return { kind: 'header', version: 1, source: null, destination: null, linkId: null, consumed };
  if (fields.length !== 5) return invalid(`v1: expected "TCP4|TCP6 <src> <dst> <sport> <dport>", got ${fields.length} fields`);
  const [proto, src, dst, sport, dport] = fields as [string, string, string, string, string];
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid(`v1: unknown protocol ${JSON.stringify(proto.slice(0, 16))}`);
  const parse = proto === 'TCP4' ? parseIpv4 : parseIpv6;
  const family = proto === 'TCP4' ? 4 : 6;
  const srcBytes = parse(src);
  const dstBytes = parse(dst);
  if (srcBytes === null || dstBytes === null) return invalid(`v1: an address that is not ${proto === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  const srcPort = v1Port(sport);
  const dstPort = v1Port(dport);
  if (srcPort === null || dstPort === null) return invalid('v1: a port that is not 0..65535');
  return {
    kind: 'header',
    version: 1,
    source: { address: formatIp({ family, bytes: srcBytes }), port: srcPort },
    destination: { address: formatIp({ family, bytes: dstBytes }), port: dstPort },
    linkId: null,
    consumed,
  };
}

function v1Port(text: string): number | null {
  if (!PORT.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

// ---- version 2: binary, with a length --------------------------------------------------------

/** Address block sizes by family nibble (section 2.2): UNSPEC, INET, INET6, UNIX. */
const ADDRESS_LENGTH: Readonly<Record<number, number>> = { 0x0: 0, 0x1: 12, 0x2: 36, 0x3: 216 };

function decodeV2(acc: Buffer): ProxyHeaderDecode {
  if (acc.length < V2_FIXED) return INCOMPLETE;
  const verCmd = acc[12] ?? 0;
  if (verCmd >> 4 !== 2) return invalid(`v2: version ${verCmd >> 4}, expected 2`);
  const command = verCmd & 0x0f;
  if (command > 1) return invalid(`v2: unknown command ${command}`);
  const famProto = acc[13] ?? 0;
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  const length = acc.readUInt16BE(14);
  const consumed = V2_FIXED + length;
  // Refused before its body is read: nothing unbounded is buffered.
  if (consumed > MAX_PROXY_V2) return invalid(`v2: a ${consumed}-byte header, over the ${MAX_PROXY_V2}-byte limit`);
  if (acc.length < consumed) return INCOMPLETE;
  // LOCAL (section 2.2): the proxy speaks for itself (a health check); the block is skipped.
  if (command === 0) return { kind: 'header', version: 2, source: null, destination: null, linkId: null, consumed };
  const addressLength = ADDRESS_LENGTH[family];
  if (addressLength === undefined) return invalid(`v2: unknown address family ${family}`);
  if (family !== 0 && transport !== 1) return invalid(`v2: transport ${transport} is not a stream (TCP)`);
  if (length < addressLength) return invalid(`v2: ${length} bytes cannot hold the ${addressLength}-byte address block`);
  const body = acc.subarray(V2_FIXED, consumed);
  const tlvs = readTlvs(body.subarray(addressLength));
  if (typeof tlvs === 'string') return invalid(`v2: ${tlvs}`);
  const [source, destination] = family === 1 || family === 2 ? v2Endpoints(body, family === 1 ? 4 : 16) : [null, null];
  return { kind: 'header', version: 2, source, destination, linkId: tlvs.linkId, consumed };
}

function v2Endpoints(body: Buffer, size: 4 | 16): [ProxyEndpoint, ProxyEndpoint] {
  const family = size === 4 ? 4 : 6;
  const src = formatIp({ family, bytes: [...body.subarray(0, size)] });
  const dst = formatIp({ family, bytes: [...body.subarray(size, 2 * size)] });
  return [
    { address: src, port: body.readUInt16BE(2 * size) },
    { address: dst, port: body.readUInt16BE(2 * size + 2) },
  ];
}

/** Type-length-value records after the addresses (section 2.2.7); all must fit exactly. */
function readTlvs(tlvs: Buffer): { linkId: number | null } | string {
  let linkId: number | null = null;
  for (let at = 0; at < tlvs.length; ) {
    if (at + 3 > tlvs.length) return 'a truncated TLV';
    const type = tlvs[at] ?? 0;
    const length = tlvs.readUInt16BE(at + 1);
    const value = tlvs.subarray(at + 3, at + 3 + length);
    if (value.length !== length) return `TLV 0x${type.toString(16)} overruns the header`;
    if (type === TLV_AZURE && value[0] === AZURE_LINKID) {
      if (length !== 5) return `Azure LINKID TLV of ${length} bytes, expected 5`;
      linkId = value.readUInt32LE(1);
    }
    at += 3 + length;
  }
  return { linkId };
}
