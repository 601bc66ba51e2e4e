import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useVerity } from './helpers/server.js';
import {
  expiredSessionToken,
  forgedSessionToken,
  sessionTokenFor,
  userIdHex,
} from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

const userUpdated = /* GraphQL */ `
  subscription ($username: String!) {
    userUpdated(username: $username) {
      username
      bio
    }
  }
`;

describe('the WebSocket transport', () => {
  const verity = useVerity({
    env: { WS_MAX_SUBSCRIPTIONS: '3', WS_CONNECTION_INIT_TIMEOUT_MS: '1000', MAX_QUERY_DEPTH: '2' },
  });

  describe('authentication', () => {
    it('accepts a connection with a valid session token and runs queries on it', async () => {
      const user = await verity.signUp();
      expect(await verity.connectionOutcome({ authorization: `Bearer ${user.token}` })).toEqual({
        acknowledged: true,
      });
      const client = verity.connect(user.token);
      expect(await verity.execute(client, '{ me { username } }')).toEqual({
        data: { me: { username: user.username } },
      });
    });

    it('also accepts the bare token under `token`', async () => {
      const user = await verity.signUp();
      expect(await verity.connectionOutcome({ token: user.token })).toEqual({ acknowledged: true });
    });

    it.each([
      ['a forged token', async () => ({ authorization: `Bearer ${await forgedSessionToken()}` })],
      ['garbage', () => Promise.resolve({ authorization: 'Bearer garbage' })],
      [
        'a genuine token of a user that does not exist',
        async () => ({
          authorization: `Bearer ${await sessionTokenFor('0123456789abcdef01234567')}`,
        }),
      ],
    ])('refuses a connection with %s (4403) before any operation runs', async (_label, params) => {
      const outcome = await verity.connectionOutcome(await params());
      expect(outcome).toMatchObject({
        acknowledged: false,
        closeCode: 4403,
        closeReason: 'Forbidden: invalid session token',
      });
    });

    it('refuses an expired token with 4440, which says so', async () => {
      const user = await verity.signUp();
      const outcome = await verity.connectionOutcome({
        authorization: `Bearer ${await expiredSessionToken(userIdHex(user.id))}`,
      });
      expect(outcome).toEqual({
        acknowledged: false,
        closeCode: 4440,
        closeReason: 'Session expired',
      });
    });

    it.each([
      ['no connection params', undefined],
      ['no token', {}],
    ])(
      'accepts a connection with %s as anonymous: queries and public subscriptions, nothing else',
      async (_label, params) => {
        expect(await verity.connectionOutcome(params)).toEqual({ acknowledged: true });
        const user = await verity.signUp();
        const client = verity.connect(null);
        expect(await verity.execute(client, '{ me { username } }')).toEqual({
          data: { me: null },
        });
        const profile = verity.subscribe(client, userUpdated, { username: user.username });
        expect((await profile.next()).data).toEqual({
          userUpdated: { username: user.username, bio: '' },
        });
        profile.close();
        for (const refused of [
          'subscription { homeFeedUpdated { __typename } }',
          'subscription { notificationReceived { __typename } }',
          'mutation { logOut }',
        ]) {
          const result = await verity.execute(client, refused);
          expect(result.errors?.[0]?.extensions).toMatchObject({
            code: 'UNAUTHENTICATED',
            reason: 'missing',
          });
        }
      },
    );

    it('closes a socket that never sends connection_init (4408)', async () => {
      const socket = new WebSocket(verity.wsUrl, 'graphql-transport-ws');
      const code = await new Promise<number>((resolve) => socket.on('close', (c) => resolve(c)));
      expect(code).toBe(4408);
    });
  });

  describe('subscriptions', () => {
    it('delivers the current profile, then each change made over HTTP', async () => {
      const user = await verity.signUp();
      const watcher = await verity.signUp();
      const subscription = verity.subscribe(verity.connect(watcher.token), userUpdated, {
        username: user.username,
      });
      expect((await subscription.next()).data).toEqual({
        userUpdated: { username: user.username, bio: '' },
      });

      await verity.gql(
        `mutation { updateProfile(input: { bio: "first" }) { bio } }`,
        {},
        { token: user.token },
      );
      expect((await subscription.next()).data).toEqual({
        userUpdated: { username: user.username, bio: 'first' },
      });
      await verity.gql(
        `mutation { updateProfile(input: { bio: "second" }) { bio } }`,
        {},
        { token: user.token },
      );
      expect((await subscription.next()).data).toEqual({
        userUpdated: { username: user.username, bio: 'second' },
      });
    });

    it('removes the Redis channel when the last subscriber leaves', async () => {
      const user = await verity.signUp();
      const bus = verity.app.internals.bus;
      const client = verity.connect(user.token);
      await verity.execute(client, '{ __typename }');
      const before = bus.channelCount;
      const a = verity.subscribe(client, userUpdated, { username: user.username });
      const b = verity.subscribe(client, userUpdated, { username: user.username });
      await a.next();
      await b.next();
      expect(bus.channelCount).toBe(before + 1);
      a.close();
      b.close();
      await waitFor(() => bus.channelCount === before);
    });

    it('answers a subscription to an unknown user with NOT_FOUND', async () => {
      const user = await verity.signUp();
      const result = await verity.execute(verity.connect(user.token), userUpdated, {
        username: 'nobody_at_all',
      });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    });

    it('limits the operations running on one connection', async () => {
      const user = await verity.signUp();
      const client = verity.connect(user.token);
      const running = [1, 2, 3].map(() =>
        verity.subscribe(client, userUpdated, { username: user.username }),
      );
      for (const subscription of running) await subscription.next();
      const fourth = await verity.execute(client, userUpdated, { username: user.username });
      expect(fourth.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
      running[0]!.close();
      const again = verity.subscribe(client, userUpdated, { username: user.username });
      expect((await again.next()).data).toBeDefined();
    });
  });

  describe('errors are typed and the connection survives them', () => {
    it('reports a malformed document as GRAPHQL_PARSE_FAILED', async () => {
      const user = await verity.signUp();
      const client = verity.connect(user.token);
      const result = await verity.execute(client, '{ me { ');
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_PARSE_FAILED' });
      expect(await verity.execute(client, '{ me { username } }')).toEqual({
        data: { me: { username: user.username } },
      });
    });

    it('reports validation failures and limits like HTTP does', async () => {
      const user = await verity.signUp();
      const client = verity.connect(user.token);
      const unknownField = await verity.execute(client, '{ me { passwordHash } }');
      expect(unknownField.errors?.[0]?.extensions).toMatchObject({
        code: 'GRAPHQL_VALIDATION_FAILED',
      });
      const deep = await verity.execute(
        client,
        `mutation { logIn(input: { login: "a", password: "b" }) { user { id } } }`,
      );
      expect(deep.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED' });
      const aliases = await verity.execute(
        client,
        `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: __typename`).join(' ')} }`,
      );
      expect(aliases.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED' });
      const tokens = await verity.execute(client, `{ ${'__typename '.repeat(4000)} }`);
      expect(tokens.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_PARSE_FAILED' });
    });

    it('reports a variable of the wrong type as BAD_USER_INPUT', async () => {
      const user = await verity.signUp();
      const result = await verity.execute(verity.connect(user.token), userUpdated, {
        username: 42,
      });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    });

    it('reports a service error with its code (a mutation that breaks a rule)', async () => {
      const user = await verity.signUp();
      const result = await verity.execute(
        verity.connect(user.token),
        `mutation { updateProfile(input: { bio: "${'x'.repeat(200)}" }) { bio } }`,
      );
      expect(result.errors?.[0]).toMatchObject({
        message: 'A bio is at most 160 characters.',
        extensions: { code: 'BAD_USER_INPUT', field: 'bio' },
      });
    });

    it('closes a connection that sends a message over the payload limit (1009)', async () => {
      const user = await verity.signUp();
      const socket = new WebSocket(verity.wsUrl, 'graphql-transport-ws');
      await new Promise((resolve) => socket.on('open', resolve));
      socket.send(
        JSON.stringify({
          type: 'connection_init',
          payload: { authorization: `Bearer ${user.token}` },
        }),
      );
      await new Promise((resolve) => socket.once('message', resolve));
      socket.send(
        JSON.stringify({
          id: '1',
          type: 'subscribe',
          payload: { query: `{ __typename } # ${'x'.repeat(100_000)}` },
        }),
      );
      const code = await new Promise<number>((resolve) => socket.on('close', (c) => resolve(c)));
      expect(code).toBe(1009);
    });
  });

  describe('protocol mistakes are the client’s: a 44xx close, never 4500', () => {
    /** An acknowledged raw socket, and how it ends up closed. */
    async function acknowledgedSocket() {
      const user = await verity.signUp();
      const socket = new WebSocket(verity.wsUrl, 'graphql-transport-ws');
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
      );
      await new Promise((resolve) => socket.on('open', resolve));
      socket.send(
        JSON.stringify({
          type: 'connection_init',
          payload: { authorization: `Bearer ${user.token}` },
        }),
      );
      await new Promise((resolve) => socket.once('message', resolve));
      return { socket, closed };
    }

    it('closes with 4400 a client that sends a message only a server sends (next, error, connection_ack)', async () => {
      for (const message of [
        { type: 'next', id: '1', payload: {} },
        { type: 'error', id: '1', payload: [] },
        { type: 'connection_ack' },
      ]) {
        const { socket, closed } = await acknowledgedSocket();
        socket.send(JSON.stringify(message));
        expect(await closed).toEqual({ code: 4400, reason: 'Invalid message received' });
      }
    });

    it('answers a subscription whose root field is skipped with GRAPHQL_VALIDATION_FAILED, and stays open', async () => {
      const user = await verity.signUp();
      const client = verity.connect(user.token);
      const skipped = await verity.execute(
        client,
        'subscription { publicFeedUpdated @skip(if: true) { __typename } }',
      );
      expect(skipped.errors?.map((error) => error.extensions?.['code'])).toEqual([
        'GRAPHQL_VALIDATION_FAILED',
      ]);
      expect(await verity.execute(client, '{ me { username } }')).toEqual({
        data: { me: { username: user.username } },
      });
    });

    it('closes with 4409 a second subscription under a long id, with a reason that fits a close frame', async () => {
      const { socket, closed } = await acknowledgedSocket();
      const id = 'x'.repeat(200);
      const subscribe = JSON.stringify({
        id,
        type: 'subscribe',
        payload: { query: 'subscription { publicFeedUpdated { __typename } }' },
      });
      socket.send(subscribe);
      socket.send(subscribe);
      const { code, reason } = await closed;
      expect(code).toBe(4409);
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
      expect(reason).toMatch(/^Subscriber for x+…x+ already exists$/);
    });
  });
});
