import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestUser } from './helpers/graphql.js';
import { startVerity, uniqueDbName, type TestServer } from './helpers/server.js';
import { act, post, react, truthFields } from './helpers/social.js';

/**
 * Two instances over one database: one always runs graphql-js, the other compiles every query
 * at once. Each case asks both (the compiled one twice, so the second answer comes from the
 * cached compiled query) and expects the same answer, byte for byte, errors included.
 */
describe('compiled query execution', () => {
  const dbName = uniqueDbName('executor');
  let interpreted: TestServer;
  let compiled: TestServer;
  let viewer: TestUser;
  let author: TestUser;
  let truthId: string;

  beforeAll(async () => {
    interpreted = await startVerity({
      dbName,
      keepDatabase: true,
      env: { GRAPHQL_COMPILE_AFTER: '0' },
    });
    compiled = await startVerity({ dbName, env: { GRAPHQL_COMPILE_AFTER: '1' } });
    viewer = await interpreted.signUp();
    author = await interpreted.signUp();
    await act(interpreted, viewer.token, 'follow', author.id);
    for (let i = 0; i < 5; i++) {
      const truth = await post(
        interpreted,
        author.token,
        `compiled #same ${i} @${viewer.username}`,
      );
      if (i % 2 === 0) await react(interpreted, viewer.token, truth.id, 'LOVE');
      truthId = truth.id;
    }
    await interpreted.gql(
      'mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }',
      { id: truthId },
      { token: viewer.token },
    );
  });
  afterAll(async () => {
    await compiled?.stop();
    await interpreted?.stop();
  });

  let requests = 0;
  const expectSameAnswers = async (
    query: string,
    variables: Record<string, unknown> = {},
    token?: string,
  ) => {
    // The same request id on both, so that errors (which carry it) compare equal.
    const headers = { 'x-request-id': `same-answers-${++requests}` };
    const expected = await interpreted.gql(query, variables, { token, headers });
    for (let i = 0; i < 2; i++) {
      expect(await compiled.gql(query, variables, { token, headers })).toEqual(expected);
    }
    return expected;
  };

  it('answers a home feed page with authors, counts and the viewer’s state as graphql-js does', async () => {
    const answer = await expectSameAnswers(
      `query($first: Int!) { homeFeed(first: $first) {
        edges { cursor node { ${truthFields} retruthOf { id text author { username } } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`,
      { first: 4 },
      viewer.token,
    );
    expect(answer.data!['homeFeed'].edges).toHaveLength(4);
    expect(answer.data!['homeFeed'].edges[0].node.viewerHasRetruthed).toBe(false);
  });

  it('resolves abstract types, fragments, aliases, directives and __typename alike', async () => {
    await expectSameAnswers(
      `query($id: ID!, $user: ID!, $withCounts: Boolean!) {
        truth: node(id: $id) { __typename id ... on Truth { text counts @include(if: $withCounts) { reactions } } }
        person: node(id: $user) { __typename ...Person }
        missing: node(id: "bm90aGluZw==") { id }
        me { ...Person email }
      }
      fragment Person on User { username followerCount viewerIsFollowing viewerHasBlocked }`,
      { id: truthId, user: author.id, withCounts: true },
      viewer.token,
    );
    for (const hide of [true, false]) {
      await expectSameAnswers(
        `query($hide: Boolean!) { me {
          username ...Counts @skip(if: $hide) ... on User @include(if: $hide) { bio }
          truths(first: 2) { edges { node { id ... @skip(if: $hide) { text } } } }
        } }
        fragment Counts on User { followerCount followingCount truthCount }`,
        { hide },
        author.token,
      );
    }
  });

  it('gives the same errors for bad arguments, a missing session and rejected variables', async () => {
    const badPage = await expectSameAnswers(
      '{ homeFeed(first: 0) { edges { cursor } } }',
      {},
      viewer.token,
    );
    expect(badPage.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const anonymous = await expectSameAnswers('{ homeFeed { edges { cursor } } }');
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const badVariable = await expectSameAnswers(
      'query($first: Int!) { publicFeed(first: $first) { edges { cursor } } }',
      { first: 'twenty' },
    );
    expect(badVariable.status).toBe(400);
    expect(badVariable.errors?.[0]?.message).toMatch(/\$first/);
  });

  it('keeps one compiled query per operation of a document', async () => {
    const document = `query Mine { me { username } } query Theirs($u: String!) { user(username: $u) { username } }`;
    const unnamed = await expectSameAnswers(document, {}, viewer.token);
    expect(unnamed.status).toBe(400);
    for (let i = 0; i < 2; i++) {
      for (const [operationName, variables, expected] of [
        ['Mine', {}, viewer.username],
        ['Theirs', { u: author.username }, author.username],
      ] as const) {
        const response = await fetch(compiled.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${viewer.token}` },
          body: JSON.stringify({ query: document, operationName, variables }),
        });
        const body = (await response.json()) as { data: Record<string, { username: string }> };
        expect(Object.values(body.data)[0]!.username).toBe(expected);
      }
    }
  });
});
