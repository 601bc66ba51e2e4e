import { badUserInput, validateTogether } from '../../lib/errors.js';
import { assertStrongPassword } from '../auth/index.js';

const usernamePattern = /^[A-Za-z0-9_]{3,30}$/;
// Deliberately pragmatic: one @, a dot in the domain, no spaces. Deliverability is the mail
// system's business; this only rejects what cannot be an address.
const emailPattern = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

/** The username, validated; throws BAD_USER_INPUT naming the rule it breaks. */
export function validateUsername(raw: string): string {
  const username = raw.trim();
  if (!usernamePattern.test(username)) {
    throw badUserInput(
      'A username is 3 to 30 characters: letters, digits and underscores only.',
      'username',
    );
  }
  return username;
}

/** The case-insensitive key that makes usernames unique regardless of case. */
export const usernameKeyOf = (username: string) => username.trim().toLowerCase();

/** An email as Verity stores and compares it (Unicode NFKC, trimmed, lower-cased). */
export const emailKeyOf = (raw: string) => raw.normalize('NFKC').trim().toLowerCase();

/**
 * What a log-in name is looked up by: an email when it has an `@` (see `emailKeyOf`), else a
 * username's key. Log-in and its rate limit (graphql/rate-limits.ts) read a name the same way.
 */
export const loginKeyOf = (login: string): { field: 'email' | 'usernameKey'; value: string } =>
  login.includes('@')
    ? { field: 'email', value: emailKeyOf(login) }
    : { field: 'usernameKey', value: usernameKeyOf(login) };

/** The email, normalised (see `emailKeyOf`) and validated. */
export function normalizeEmail(raw: string): string {
  const email = emailKeyOf(raw);
  if (email.length > 254 || !emailPattern.test(email)) {
    throw badUserInput('That is not a valid email address.', 'email');
  }
  return email;
}

export function validateDisplayName(raw: string): string {
  const displayName = raw.normalize('NFC').trim();
  if (displayName.length < 1 || displayName.length > 50) {
    throw badUserInput('A display name is 1 to 50 characters.', 'displayName');
  }
  return displayName;
}

export function validateBio(raw: string): string {
  const bio = raw.normalize('NFC').trim();
  if (bio.length > 160) throw badUserInput('A bio is at most 160 characters.', 'bio');
  return bio;
}

export function validateAvatarUrl(raw: string | null): string | null {
  if (raw === null || raw.trim() === '') return null;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw badUserInput('The avatar must be an https URL.', 'avatarUrl');
  }
  if (url.protocol !== 'https:' || url.href.length > 500) {
    throw badUserInput('The avatar must be an https URL of at most 500 characters.', 'avatarUrl');
  }
  return url.href;
}

/** What a new account is made of, as a client sends it. */
export interface NewAccount {
  username: string;
  email: string;
  password: string;
  displayName?: string | null | undefined;
}

/**
 * A new account's username, email and display name, validated together with its password:
 * every rule broken is reported at once (one BAD_USER_INPUT naming each field). Without
 * `password: false` the password must be strong, and never contain the username or email
 * (as given, even when they are themselves rejected).
 */
export function validateNewAccount(
  input: NewAccount,
  options: { password?: boolean } = {},
): { username: string; email: string; displayName: string } {
  const [username, email, , displayName] = validateTogether(
    () => validateUsername(input.username),
    () => normalizeEmail(input.email),
    () => {
      if (options.password === false) return;
      assertStrongPassword(input.password, {
        username: input.username.trim(),
        email: emailKeyOf(input.email),
      });
    },
    // Omitted, it is the username, whose own check covers it.
    () => (input.displayName == null ? null : validateDisplayName(input.displayName)),
  );
  return { username, email, displayName: displayName ?? username };
}
