import { describe, expect, it } from 'vitest';
import { bearerToken, challenge, TokenCheck } from '../../../src/http/admin-auth.js';

const TOKEN = 'admin-token-0123456789';

describe('the admin token check', () => {
  const check = new TokenCheck(TOKEN);

  it('accepts exactly "Bearer <token>", the scheme in any case', () => {
    expect(check.check(`Bearer ${TOKEN}`)).toEqual({ ok: true });
    expect(check.check(`bearer ${TOKEN}`)).toEqual({ ok: true });
  });

  it('says missing without a header, with another scheme or an empty token', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', `Basic ${TOKEN}`, TOKEN]) expect(check.check(header)).toEqual({ ok: false, why: 'missing' });
  });

  it('says invalid for a wrong token, a prefix of it, or a longer one', () => {
    for (const given of ['x', TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase()]) {
      expect(check.check(`Bearer ${given}`)).toEqual({ ok: false, why: 'invalid' });
    }
  });

  it('parses the token and words the 401 challenge per RFC 6750', () => {
    expect(bearerToken('Bearer  abc ')).toBe('abc');
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(challenge('missing')).toBe('Bearer realm="pgrouter admin"');
    expect(challenge('invalid')).toBe('Bearer realm="pgrouter admin", error="invalid_token"');
  });
});
