import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startFerretDB, type EmbeddedFerretDB } from '../src/infra/embedded/ferretdb.js';
import {
  findFreePort,
  startRedisServer,
  type EmbeddedRedis,
} from '../src/infra/embedded/redis-server.js';
import { createLogger } from '../src/infra/logger.js';
import { errorCodes, signUpMutation, uniqueUsername } from './helpers/graphql.js';
import { describeOnOwnRedis } from './helpers/redis.js';
import { startVerity, useVerity, type TestServer } from './helpers/server.js';
import { expiredSessionToken, forgedSessionToken, userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

const leaksInternals = (text: string) =>
  /mongo|ferret|E11000|sqlite|redis|ECONNREFUSED|\bat \w+ \(|node_modules|\.ts:\d+/i.test(text);

describe('request errors over HTTP', () => {
  const verity = useVerity();
  const userCount = () => verity.app.internals.models.User.countDocuments().exec();

  it('answers a malformed document with GRAPHQL_PARSE_FAILED', async () => {
    const result = await verity.gql('mutation { signUp(input: { username: "x" ');
    expect(result.status).toBe(400);
    expect(errorCodes(result)).toEqual(['GRAPHQL_PARSE_FAILED']);
  });

  it('answers an unknown field with GRAPHQL_VALIDATION_FAILED', async () => {
    const result = await verity.gql('{ me { passwordHash } }');
    expect(result.status).toBe(400);
    expect(errorCodes(result)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });

  it('answers an operationName the document does not hold with OPERATION_RESOLUTION_FAILURE', async () => {
    const response = await fetch(verity.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'query Feed { __typename }', operationName: 'Other' }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as Parameters<typeof errorCodes>[0];
    expect(errorCodes(body)).toEqual(['OPERATION_RESOLUTION_FAILURE']);
  });

  it('refuses a subscription sent over HTTP with BAD_REQUEST, not an internal error', async () => {
    for (const query of [
      'subscription { publicFeedUpdated { __typename } }',
      'subscription Mine { notificationReceived { id } }',
      // graphql-js 16's validation throws for these rather than reporting them.
      'subscription { publicFeedUpdated @skip { __typename } }',
      'subscription($no: Boolean!) { publicFeedUpdated @include(if: $no) { __typename } }',
    ]) {
      const result = await verity.gql(query);
      expect(result.status).toBe(400);
      expect(result.errors).toEqual([
        {
          message:
            'Subscriptions run over WebSocket (graphql-transport-ws on this same path), not over HTTP.',
          extensions: { code: 'BAD_REQUEST', requestId: expect.any(String) },
        },
      ]);
    }
  });

  it('runs the query of a document that also holds a subscription, as an IDE sends its tab', async () => {
    const tab = 'query Q { __typename } subscription S { publicFeedUpdated { __typename } }';
    const response = await fetch(verity.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: tab, operationName: 'Q' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
    // One whose subscription graphql-js cannot validate is refused, whatever runs.
    const unvalidatable =
      'query Q { __typename } subscription S { ...F } fragment F on Subscription { publicFeedUpdated @include(if: "yes") { __typename } }';
    const refused = await verity.gql(unvalidatable);
    expect(refused.status).toBe(400);
    expect(errorCodes(refused)).toEqual(['BAD_REQUEST']);
    expect(refused.errors![0]!.message).toMatch(/@skip or @include at its root/);
  });

  it('answers a variable of the wrong type with BAD_USER_INPUT and writes nothing', async () => {
    const before = await userCount();
    const result = await verity.gql(signUpMutation, {
      input: { username: 42, email: 'a@example.com', password: 'a perfectly fine passphrase' },
    });
    expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
    expect(await userCount()).toBe(before);
  });

  it('answers a missing required variable with BAD_USER_INPUT', async () => {
    const result = await verity.gql(signUpMutation, {});
    expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
  });

  const postMutation =
    'mutation { postTruth(input: { text: "with a bad token" }) { truth { id } } }';

  it('runs a request with a forged session token as anonymous; what needs a session says the token is invalid', async () => {
    const token = await forgedSessionToken();
    const me = await verity.gql('{ me { id } }', {}, { token });
    expect(me.status).toBe(200);
    expect(me.data).toEqual({ me: null });
    const write = await verity.gql(postMutation, {}, { token });
    expect(errorCodes(write)).toEqual(['UNAUTHENTICATED']);
    expect(write.errors![0]!.message).toBe('Invalid session token.');
    expect(write.errors![0]!.extensions).toMatchObject({ reason: 'invalid' });
    expect(write.data).toBeNull();
  });

  it('runs logIn, signUp and the public feed with an expired token; what needs a session says it expired', async () => {
    const user = await verity.signUp();
    const token = await expiredSessionToken(userIdHex(user.id));
    const logIn = await verity.gql(
      'mutation($i: LogInInput!) { logIn(input: $i) { user { username } } }',
      { i: { login: user.username, password: user.password } },
      { token },
    );
    expect(logIn.data).toEqual({ logIn: { user: { username: user.username } } });
    const signUp = await verity.gql(
      signUpMutation,
      {
        input: {
          username: uniqueUsername(),
          email: `${uniqueUsername()}@example.com`,
          password: 'a perfectly fine passphrase',
        },
      },
      { token },
    );
    expect(signUp.errors).toBeUndefined();
    const publicFeed = await verity.gql(
      '{ publicFeed(first: 1) { edges { cursor } } }',
      {},
      {
        token,
      },
    );
    expect(publicFeed.errors).toBeUndefined();
    const write = await verity.gql(postMutation, {}, { token });
    expect(errorCodes(write)).toEqual(['UNAUTHENTICATED']);
    expect(write.errors![0]!.message).toMatch(/expired/);
    expect(write.errors![0]!.extensions).toMatchObject({ reason: 'expired' });
    const none = await verity.gql(postMutation);
    expect(none.errors![0]!.extensions).toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'missing',
    });
  });

  it('treats garbage in the Authorization header as no session, and refuses a scheme other than Bearer', async () => {
    const garbage = await verity.gql(
      '{ me { id } }',
      {},
      { headers: { authorization: 'Bearer not.a.jwt' } },
    );
    expect(garbage.status).toBe(200);
    expect(garbage.data).toEqual({ me: null });
    const basic = await verity.gql(
      '{ me { id } }',
      {},
      { headers: { authorization: 'Basic YWxhZGRpbjpvcGVu' } },
    );
    expect(basic.status).toBe(400);
    expect(errorCodes(basic)).toEqual(['BAD_USER_INPUT']);
  });

  it('does not run a mutation that needs a session when sent with a forged token', async () => {
    const before = await userCount();
    const result = await verity.gql(
      'mutation($p: UpdateProfileInput!) { updateProfile(input: $p) { id } }',
      { p: { displayName: 'Forged' } },
      { token: await forgedSessionToken() },
    );
    expect(errorCodes(result)).toEqual(['UNAUTHENTICATED']);
    expect(await userCount()).toBe(before);
  });

  it('answers a body that is not JSON, and one that is too large, with a JSON error', async () => {
    const notJson = await fetch(verity.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'not-json-1' },
      body: '{"query": ',
    });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({
      errors: [
        {
          message: 'The request body is not valid JSON.',
          extensions: { code: 'BAD_USER_INPUT', requestId: 'not-json-1' },
        },
      ],
    });

    const huge = await fetch(verity.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ __typename } # ${'x'.repeat(200_000)}` }),
    });
    expect(huge.status).toBe(413);
    const body = (await huge.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
  });

  it('refuses a GET query without a CSRF preflight header', async () => {
    const response = await fetch(`${verity.url}?query=${encodeURIComponent('{ __typename }')}`);
    expect(response.status).toBe(400);
    const ok = await fetch(`${verity.url}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(await ok.json()).toEqual({ data: { __typename: 'Query' } });
  });

  describe('limits', () => {
    const shallow = useVerity({ env: { MAX_QUERY_DEPTH: '2' } });

    it('rejects an operation nested deeper than the depth limit, before running it', async () => {
      const user = await shallow.signUp();
      const result = await shallow.gql(
        `mutation($i: LogInInput!) { logIn(input: $i) { user { id } } }`,
        { i: { login: user.username, password: user.password } },
      );
      expect(result.status).toBe(400);
      expect(errorCodes(result)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(result.errors![0]!.message).toMatch(/more than 2 levels deep/);
    });

    it('does not count introspection against the depth limit, so IDEs can load the schema', async () => {
      const result = await shallow.gql(getIntrospectionQuery());
      expect(result.errors).toBeUndefined();
      expect(result.data!['__schema'].queryType).toMatchObject({ name: 'Query' });
    });

    it('rejects a fragment cycle without overflowing', async () => {
      const result = await verity.gql(`
        query { me { ...A } }
        fragment A on User { ...B }
        fragment B on User { ...A }
      `);
      expect(errorCodes(result).every((code) => code === 'GRAPHQL_VALIDATION_FAILED')).toBe(true);
    });

    it('rejects a document with too many aliases', async () => {
      const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: __typename`).join(' ');
      const result = await verity.gql(`{ ${aliases} }`);
      expect(errorCodes(result)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    });

    it('rejects a document with too many tokens before validating it', async () => {
      const result = await verity.gql(`{ ${'__typename '.repeat(4000)} }`);
      expect(errorCodes(result)).toEqual(['GRAPHQL_PARSE_FAILED']);
    });
  });
});

describe('when the database goes away', () => {
  let ferretdb: EmbeddedFerretDB;
  let port: number;
  let dataDir: string;
  let verity: TestServer;
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'verity-outage-'));
    port = await findFreePort();
    ferretdb = await startFerretDB({ binary: inject('ferretdbBinary'), dataDir, port, logger });
    verity = await startVerity({ mongoUri: ferretdb.uri });
  });

  afterAll(async () => {
    await verity?.stop();
    await ferretdb?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps answering reads, refuses writes with a retryable error that shows no database text, then recovers', async () => {
    const user = await verity.signUp();
    const client = verity.connect(user.token);
    const query = `query($u: String!) { user(username: $u) { username } }`;
    expect(await verity.execute(client, query, { u: user.username })).toEqual({
      data: { user: { username: user.username } },
    });

    await ferretdb.stop();

    // Reads come from the read model in Redis, over HTTP and WebSocket alike.
    expect((await verity.gql(query, { u: user.username })).data).toEqual({
      user: { username: user.username },
    });
    expect(await verity.execute(client, query, { u: user.username })).toEqual({
      data: { user: { username: user.username } },
    });
    // A write waits for MongoDB a while, then says so; nothing is half-done.
    const write = await verity.gql(
      `mutation { postTruth(input: { text: "while the database is away" }) { truth { id } } }`,
      {},
      { token: user.token },
    );
    expect(errorCodes(write)).toEqual(['UNAVAILABLE']);
    expect(write.errors![0]!.extensions).toMatchObject({ retryable: true, retryAfter: 1 });
    expect(leaksInternals(JSON.stringify(write))).toBe(false);

    const ready = await fetch(verity.url.replace('/graphql', '/readyz'));
    expect(ready.status).toBe(503);

    ferretdb = await startFerretDB({ binary: inject('ferretdbBinary'), dataDir, port, logger });
    const recovered = await waitFor(
      async () => {
        const result = await verity.gql(
          `mutation { postTruth(input: { text: "after the database came back" }) { truth { text } } }`,
          {},
          { token: user.token },
        );
        return result.data?.['postTruth'] ? result : null;
      },
      { timeoutMs: 30_000 },
    );
    expect(recovered.data).toEqual({
      postTruth: { truth: { text: 'after the database came back' } },
    });
  });
});

describeOnOwnRedis('when Redis goes away', () => {
  let redis: EmbeddedRedis;
  let verity: TestServer;
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    redis = await startRedisServer({ logger });
    verity = await startVerity({ redisUrl: redis.url });
  });

  afterAll(async () => {
    await verity?.stop();
    await redis?.stop();
  });

  it('refuses requests with a retryable error and changes nothing, reports not ready, and recovers with everything rebuilt', async () => {
    const user = await verity.signUp();
    const { models } = verity.app.internals;
    const changesBefore = await models.UserChange.countDocuments().exec();
    await redis.stop();

    const ready = await fetch(verity.url.replace('/graphql', '/readyz'));
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: { mongo: true, redis: false } });

    // Sessions and everything a write checks live in Redis: without it, nothing is written.
    const update = `mutation { updateProfile(input: { bio: "still here" }) { bio } }`;
    const refused = await verity.gql(update, {}, { token: user.token });
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ retryable: true });
    expect(await models.UserChange.countDocuments().exec()).toBe(changesBefore);

    // Redis comes back empty: the read model is rebuilt from MongoDB, the account with it.
    redis = await startRedisServer({ logger, port: redis.port });
    const done = await waitFor(
      async () => {
        const result = await verity.gql(update, {}, { token: user.token });
        return result.data ? result : null;
      },
      { timeoutMs: 30_000 },
    );
    expect(done.data).toEqual({ updateProfile: { bio: 'still here' } });
    const me = await verity.gql('{ me { username bio } }', {}, { token: user.token });
    expect(me.data).toEqual({ me: { username: user.username, bio: 'still here' } });
    await waitFor(async () => (await fetch(verity.url.replace('/graphql', '/readyz'))).ok, {
      timeoutMs: 20_000,
    });
  });
});
