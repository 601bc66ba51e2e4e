import { hash, verify } from '@node-rs/argon2';
import { badUserInput } from '../../lib/errors.js';
import { commonPasswords } from './common-passwords.js';

/**
 * argon2id with OWASP's first recommended profile (19 MiB, two passes, one lane): about 11 ms
 * on the libuv thread pool, never on the event loop.
 */
const argon2Options = {
  algorithm: 2, // Algorithm.Argon2id (a const enum, not importable under verbatimModuleSyntax)
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

export const hashPassword = (password: string) => hash(password, argon2Options);

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

// Verifying against this when a login names no account keeps the response time the same as
// for a wrong password, so timing does not reveal which usernames exist.
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('verity-dummy-password-for-timing');
  await verifyPassword(await dummyHash, password);
}

/**
 * NIST SP 800-63B style: length and a blocklist, no composition rules. Throws BAD_USER_INPUT
 * saying what to change.
 */
export function assertStrongPassword(
  password: string,
  context: { username: string; email: string },
): void {
  if (password.length === 0) throw badUserInput('A password is required.', 'password');
  if (password.length < 10) {
    throw badUserInput('A password needs at least 10 characters.', 'password');
  }
  if (password.length > 256) {
    throw badUserInput('A password is at most 256 characters.', 'password');
  }
  const lower = password.toLowerCase();
  const distinct = new Set(lower).size;
  const localPart = context.email.split('@')[0] ?? '';
  if (
    distinct < 5 ||
    commonPasswords.has(lower) ||
    lower.includes(context.username.toLowerCase()) ||
    (localPart.length >= 4 && lower.includes(localPart))
  ) {
    throw badUserInput(
      'That password is too easy to guess. Use a longer phrase that is not your username or email.',
      'password',
    );
  }
}
