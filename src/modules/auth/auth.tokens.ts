import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { unauthenticated } from '../../lib/errors.js';

/** What a token is for; a token of one kind is never accepted as another. */
export type TokenKind = 'session' | 'waitlist-ticket';

const issuer = 'verity';

/**
 * Signs and verifies Verity's JWTs (HS256). Every instance must share the secret, so that a
 * token issued by one is accepted by all.
 */
export function createTokenService(options: { secret: Uint8Array }) {
  const { secret } = options;
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
        .sign(secret);
      return { token, expiresAt };
    },

    /**
     * The subject and claims of a valid token of `kind`. Throws UNAUTHENTICATED for anything
     * else (forged, expired, of another kind, malformed), with a message that says which.
     */
    async verify(kind: TokenKind, token: string) {
      try {
        const { payload } = await jwtVerify(token, secret, {
          algorithms: ['HS256'],
          issuer,
          audience: kind,
        });
        if (payload['kind'] !== kind || typeof payload.sub !== 'string') {
          throw unauthenticated('That token is not valid here.');
        }
        return { subject: payload.sub, claims: payload };
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) {
          throw unauthenticated(
            kind === 'session'
              ? 'Your session has expired. Sign in again.'
              : 'That ticket token has expired.',
          );
        }
        if (error instanceof joseErrors.JOSEError) {
          throw unauthenticated(
            kind === 'session' ? 'Invalid session token.' : 'Invalid ticket token.',
          );
        }
        throw error;
      }
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
