import { Readable } from 'node:stream';
import { parse } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import { cancelRequestPacket, errorResponse, NO_ENCRYPTION, sslRequestPacket } from '../../../src/protocol/messages.js';
import { decodeStartup } from '../../../src/protocol/startup-decoder.js';

async function parseBackend(buf: Buffer): Promise<unknown[]> {
  const out: unknown[] = [];
  await parse(Readable.from([buf]), (msg) => out.push(msg));
  return out;
}

describe('protocol messages', () => {
  it('encodes a FATAL ErrorResponse that node-postgres reads back with its SQLSTATE and message', async () => {
    const [msg] = await parseBackend(errorResponse('57P03', 'no primary available for listener rw'));
    expect(msg).toMatchObject({ name: 'error', severity: 'FATAL', code: '57P03', message: 'no primary available for listener rw' });
  });

  it('drops NUL bytes from the message rather than corrupting the frame', async () => {
    const [msg] = await parseBackend(errorResponse('53300', 'a\0b'));
    expect(msg).toMatchObject({ code: '53300', message: 'ab' });
  });

  it('answers SSL/GSS negotiation with the single byte N', () => {
    expect(NO_ENCRYPTION.equals(Buffer.from('N'))).toBe(true);
  });

  it('builds CancelRequests that decode back to the same pid and key (3.0 and 3.2)', () => {
    for (const key of [Buffer.from([1, 2, 3, 4]), Buffer.alloc(256, 9)]) {
      const d = decodeStartup(cancelRequestPacket(0xfffffffe, key));
      expect(d).toEqual({ kind: 'cancel', pid: 0xfffffffe, key, consumed: 12 + key.length });
    }
  });

  it('builds an SSLRequest', () => {
    expect(decodeStartup(sslRequestPacket()).kind).toBe('ssl_request');
  });
});
