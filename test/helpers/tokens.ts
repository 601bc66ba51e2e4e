import { SignJWT } from 'jose';
import { testJwtSecret } from './server.js';

/** A token signed with another secret: well-formed, but forged. */
export async function forgedSessionToken(userIdHex = '0123456789abcdef01234567'): Promise<string> {
  return new SignJWT({ kind: 'session' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('verity')
    .setAudience('session')
    .setSubject(userIdHex)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('not-the-secret-not-the-secret-not-the-secret'));
}

/** A genuine session token (the right secret) that expired an hour ago. */
export async function expiredSessionToken(userIdHex: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ kind: 'session' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('verity')
    .setAudience('session')
    .setSubject(userIdHex)
    .setIssuedAt(now - 7200)
    .setExpirationTime(now - 3600)
    .sign(new TextEncoder().encode(testJwtSecret));
}

/** A genuine, unexpired session token for any user id, existing or not. */
export async function sessionTokenFor(userIdHex: string): Promise<string> {
  return new SignJWT({ kind: 'session' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('verity')
    .setAudience('session')
    .setSubject(userIdHex)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(testJwtSecret));
}

/** The ObjectId hex inside a User global id. */
export const userIdHex = (globalId: string) =>
  Buffer.from(globalId, 'base64url').toString('utf8').split(':')[1]!;

/** A genuine session token of session `sessionId` that expires in `seconds`. */
export async function shortSessionToken(
  userIdHex: string,
  seconds: number,
  sessionId = 'short-lived-session',
): Promise<string> {
  const now = Date.now();
  return new SignJWT({ kind: 'session', sid: sessionId, at: now })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('verity')
    .setAudience('session')
    .setSubject(userIdHex)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor(now / 1000) + seconds)
    .sign(new TextEncoder().encode(testJwtSecret));
}
