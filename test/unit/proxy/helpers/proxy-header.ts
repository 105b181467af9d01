// PROXY protocol headers for tests, built by hand from the spec (HAProxy's "The PROXY protocol",
// sections 2.1 and 2.2), as a load balancer in front of pgrouter sends them.
import { parseIp } from '../../../../src/config/ip-address.js';

export function proxyV1(line: string): Buffer {
  return Buffer.from(`PROXY ${line}\r\n`, 'latin1');
}

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export interface Tlv {
  readonly type: number;
  readonly value: Buffer;
}

/** PP2_TYPE_AZURE, subtype LINKID, a 32-bit little-endian id (Azure Private Link). */
export function azureLinkId(id: number): Tlv {
  const value = Buffer.alloc(5);
  value[0] = 0x01;
  value.writeUInt32LE(id, 1);
  return { type: 0xee, value };
}

export interface V2Options {
  /** 'proxy' (default) or 'local' (a health check of the proxy itself). */
  readonly command?: 'proxy' | 'local';
  /** Client and server endpoints; omitted: family UNSPEC and no address block. */
  readonly source?: { readonly address: string; readonly port: number };
  readonly destination?: { readonly address: string; readonly port: number };
  readonly tlvs?: readonly Tlv[];
  /** Overrides the family/transport byte (for malformed headers). */
  readonly famProto?: number;
  /** Overrides the version/command byte. */
  readonly verCmd?: number;
  /** Overrides the length field. */
  readonly length?: number;
}

export function proxyV2(opts: V2Options = {}): Buffer {
  const parts: Buffer[] = [];
  let famProto = 0x00;
  if (opts.source) {
    const src = parseIp(opts.source.address);
    const dst = parseIp(opts.destination?.address ?? (src?.family === 4 ? '127.0.0.1' : '::1'));
    if (!src || !dst || src.family !== dst.family) throw new Error('bad test addresses');
    famProto = src.family === 4 ? 0x11 : 0x21;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(opts.source.port, 0);
    ports.writeUInt16BE(opts.destination?.port ?? 5432, 2);
    parts.push(Buffer.from(src.bytes), Buffer.from(dst.bytes), ports);
  }
  for (const t of opts.tlvs ?? []) {
    const head = Buffer.alloc(3);
    head[0] = t.type;
    head.writeUInt16BE(t.value.length, 1);
    parts.push(head, t.value);
  }
  const body = Buffer.concat(parts);
  const fixed = Buffer.alloc(4);
  fixed[0] = opts.verCmd ?? (opts.command === 'local' ? 0x20 : 0x21);
  fixed[1] = opts.famProto ?? famProto;
  fixed.writeUInt16BE(opts.length ?? body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}
