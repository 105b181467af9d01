import { describe, expect, it } from 'vitest';
import {
  authenticationSasl,
  clientSaslMechanism,
  findServerSasl,
  MAX_SASL_MECHANISM_PREFIX,
  MAX_SASL_PREFIX,
  withoutPlusMechanisms,
} from '../../../src/protocol/sasl.js';
import { authOk, backendMessage } from '../proxy/helpers/packets.js';

const BOTH = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'];

/** SASLInitialResponse: 'p', length, mechanism, Int32 data length, data. */
function saslInitial(mechanism: string, data = Buffer.from('p=tls-server-end-point,,n=,r=abc')): Buffer {
  const name = Buffer.from(`${mechanism}\0`, 'utf8');
  const len = Buffer.alloc(4);
  len.writeInt32BE(data.length);
  return backendMessage('p', Buffer.concat([name, len, data]));
}

function rand(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

describe('AuthenticationSASL (server)', () => {
  it('finds the mechanism list of the first authentication request, and where it is', () => {
    const msg = authenticationSasl(BOTH);
    expect(findServerSasl(msg)).toEqual({ kind: 'sasl', start: 0, end: msg.length, mechanisms: BOTH });
  });

  it('skips a NegotiateProtocolVersion that comes first', () => {
    const v = backendMessage('v', Buffer.from([0, 3, 0, 0, 0, 0, 0, 0]));
    const msg = Buffer.concat([v, authenticationSasl(BOTH)]);
    expect(findServerSasl(msg)).toMatchObject({ kind: 'sasl', start: v.length, end: msg.length, mechanisms: BOTH });
  });

  it('calls anything else first "other": AuthenticationOk, an MD5 request, an ErrorResponse', () => {
    expect(findServerSasl(authOk())).toEqual({ kind: 'other' });
    expect(findServerSasl(backendMessage('R', Buffer.from([0, 0, 0, 5, 1, 2, 3, 4])))).toEqual({ kind: 'other' });
    expect(findServerSasl(backendMessage('E', Buffer.from('SFATAL\0\0')))).toEqual({ kind: 'other' });
  });

  it('waits at every split point of the message, byte by byte', () => {
    const msg = authenticationSasl(BOTH);
    for (let cut = 0; cut < msg.length; cut++) expect(findServerSasl(msg.subarray(0, cut)).kind, `cut ${cut}`).toBe('incomplete');
  });

  it('does not trust a length: a message longer than the bound is "other", before it arrives', () => {
    const head = Buffer.alloc(9);
    head[0] = 0x52;
    head.writeUInt32BE(MAX_SASL_PREFIX, 1);
    head.writeUInt32BE(10, 5);
    expect(findServerSasl(head)).toEqual({ kind: 'other' });
  });

  it('calls a list without its final empty name, or with bytes after it, "other"', () => {
    const body = (s: string) => Buffer.concat([Buffer.from([0, 0, 0, 10]), Buffer.from(s, 'latin1')]);
    expect(findServerSasl(backendMessage('R', body('SCRAM-SHA-256\0')))).toEqual({ kind: 'other' });
    expect(findServerSasl(backendMessage('R', body('SCRAM-SHA-256\0\0x')))).toEqual({ kind: 'other' });
  });

  it('strips -PLUS by rewriting the message and its length, keeping the bytes around it', () => {
    const tail = authOk();
    const buf = Buffer.concat([authenticationSasl(BOTH), tail]);
    const found = findServerSasl(buf);
    if (found.kind !== 'sasl') throw new Error('not found');
    const out = withoutPlusMechanisms(buf, found);
    expect(out).toEqual(Buffer.concat([authenticationSasl(['SCRAM-SHA-256']), tail]));
    expect(findServerSasl(out)).toMatchObject({ kind: 'sasl', mechanisms: ['SCRAM-SHA-256'] });
  });

  it('never throws on 10,000 random buffers, and never holds more than its bound', () => {
    const r = rand(11);
    for (let i = 0; i < 10_000; i++) {
      const len = Math.floor(r() * 64);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = Math.floor(r() * 256);
      if (i % 2 === 0 && len > 0) buf[0] = i % 4 === 0 ? 0x52 : 0x76;
      if (i % 3 === 0 && len >= 5) buf.writeUInt32BE(4 + Math.floor(r() * len), 1);
      if (i % 5 === 0 && len >= 9) buf.writeUInt32BE(10, 5);
      const found = findServerSasl(buf);
      expect(['incomplete', 'sasl', 'other']).toContain(found.kind);
      if (found.kind === 'sasl') expect(found.end).toBeLessThanOrEqual(buf.length);
    }
    expect(findServerSasl(Buffer.alloc(MAX_SASL_PREFIX + 10)).kind).toBe('other');
  });
});

describe('SASLInitialResponse (client)', () => {
  it('reads the mechanism the client chose', () => {
    expect(clientSaslMechanism(saslInitial('SCRAM-SHA-256-PLUS'))).toEqual({ kind: 'mechanism', mechanism: 'SCRAM-SHA-256-PLUS' });
    expect(clientSaslMechanism(saslInitial('SCRAM-SHA-256'))).toEqual({ kind: 'mechanism', mechanism: 'SCRAM-SHA-256' });
  });

  it('knows it as soon as the name is complete, at every split point before that it waits', () => {
    const msg = saslInitial('SCRAM-SHA-256-PLUS');
    const nameEnd = msg.indexOf(0, 5);
    for (let cut = 0; cut <= nameEnd; cut++) expect(clientSaslMechanism(msg.subarray(0, cut)).kind, `cut ${cut}`).toBe('incomplete');
    expect(clientSaslMechanism(msg.subarray(0, nameEnd + 1))).toEqual({ kind: 'mechanism', mechanism: 'SCRAM-SHA-256-PLUS' });
  });

  it('calls another message, a short length or an unterminated name invalid', () => {
    expect(clientSaslMechanism(Buffer.from('Q'))).toMatchObject({ kind: 'invalid' });
    expect(clientSaslMechanism(backendMessage('p', Buffer.from([0])))).toMatchObject({ kind: 'invalid' });
    expect(clientSaslMechanism(backendMessage('p', Buffer.from('SCRAM-SHA-256xxxxxx')))).toMatchObject({ kind: 'invalid' });
  });

  it('does not hold more than its bound for a name that never ends', () => {
    const head = Buffer.alloc(5);
    head[0] = 0x70;
    head.writeUInt32BE(1_000_000, 1);
    const long = Buffer.concat([head, Buffer.alloc(MAX_SASL_MECHANISM_PREFIX, 0x41)]);
    expect(clientSaslMechanism(long)).toMatchObject({ kind: 'invalid', reason: 'SASLInitialResponse mechanism name too long' });
    expect(clientSaslMechanism(long.subarray(0, long.length - 1)).kind).toBe('incomplete');
  });

  it('never throws on 10,000 random buffers', () => {
    const r = rand(5);
    for (let i = 0; i < 10_000; i++) {
      const len = Math.floor(r() * 48);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = Math.floor(r() * 256);
      if (i % 2 === 0 && len > 0) buf[0] = 0x70;
      if (i % 3 === 0 && len >= 5) buf.writeUInt32BE(Math.floor(r() * 64), 1);
      expect(['incomplete', 'mechanism', 'invalid']).toContain(clientSaslMechanism(buf).kind);
    }
  });
});
