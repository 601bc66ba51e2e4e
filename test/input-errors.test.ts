import { describe, expect, it } from 'vitest';
import { errorCodes, signUpMutation, uniqueUsername } from './helpers/graphql.js';
import { useVerity, type TestServer } from './helpers/server.js';
import { post } from './helpers/social.js';

interface FieldError {
  field: string;
  message: string;
}

/** The one error of a response, which must be a BAD_USER_INPUT (or `code`) naming fields. */
function fieldsOf(
  result: { errors?: { message: string; extensions?: Record<string, unknown> }[] },
  code = 'BAD_USER_INPUT',
) {
  expect(errorCodes(result)).toEqual([code]);
  const error = result.errors![0]!;
  const fields = error.extensions!['fields'] as FieldError[];
  // The first field stays in `field`, and the message holds every field's own message.
  expect(error.extensions!['field']).toBe(fields[0]!.field);
  expect(error.message).toBe(fields.map((f) => f.message).join(' '));
  for (const f of fields) expect(f.message).toMatch(/\S/);
  return fields;
}

const counts = async (server: TestServer) => {
  const { User, Truth, Idempotency, UserChange, WaitlistEntry } = server.app.internals.models;
  return {
    users: await User.countDocuments().exec(),
    truths: await Truth.countDocuments().exec(),
    idempotencyKeys: await Idempotency.countDocuments().exec(),
    profileChanges: await UserChange.countDocuments().exec(),
    waitlist: await WaitlistEntry.countDocuments().exec(),
  };
};

const password = 'correct horse battery staple';

describe('input errors of one mutation, reported together', () => {
  const admin = uniqueUsername('adm');
  const verity = useVerity({ env: { ADMIN_USERNAMES: admin } });

  it('reports a bad username, email and password of a sign-up in one error, and creates nothing', async () => {
    const before = await counts(verity);
    const result = await verity.gql(signUpMutation, {
      input: { username: 'a b', email: 'not-an-email', password: 'short', displayName: ' ' },
    });
    expect(result.data).toBeNull();
    expect(fieldsOf(result)).toEqual([
      {
        field: 'username',
        message: 'A username is 3 to 30 characters: letters, digits and underscores only.',
      },
      { field: 'email', message: 'That is not a valid email address.' },
      { field: 'password', message: 'A password needs at least 10 characters.' },
      { field: 'displayName', message: 'A display name is 1 to 50 characters.' },
    ]);
    expect(await counts(verity)).toEqual(before);
  });

  it('still names only the one field at fault, in `fields` as in `field`', async () => {
    const result = await verity.gql(signUpMutation, {
      input: { username: uniqueUsername(), email: 'someone@localhost', password },
    });
    expect(fieldsOf(result)).toEqual([
      { field: 'email', message: 'That is not a valid email address.' },
    ]);
  });

  it('checks the password against the username and email as given, even when they are refused', async () => {
    const result = await verity.gql(signUpMutation, {
      input: { username: 'x', email: 'ada_lovelace@', password: 'ada_lovelace 1843' },
    });
    expect(fieldsOf(result).map((f) => f.field)).toEqual(['username', 'email', 'password']);
  });

  it('names both the username and the email when each belongs to an account', async () => {
    const existing = await verity.signUp();
    const other = await verity.signUp();
    const before = await counts(verity);
    const result = await verity.gql(signUpMutation, {
      input: { username: existing.username, email: other.email, password: 'another fine phrase' },
    });
    expect(fieldsOf(result, 'CONFLICT')).toEqual([
      { field: 'username', message: 'That username is taken.' },
      { field: 'email', message: 'An account with that email already exists.' },
    ]);
    expect(await counts(verity)).toEqual(before);
  });

  it('reports every bad field of a profile change, leaving the profile as it was', async () => {
    const user = await verity.signUp();
    const before = await counts(verity);
    const result = await verity.gql(
      `mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { bio } }`,
      { input: { displayName: '', bio: 'x'.repeat(161), avatarUrl: 'http://a.example/a.png' } },
      { token: user.token },
    );
    expect(fieldsOf(result).map((f) => f.field)).toEqual(['displayName', 'bio', 'avatarUrl']);
    expect(await counts(verity)).toEqual(before);
    const me = await verity.gql(`{ me { displayName bio avatarUrl } }`, {}, { token: user.token });
    expect(me.data!['me']).toEqual({ displayName: user.username, bio: '', avatarUrl: null });
  });

  it('reports bad text, a bad reply target and a bad idempotency key of a post together', async () => {
    const user = await verity.signUp();
    const before = await counts(verity);
    const result = await verity.gql(
      `mutation($input: PostTruthInput!) { postTruth(input: $input) { truth { id } } }`,
      { input: { text: '   ', replyToId: 'not-an-id', idempotencyKey: 'k'.repeat(101) } },
      { token: user.token },
    );
    expect(fieldsOf(result)).toEqual([
      { field: 'text', message: 'A truth needs some text.' },
      { field: 'replyToId', message: 'replyToId must be the ID of a Truth.' },
      { field: 'idempotencyKey', message: 'An idempotency key is 1 to 100 characters.' },
    ]);
    expect(await counts(verity)).toEqual(before);
  });

  it('refuses an empty reply or quote target as no truth’s ID, and posts nothing', async () => {
    const user = await verity.signUp();
    const before = await counts(verity);
    for (const field of ['replyToId', 'quoteOfId']) {
      const result = await verity.gql(
        `mutation($input: PostTruthInput!) { postTruth(input: $input) { truth { id } } }`,
        { input: { text: 'meant as an answer', [field]: '', idempotencyKey: `empty-${field}` } },
        { token: user.token },
      );
      expect(fieldsOf(result)).toEqual([{ field, message: `${field} must be the ID of a Truth.` }]);
    }
    expect(await counts(verity)).toEqual(before);
  });

  it('reports a post that both replies and quotes along with its other faults', async () => {
    const user = await verity.signUp();
    const target = await post(verity, user.token, 'a target');
    const result = await verity.gql(
      `mutation($input: PostTruthInput!) { postTruth(input: $input) { truth { id } } }`,
      { input: { text: 'x'.repeat(1_001), replyToId: target.id, quoteOfId: target.id } },
      { token: user.token },
    );
    expect(fieldsOf(result).map((f) => f.field)).toEqual(['text', 'quoteOfId']);
  });

  it('reports both bad settings of a capacity change, changing neither', async () => {
    const boss = await verity.signUp({ username: admin });
    const stats = `{ waitlistStats { maxActiveAccounts admissionRatePerMinute } }`;
    const before = await verity.gql(stats, {}, { token: boss.token });
    const result = await verity.gql(
      `mutation { setWaitlistCapacity(input: { maxActiveAccounts: -1, admissionRatePerMinute: -5 }) { paused } }`,
      {},
      { token: boss.token },
    );
    expect(fieldsOf(result).map((f) => f.field)).toEqual([
      'maxActiveAccounts',
      'admissionRatePerMinute',
    ]);
    expect((await verity.gql(stats, {}, { token: boss.token })).data).toEqual(before.data);
  });

  it('reports a bad page size and a bad cursor together', async () => {
    const result = await verity.gql(
      `{ publicFeed(first: 500, after: "nope") { edges { cursor } } }`,
    );
    expect(fieldsOf(result).map((f) => f.field)).toEqual(['first', 'after']);
  });
});

describe('input errors of the waitlist mutations, reported together', () => {
  const verity = useVerity({ env: { WAITLIST_PAUSED: 'true' } });

  it('reports a bad email and username of a join together, and hands out no ticket', async () => {
    const before = await counts(verity);
    const result = await verity.gql(
      `mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { ticket } }`,
      { input: { email: 'nobody', username: '!' } },
    );
    expect(fieldsOf(result).map((f) => f.field)).toEqual(['email', 'username']);
    expect(await counts(verity)).toEqual(before);
  });

  it('reports every bad field of a completion before telling that the ticket still waits', async () => {
    const username = uniqueUsername('w');
    const join = await verity.gql(
      `mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { ticketToken } }`,
      { input: { email: `${username}@example.com`, username } },
    );
    const ticketToken = join.data!['joinWaitlist'].ticketToken as string;
    const complete = `mutation($input: CompleteSignUpInput!) { completeSignUp(input: $input) { token } }`;
    const before = await counts(verity);
    const bad = await verity.gql(complete, {
      input: { ticketToken, password: 'short', displayName: '', username: 'no spaces allowed' },
    });
    expect(fieldsOf(bad).map((f) => f.field)).toEqual(['username', 'password', 'displayName']);
    expect(await counts(verity)).toEqual(before);

    // With good values, what remains is the ticket's own state.
    const good = await verity.gql(complete, { input: { ticketToken, password } });
    expect(errorCodes(good)).toEqual(['WAITLISTED']);
  });
});
