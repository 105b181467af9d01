// Bearer-token check of the admin API. Both sides are hashed to SHA-256 first, so
// timingSafeEqual always compares 32 bytes: neither the token's content nor its length leaks
// through the comparison time (a plain === returns at the first differing byte).
import { createHash, timingSafeEqual } from 'node:crypto';

export type AuthResult = { readonly ok: true } | { readonly ok: false; readonly why: 'missing' | 'invalid' };

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class TokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** `header` is the raw Authorization header (RFC 6750: "Bearer <token>", scheme case-insensitive). */
  check(header: string | undefined): AuthResult {
    const given = bearerToken(header);
    if (given === null) return { ok: false, why: 'missing' };
    return timingSafeEqual(digest(given), this.expected) ? { ok: true } : { ok: false, why: 'invalid' };
  }
}

export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}

/** RFC 6750 §3: the challenge of a 401, with error="invalid_token" when a token was sent. */
export function challenge(why: 'missing' | 'invalid'): string {
  const realm = 'Bearer realm="pgrouter admin"';
  return why === 'invalid' ? `${realm}, error="invalid_token"` : realm;
}
