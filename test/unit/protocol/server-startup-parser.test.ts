import { describe, expect, it } from 'vitest';
import { feedServerStartup, firstServerMessage, initialServerStartup, MAX_HELD_ERROR, type ServerStartupState } from '../../../src/protocol/server-startup-parser.js';
import { errorResponse } from '../../../src/protocol/messages.js';
import { authOk, backendKeyData, backendMessage, parameterStatus, readyForQuery } from '../proxy/helpers/packets.js';

function feedAll(chunks: Buffer[]): ServerStartupState {
  return chunks.reduce((s, c) => feedServerStartup(s, c), initialServerStartup());
}

const KEY4 = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
const KEY32 = Buffer.alloc(32, 0xab);

const STREAMS: Array<[string, Buffer, { phase: string; pid: number | null; key: Buffer | null }]> = [
  [
    'a 3.0 startup',
    Buffer.concat([authOk(), parameterStatus('server_version', '15.0'), backendKeyData(4711, KEY4), readyForQuery()]),
    { phase: 'ready', pid: 4711, key: KEY4 },
  ],
  [
    'a 3.2 startup with a 32-byte key and NegotiateProtocolVersion',
    Buffer.concat([backendMessage('v', Buffer.from([0, 3, 0, 2, 0, 0, 0, 0])), authOk(), backendKeyData(12, KEY32), parameterStatus('a', 'b'), readyForQuery()]),
    { phase: 'ready', pid: 12, key: KEY32 },
  ],
  ['a refused startup', Buffer.concat([errorResponse('28P01', 'password authentication failed')]), { phase: 'error', pid: null, key: null }],
  [
    'a SCRAM exchange with an empty-body message',
    Buffer.concat([backendMessage('R', Buffer.from([0, 0, 0, 10, 0x53, 0x43, 0])), backendMessage('R', Buffer.from([0, 0, 0, 12])), backendMessage('N'), authOk(), backendKeyData(1, KEY4), readyForQuery()]),
    { phase: 'ready', pid: 1, key: KEY4 },
  ],
];

function summary(s: ServerStartupState): { phase: string; pid: number | null; key: Buffer | null } {
  return { phase: s.phase, pid: s.backendKey?.pid ?? null, key: s.backendKey?.key ?? null };
}

describe('server startup parser', () => {
  it.each(STREAMS)('learns BackendKeyData and the end of %s in one chunk', (_what, stream, expected) => {
    expect(summary(feedAll([stream]))).toEqual(expected);
  });

  it.each(STREAMS)('gives the same result for %s fed byte by byte', (_what, stream, expected) => {
    expect(summary(feedAll([...stream].map((b) => Buffer.from([b]))))).toEqual(expected);
  });

  it.each(STREAMS)('gives the same result for %s split at every point', (_what, stream, expected) => {
    for (let cut = 0; cut <= stream.length; cut++) {
      expect(summary(feedAll([stream.subarray(0, cut), stream.subarray(cut)])), `cut ${cut}`).toEqual(expected);
    }
  });

  it('stays in startup until ReadyForQuery arrives, with the key already known', () => {
    const s = feedAll([authOk(), backendKeyData(5, KEY4)]);
    expect(s.phase).toBe('startup');
    expect(s.backendKey).toEqual({ pid: 5, key: KEY4 });
  });

  it('ignores everything after the end of startup', () => {
    const done = feedAll([readyForQuery()]);
    expect(feedServerStartup(done, backendKeyData(9, KEY4))).toBe(done);
  });

  it('does not modify the state it is given', () => {
    const s0 = initialServerStartup();
    const s1 = feedServerStartup(s0, authOk().subarray(0, 3));
    expect(s0).toEqual(initialServerStartup());
    expect(s1.header.length).toBe(3);
  });

  it('calls a message length below 4 invalid', () => {
    const bad = Buffer.from([0x52, 0, 0, 0, 2]);
    expect(feedAll([bad])).toMatchObject({ phase: 'invalid' });
  });

  it('calls a BackendKeyData with a 3-byte or 257-byte key invalid', () => {
    expect(feedAll([backendKeyData(1, Buffer.alloc(3))]).phase).toBe('invalid');
    expect(feedAll([backendKeyData(1, Buffer.alloc(257))]).phase).toBe('invalid');
  });

  it('never throws on 10,000 random buffers, whole or in random chunks', () => {
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let i = 0; i < 10_000; i++) {
      const len = Math.floor(rand() * 96);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = Math.floor(rand() * 256);
      // Some with small plausible lengths so messages complete inside the buffer.
      if (i % 2 === 0) for (let p = 1; p + 3 < len; p += 9) buf.writeUInt32BE(4 + Math.floor(rand() * 8), p);
      const cut = Math.floor(rand() * (len + 1));
      const s = feedAll([buf.subarray(0, cut), buf.subarray(cut)]);
      expect(['startup', 'ready', 'error', 'invalid']).toContain(s.phase);
      expect(s.header.length).toBeLessThan(5);
    }
  });
});

describe('firstServerMessage', () => {
  const refusal = errorResponse('57P03', 'the database system is shutting down');

  it('reads the SQLSTATE of a startup refusal, at every split point', () => {
    expect(firstServerMessage(refusal)).toEqual({ kind: 'error', sqlstate: '57P03' });
    for (let cut = 0; cut < refusal.length; cut++) expect(firstServerMessage(refusal.subarray(0, cut)).kind, `cut ${cut}`).toBe('incomplete');
  });

  it('calls anything but an ErrorResponse other as soon as its type byte arrives', () => {
    expect(firstServerMessage(authOk().subarray(0, 1))).toEqual({ kind: 'other' });
    expect(firstServerMessage(backendMessage('v', Buffer.alloc(8)))).toEqual({ kind: 'other' });
  });

  it('does not hold back an ErrorResponse larger than the limit', () => {
    const big = errorResponse('XX000', 'x'.repeat(MAX_HELD_ERROR));
    expect(firstServerMessage(big.subarray(0, 5))).toEqual({ kind: 'other' });
  });

  it('reports an ErrorResponse without a C field with a null SQLSTATE', () => {
    expect(firstServerMessage(backendMessage('E', Buffer.from('Mno code\0\0')))).toEqual({ kind: 'error', sqlstate: null });
  });

  it('never throws on 10,000 random buffers starting with E', () => {
    let seed = 3;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let i = 0; i < 10_000; i++) {
      const len = 1 + Math.floor(rand() * 40);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = Math.floor(rand() * 256);
      buf[0] = 0x45;
      if (len >= 5 && i % 2 === 0) buf.writeUInt32BE(Math.floor(rand() * len) + 1, 1);
      expect(['incomplete', 'error', 'other']).toContain(firstServerMessage(buf).kind);
    }
  });
});
