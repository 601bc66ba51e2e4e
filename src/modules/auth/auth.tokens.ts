import { webcrypto } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { unauthenticated } from '../../lib/errors.js';

/** What a token is for; a token of one kind is never accepted as another. */
export type TokenKind = 'session' | 'waitlist-ticket' | 'media-upload';

const issuer = 'verity';

/**
 * Signs and verifies Verity's JWTs (HS256). Every instance must share the secret, so that a
 * token issued by one is accepted by all.
 */
export function createTokenService(options: { secret: Uint8Array }) {
  // Imported once: jose would otherwise import a raw secret on every call.
  const key = webcrypto.subtle.importKey(
    'raw',
    options.secret,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign', 'verify'],
  );
  /**
   * Tokens this process has verified: verification is pure, so a token seen before (the same
   * session on every request) needs only its kind and expiry checked again. Bounded.
   */
  const verified = new LRUCache<string, { kind: TokenKind; payload: JWTPayload }>({
    max: 10_000,
  });

  const expiredMessages: Readonly<Record<TokenKind, string>> = {
    session: 'Your session has expired. Sign in again.',
    'waitlist-ticket': 'That ticket token has expired.',
    'media-upload': 'That upload URL has expired. Ask for a new one.',
  };
  const invalidMessages: Readonly<Record<TokenKind, string>> = {
    session: 'Invalid session token.',
    'waitlist-ticket': 'Invalid ticket token.',
    'media-upload': 'Invalid upload URL.',
  };
  const expired = (kind: TokenKind) => unauthenticated(expiredMessages[kind], 'expired');

  return {
    async sign(
      kind: TokenKind,
      subject: string,
      ttlSeconds: number,
      claims: Record<string, unknown> = {},
    ) {
      const issuedAt = Math.floor(Date.now() / 1000);
      const expiresAt = new Date((issuedAt + ttlSeconds) * 1000);
      const token = await new SignJWT({ ...claims, kind })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience(kind)
        .setSubject(subject)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(await key);
      return { token, expiresAt };
    },

    /**
     * The subject and claims of a valid token of `kind`. Throws UNAUTHENTICATED for anything
     * else (forged, expired, of another kind, malformed), with a message that says which.
     */
    async verify(kind: TokenKind, token: string) {
      const known = verified.get(token);
      if (known && known.kind === kind) {
        if ((known.payload.exp ?? 0) * 1000 <= Date.now()) {
          verified.delete(token);
          throw expired(kind);
        }
        return { subject: known.payload.sub!, claims: known.payload };
      }
      try {
        const { payload } = await jwtVerify(token, await key, {
          algorithms: ['HS256'],
          issuer,
          audience: kind,
        });
        if (payload['kind'] !== kind || typeof payload.sub !== 'string') {
          throw unauthenticated('That token is not valid here.', 'invalid');
        }
        verified.set(token, { kind, payload });
        return { subject: payload.sub, claims: payload };
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) throw expired(kind);
        if (error instanceof joseErrors.JOSEError) {
          throw unauthenticated(invalidMessages[kind], 'invalid');
        }
        throw error;
      }
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
