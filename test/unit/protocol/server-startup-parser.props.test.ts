// Property tests (fast-check) of what pgrouter reads from a server during the startup phase:
// the incremental parser that learns BackendKeyData (feedServerStartup) and the classifier of
// the first answer (firstServerMessage). Whatever a backend sends, neither throws, the parser
// keeps at most one header and one key body, and a stream split anywhere into reads gives the
// same result as the stream in one read.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { split } from '../../helpers/split.js';
import { MAX_CANCEL_KEY } from '../../../src/protocol/cancel-key.js';
import { errorResponse } from '../../../src/protocol/messages.js';
import { feedServerStartup, firstServerMessage, initialServerStartup, type KeyRewrite, type ServerStartupState } from '../../../src/protocol/server-startup-parser.js';
import { authOk, backendKeyData, backendMessage, parameterStatus, readyForQuery } from '../proxy/helpers/packets.js';

const RUNS = { numRuns: 500 };

const text = fc.string({ maxLength: 30 }).map((s) => s.replace(/\0/g, ''));

/** One message a server may send before ReadyForQuery. */
const startupMessage: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constant(authOk()),
  fc.tuple(text, text).map(([k, v]) => parameterStatus(k, v)),
  fc.tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.uint8Array({ minLength: 4, maxLength: MAX_CANCEL_KEY })).map(([pid, key]) => backendKeyData(pid, Buffer.from(key))),
  fc.uint8Array({ maxLength: 40 }).map((b) => backendMessage('N', Buffer.from(b))),
  fc.uint8Array({ maxLength: 40 }).map((b) => backendMessage('R', Buffer.from(b))),
);

/** A plausible startup stream (ending in ReadyForQuery or an error), or noise, or a mutation. */
const serverStream: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(fc.array(startupMessage, { maxLength: 6 }), fc.constantFrom(readyForQuery(), errorResponse('28P01', 'no'), Buffer.alloc(0))).map(([ms, end]) => Buffer.concat([...ms, end])),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.array(startupMessage, { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([ms, at, byte]) => {
    const b = Buffer.concat(ms);
    b[at % b.length] = byte;
    return b;
  }),
);


function feedAll(chunks: readonly Buffer[], check?: (s: ServerStartupState) => void, rewrite?: KeyRewrite): ServerStartupState {
  let s = initialServerStartup();
  for (const c of chunks) {
    s = feedServerStartup(s, c, rewrite);
    check?.(s);
  }
  return s;
}

/** A deterministic stand-in for the random keys pgrouter makes. */
const REWRITE: KeyRewrite = (n) => ({ pid: 0x4000_0001, key: Buffer.alloc(n, n & 0xff) });

/** The outcome that matters to a session: phase, key, reason (not the parser's scratch buffers). */
function outcome(s: ServerStartupState): unknown {
  return { phase: s.phase, pid: s.backendKey?.pid ?? null, key: s.backendKey?.key.toString('hex') ?? null, reason: s.reason };
}

describe('feedServerStartup (property)', () => {
  it('gives a stream split anywhere the same outcome as the stream in one read', () => {
    fc.assert(
      fc.property(serverStream, fc.array(fc.nat(), { maxLength: 8 }), (stream, cuts) => {
        expect(outcome(feedAll(split(stream, cuts)))).toEqual(outcome(feedAll([stream])));
      }),
      RUNS,
    );
  });

  it('never throws, and never holds more than one header and one key body', () => {
    fc.assert(
      fc.property(serverStream, fc.array(fc.nat(), { maxLength: 8 }), (stream, cuts) => {
        feedAll(split(stream, cuts), (s) => {
          expect(s.header.length).toBeLessThan(5);
          expect(s.body?.length ?? 0).toBeLessThanOrEqual(4 + MAX_CANCEL_KEY);
          if (s.backendKey) expect(s.backendKey.key.length).toBeGreaterThanOrEqual(4);
        });
      }),
      RUNS,
    );
  });

  it('learns the last BackendKeyData of a well-formed stream', () => {
    fc.assert(
      fc.property(fc.array(startupMessage, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (ms, cuts) => {
        const keys = ms.filter((m) => m[0] === 0x4b);
        const last = keys[keys.length - 1];
        const s = feedAll(split(Buffer.concat([...ms, readyForQuery()]), cuts));
        expect(s.phase).toBe('ready');
        expect(s.backendKey?.pid ?? null).toBe(last ? last.readUInt32BE(5) : null);
      }),
      RUNS,
    );
  });
});

describe('feedServerStartup with a key rewrite (property)', () => {
  it('writes the same bytes over a stream split anywhere as over the stream in one read', () => {
    fc.assert(
      fc.property(serverStream, fc.array(fc.nat(), { maxLength: 8 }), (stream, cuts) => {
        const whole = Buffer.from(stream);
        const wholeState = feedAll([whole], undefined, REWRITE);
        const pieces = split(Buffer.from(stream), cuts);
        const splitState = feedAll(pieces, undefined, REWRITE);
        expect(Buffer.concat(pieces).equals(whole)).toBe(true);
        expect(outcome(splitState)).toEqual(outcome(wholeState));
        expect(splitState.clientKey?.key.toString('hex') ?? null).toEqual(wholeState.clientKey?.key.toString('hex') ?? null);
        // Nothing but a key body changes, and never the length.
        expect(whole.length).toBe(stream.length);
        expect(outcome(feedAll([stream]))).toEqual(outcome(wholeState));
      }),
      RUNS,
    );
  });

  it('hands the client the key it made, in place of the server\'s, and keeps the server\'s', () => {
    fc.assert(
      fc.property(fc.array(startupMessage, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (ms, cuts) => {
        const original = Buffer.concat([...ms, readyForQuery()]);
        const relayed = Buffer.from(original);
        const s = feedAll(split(relayed, cuts), undefined, REWRITE);
        const keys = ms.filter((m) => m[0] === 0x4b);
        const last = keys[keys.length - 1];
        if (!last) {
          expect(relayed.equals(original)).toBe(true);
          return;
        }
        expect(s.backendKey?.key.equals(last.subarray(9))).toBe(true);
        expect(s.clientKey?.pid).toBe(0x4000_0001);
        expect(feedAll([relayed]).backendKey?.key.equals(s.clientKey?.key ?? Buffer.alloc(0))).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('firstServerMessage (property)', () => {
  it('never throws, and once a prefix decides, every longer stream decides the same', () => {
    fc.assert(
      fc.property(serverStream, (stream) => {
        const whole = firstServerMessage(stream);
        for (let n = 0; n <= stream.length; n++) {
          const d = firstServerMessage(stream.subarray(0, n));
          if (d.kind === 'incomplete') continue;
          expect(d).toEqual(whole);
          return;
        }
        expect(whole.kind).toBe('incomplete');
      }),
      { numRuns: 300 },
    );
  });
});
