// Property tests (fast-check) of the client's first packet: decodeStartup and the handshake
// step around it. Whatever a client sends, the decoder never throws, never claims more bytes
// than it was given, and decides on a prefix exactly as it would on the whole: a packet split
// anywhere into TCP reads gives the same outcome as the packet in one read.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { split } from '../../helpers/split.js';
import { ClientHandshake, handshakeStep, type HandshakeStep } from '../../../src/proxy/handshake.js';
import { decodeStartup, MAX_STARTUP_PACKET, type StartupDecode } from '../../../src/protocol/startup-decoder.js';
import { REFUSAL_REASONS } from '../../../src/sessions/close-reason.js';
import { cancelPacket, gssencRequest, sslRequest, startupPacket } from '../proxy/helpers/packets.js';

const RUNS = { numRuns: 500 };

/** Identifier-ish startup parameter names and values (no NUL: the protocol's terminator). */
const text = fc.string({ maxLength: 40 }).map((s) => s.replace(/\0/g, ''));

/** A well-formed first packet of every kind the protocol has, with 3.2 cancel keys. */
const validPacket: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constant(sslRequest()),
  fc.constant(gssencRequest()),
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.uint8Array({ minLength: 4, maxLength: 256 }))
    .map(([pid, key]) => cancelPacket(pid, Buffer.from(key))),
  fc
    .tuple(text.filter((u) => u.length > 0), fc.dictionary(text.filter((k) => k.length > 0 && k !== 'user'), text, { maxKeys: 8 }), fc.constantFrom(196608, 196610))
    .map(([user, params, version]) => startupPacket({ user, ...params }, version)),
);

/** Valid packets, their mutations (one byte flipped, truncated, lengthened) and plain noise. */
const anyBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.uint8Array({ minLength: 8, maxLength: 600 }).map((a) => {
    // Plausible headers: a small length and a real code, then garbage.
    const b = Buffer.from(a);
    b.writeUInt32BE(Math.min(b.readUInt32BE(0) % 700, b.length + 50), 0);
    return b;
  }),
  fc.tuple(validPacket, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([p, at, byte]) => {
    const b = Buffer.from(p);
    b[at % b.length] = byte;
    return b;
  }),
  fc.tuple(validPacket, fc.uint8Array({ maxLength: 32 })).map(([p, extra]) => Buffer.concat([p, Buffer.from(extra)])),
);


/** What a decision says, without the identity of the Buffers it returns. */
function decision(d: StartupDecode): unknown {
  return JSON.parse(JSON.stringify(d)) as unknown;
}

describe('decodeStartup (property)', () => {
  it('never throws and never consumes more bytes than it was given', () => {
    fc.assert(
      fc.property(anyBytes, (buf) => {
        const d = decodeStartup(buf);
        expect(d.consumed).toBeLessThanOrEqual(buf.length);
        expect(d.consumed).toBeLessThanOrEqual(MAX_STARTUP_PACKET);
      }),
      RUNS,
    );
  });

  it('decides on the first prefix that decides, exactly as on the whole buffer', () => {
    fc.assert(
      fc.property(anyBytes, (buf) => {
        const whole = decodeStartup(buf);
        for (let n = 0; n <= buf.length; n++) {
          const d = decodeStartup(buf.subarray(0, n));
          if (d.kind === 'incomplete') continue;
          expect(decision(d)).toEqual(decision(whole));
          return;
        }
        expect(whole.kind).toBe('incomplete');
      }),
      { numRuns: 200 },
    );
  });

  it('reads nothing past the packet: the bytes after it never change the decision', () => {
    fc.assert(
      fc.property(anyBytes, fc.uint8Array({ minLength: 1, maxLength: 32 }), (buf, more) => {
        const d = decodeStartup(buf);
        if (d.kind === 'incomplete') return;
        const extended = decodeStartup(Buffer.concat([buf, Buffer.from(more)]));
        expect(decision(extended)).toEqual(decision(d));
      }),
      RUNS,
    );
  });

  it('decodes every well-formed packet, and a startup packet back to its own bytes', () => {
    fc.assert(
      fc.property(validPacket, (p) => {
        const d = decodeStartup(p);
        expect(['ssl_request', 'gssenc_request', 'cancel', 'startup']).toContain(d.kind);
        expect(d.consumed).toBe(p.length);
        if (d.kind === 'startup') expect(d.packet.equals(p)).toBe(true);
      }),
      RUNS,
    );
  });
});

/** The first step that is not 'wait' when `chunks` arrive one read at a time. */
function firstStep(chunks: readonly Buffer[]): HandshakeStep {
  const h = new ClientHandshake();
  for (const c of chunks) {
    const step = h.feed(c, 'passthrough');
    if (step.step !== 'wait') return step;
  }
  return { step: 'wait' };
}

describe('the handshake step (property)', () => {
  it('gives a packet split anywhere the same step as the packet in one read', () => {
    fc.assert(
      fc.property(validPacket, fc.array(fc.nat(), { maxLength: 6 }), (p, cuts) => {
        expect(decision(firstStep(split(p, cuts)) as unknown as StartupDecode)).toEqual(decision(firstStep([p]) as unknown as StartupDecode));
      }),
      RUNS,
    );
  });

  it('never throws on any bytes in any reads, and rejects with a known reason', () => {
    fc.assert(
      fc.property(anyBytes, fc.array(fc.nat(), { maxLength: 6 }), (buf, cuts) => {
        const step = firstStep(split(buf, cuts));
        if (step.step === 'reject') expect(REFUSAL_REASONS).toContain(step.reason);
        for (const ssl of ['disable', 'passthrough', 'terminate'] as const) {
          for (const inTls of [false, true]) expect(() => handshakeStep(buf, { ssl, sslDone: inTls, gssDone: true, inTls, requireTls: !inTls })).not.toThrow();
        }
      }),
      RUNS,
    );
  });
});
