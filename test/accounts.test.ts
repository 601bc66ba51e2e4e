import { describe, expect, it } from 'vitest';
import { errorCodes, signUpMutation, uniqueUsername } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';

const meQuery = /* GraphQL */ `
  query {
    me {
      id
      username
      displayName
      bio
      avatarUrl
      email
      createdAt
    }
  }
`;

describe('accounts', () => {
  const verity = useVerity();

  const userCount = () => verity.app.internals.models.User.countDocuments().exec();

  it('signs up, then answers `me` with the session token', async () => {
    const username = uniqueUsername('Ada');
    const signUp = await verity.gql(signUpMutation, {
      input: {
        username,
        email: `  ${username}@Example.COM `,
        password: 'analytical engine 1843',
        displayName: 'Ada L.',
      },
    });
    expect(signUp.errors).toBeUndefined();
    const session = signUp.data!['signUp'];
    expect(session.__typename).toBe('Session');
    expect(new Date(session.expiresAt).getTime()).toBeGreaterThan(Date.now());

    const me = await verity.gql(meQuery, {}, { token: session.token });
    expect(me.errors).toBeUndefined();
    expect(me.data!['me']).toMatchObject({
      id: session.user.id,
      username,
      displayName: 'Ada L.',
      bio: '',
      avatarUrl: null,
      email: `${username.toLowerCase()}@example.com`,
    });
  });

  it('answers `me` with null without a session', async () => {
    const me = await verity.gql(meQuery);
    expect(me.errors).toBeUndefined();
    expect(me.data!['me']).toBeNull();
  });

  it('logs in by username in any case or by email, and refuses a wrong password', async () => {
    const user = await verity.signUp();
    const logIn = `mutation($input: LogInInput!) { logIn(input: $input) { token user { id } } }`;

    const byName = await verity.gql(logIn, {
      input: { login: user.username.toUpperCase(), password: user.password },
    });
    expect(byName.data!['logIn'].user.id).toBe(user.id);
    const byEmail = await verity.gql(logIn, {
      input: { login: user.email.toUpperCase(), password: user.password },
    });
    expect(byEmail.data!['logIn'].user.id).toBe(user.id);

    const wrong = await verity.gql(logIn, {
      input: { login: user.username, password: 'not the password' },
    });
    expect(errorCodes(wrong)).toEqual(['UNAUTHENTICATED']);
    const unknown = await verity.gql(logIn, {
      input: { login: 'nobody_here', password: 'whatever it is' },
    });
    expect(errorCodes(unknown)).toEqual(['UNAUTHENTICATED']);
    expect(unknown.errors![0]!.message).toBe(wrong.errors![0]!.message);
  });

  it('finds a user by username regardless of case, and by global id, without their email', async () => {
    const user = await verity.signUp();
    const found = await verity.gql(
      `query($u: String!) { user(username: $u) { id username email } }`,
      {
        u: user.username.toUpperCase(),
      },
    );
    expect(found.data!['user']).toEqual({ id: user.id, username: user.username, email: null });

    const node = await verity.gql(
      `query($id: ID!) { node(id: $id) { id ... on User { username } } }`,
      { id: user.id },
    );
    expect(node.data!['node']).toEqual({ id: user.id, username: user.username });

    const missing = await verity.gql(
      `query { user(username: "no_such_user") { id } node(id: "bm9wZQ") { id } }`,
    );
    expect(missing.data).toEqual({ user: null, node: null });
  });

  it('answers a retried sign-up whose answer was lost with a session for the same account, and shows the owner their email', async () => {
    const username = uniqueUsername('retry');
    const input = {
      username,
      email: `${username}@example.com`,
      password: 'analytical engine 1843',
    };
    const query = /* GraphQL */ `
      mutation SignUp($input: SignUpInput!) {
        signUp(input: $input) {
          __typename
          ... on Session {
            token
            user {
              id
              email
            }
          }
        }
      }
    `;
    const first = await verity.gql(query, { input });
    const retry = await verity.gql(query, {
      input: { ...input, username: username.toUpperCase() },
    });
    expect(retry.data?.['signUp'].user).toEqual(first.data?.['signUp'].user);
    expect(first.data?.['signUp'].user.email).toBe(input.email);
    expect(
      await verity.app.internals.models.User.countDocuments({ email: input.email }).exec(),
    ).toBe(1);
    // The same name and email with another password is someone else: CONFLICT.
    const other = await verity.gql(query, {
      input: { ...input, password: 'a different passphrase 99' },
    });
    expect(errorCodes(other)).toEqual(['CONFLICT']);
  });

  it('updates the profile and leaves omitted fields alone', async () => {
    const user = await verity.signUp();
    const update = `mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { displayName bio avatarUrl } }`;
    const first = await verity.gql(
      update,
      { input: { bio: 'Poetical science.', avatarUrl: 'https://example.com/a.png' } },
      { token: user.token },
    );
    expect(first.data!['updateProfile']).toEqual({
      displayName: user.username,
      bio: 'Poetical science.',
      avatarUrl: 'https://example.com/a.png',
    });
    const second = await verity.gql(
      update,
      { input: { displayName: 'Countess' } },
      { token: user.token },
    );
    expect(second.data!['updateProfile']).toEqual({
      displayName: 'Countess',
      bio: 'Poetical science.',
      avatarUrl: 'https://example.com/a.png',
    });
  });

  describe('rejects bad input with a typed error and writes nothing', () => {
    it('a username that differs only in case', async () => {
      const user = await verity.signUp();
      const before = await userCount();
      const result = await verity.gql(signUpMutation, {
        input: {
          username: user.username.toUpperCase(),
          email: `other_${user.email}`,
          password: 'a perfectly fine passphrase',
        },
      });
      expect(errorCodes(result)).toEqual(['CONFLICT']);
      expect(result.errors![0]!.extensions!['field']).toBe('username');
      expect(await userCount()).toBe(before);
    });

    it('an email that is already used, in another case and with spaces', async () => {
      const user = await verity.signUp();
      const before = await userCount();
      const result = await verity.gql(signUpMutation, {
        input: {
          username: uniqueUsername(),
          email: `  ${user.email.toUpperCase()}`,
          password: 'a perfectly fine passphrase',
        },
      });
      expect(errorCodes(result)).toEqual(['CONFLICT']);
      expect(result.errors![0]!.extensions!['field']).toBe('email');
      expect(await userCount()).toBe(before);
    });

    it.each([
      ['an invalid email', { email: 'not-an-email' }, 'email'],
      ['an email without a domain dot', { email: 'someone@localhost' }, 'email'],
      ['an empty password', { password: '' }, 'password'],
      ['a short password', { password: 'short1!' }, 'password'],
      ['a common password', { password: 'password123' }, 'password'],
      ['a repetitive password', { password: 'aaaaaaaaaaaaaaaa' }, 'password'],
      ['a username with spaces', { username: 'ada lovelace' }, 'username'],
      ['a too short username', { username: 'ab' }, 'username'],
    ])('%s', async (_label, override, field) => {
      const before = await userCount();
      const input = {
        username: uniqueUsername(),
        email: `${uniqueUsername()}@example.com`,
        password: 'a perfectly fine passphrase',
        ...override,
      };
      const result = await verity.gql(signUpMutation, { input });
      expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
      expect(result.errors![0]!.extensions!['field']).toBe(field);
      expect(result.data).toBeNull();
      expect(await userCount()).toBe(before);
    });

    it('a password that contains the username', async () => {
      const username = uniqueUsername();
      const result = await verity.gql(signUpMutation, {
        input: { username, email: `${username}@example.com`, password: `${username}2024!` },
      });
      expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
    });

    it('a profile change that breaks a rule, leaving the profile as it was', async () => {
      const user = await verity.signUp();
      const update = `mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { bio } }`;
      for (const input of [
        { bio: 'x'.repeat(161) },
        { avatarUrl: 'http://insecure.example.com/a.png' },
        { displayName: '   ' },
      ]) {
        const result = await verity.gql(
          update,
          { input: { ...input, bio: input.bio ?? 'changed?' } },
          { token: user.token },
        );
        expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
      }
      const me = await verity.gql(
        `{ me { bio displayName avatarUrl } }`,
        {},
        { token: user.token },
      );
      expect(me.data!['me']).toEqual({ bio: '', displayName: user.username, avatarUrl: null });
    });

    it('a profile change without a session', async () => {
      const result = await verity.gql(`mutation { updateProfile(input: { bio: "hi" }) { bio } }`);
      expect(errorCodes(result)).toEqual(['UNAUTHENTICATED']);
    });
  });

  it('lets only one of two racing sign-ups for the same username win', async () => {
    const username = uniqueUsername();
    const attempt = (suffix: string) =>
      verity.gql(signUpMutation, {
        input: {
          username: suffix === 'a' ? username : username.toUpperCase(),
          email: `${suffix}_${username}@example.com`,
          password: 'a perfectly fine passphrase',
        },
      });
    const results = await Promise.all([attempt('a'), attempt('b'), attempt('c')]);
    const winners = results.filter((result) => result.data?.['signUp']);
    expect(winners).toHaveLength(1);
    expect(results.flatMap(errorCodes)).toEqual(['CONFLICT', 'CONFLICT']);
    expect(
      await verity.app.internals.models.User.countDocuments({
        usernameKey: username.toLowerCase(),
      }),
    ).toBe(1);
  });
});
