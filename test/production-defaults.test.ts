import { getIntrospectionQuery } from 'graphql';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { testJwtSecret, useVerity, type TestServer } from './helpers/server.js';

const production = { NODE_ENV: 'production', JWT_SECRET: testJwtSecret };

/** A misspelt field, argument and enum value: graphql-js suggests the right names for each. */
const misspelt = {
  field: '{ me { usernam } }',
  argument: '{ publicFeed(frist: 5) { edges { cursor } } }',
  enumVariable: {
    query: 'mutation($input: ReactInput!) { react(input: $input) { truth { id } } }',
    variables: { input: { truthId: 'VHJ1dGg6eA', kind: 'LIK' } },
  },
};

/** What no answer may carry: a stack frame, a source path, a module's name. */
const internalText = /\bat .+:\d+:\d+|node_modules|\/src\/|\.ts\b|stacktrace/;

/** The messages of every misspelt operation, over HTTP and over the WebSocket. */
async function misspeltMessages(verity: TestServer) {
  const user = await verity.signUp();
  const client = verity.connect(user.token);
  const answers = [];
  for (const query of [misspelt.field, misspelt.argument]) {
    answers.push(await verity.gql(query, {}, { token: user.token }));
    answers.push(await verity.execute(client, query));
  }
  const { query, variables } = misspelt.enumVariable;
  answers.push(await verity.gql(query, variables, { token: user.token }));
  answers.push(await verity.execute(client, query, variables));
  for (const answer of answers) {
    expect(answer.errors?.length).toBeGreaterThan(0);
    expect(JSON.stringify(answer)).not.toMatch(internalText);
  }
  return answers.map((answer) => answer.errors![0]!.message);
}

describe('settings in production', () => {
  it('turn introspection, the IDE, the demo and suggestions off unless they are set', () => {
    expect(loadConfig(production).graphql).toMatchObject({
      ide: false,
      introspection: false,
      suggestions: false,
    });
    expect(loadConfig(production).web.demo).toBe(false);

    const enabled = loadConfig({
      ...production,
      GRAPHQL_IDE: 'true',
      GRAPHQL_INTROSPECTION: 'true',
      GRAPHQL_SUGGESTIONS: 'true',
    });
    expect(enabled.graphql).toMatchObject({ ide: true, introspection: true, suggestions: true });
    expect(enabled.web.demo).toBe(true);
    expect(loadConfig({ ...production, WEB_DEMO: 'true' }).web.demo).toBe(true);
  });

  it('leave them on everywhere else unless they are turned off', () => {
    for (const NODE_ENV of [undefined, 'development', 'test']) {
      const config = loadConfig({ NODE_ENV });
      expect(config.graphql).toMatchObject({ ide: true, introspection: true, suggestions: true });
      expect(config.web.demo).toBe(true);
    }
    expect(loadConfig({ GRAPHQL_SUGGESTIONS: 'false' }).graphql.suggestions).toBe(false);
    expect(() => loadConfig({ GRAPHQL_SUGGESTIONS: 'maybe' })).toThrow(/GRAPHQL_SUGGESTIONS/);
  });
});

describe('Verity in production, by default', () => {
  const verity = useVerity({ env: production });

  it('refuses introspection over HTTP and the WebSocket, and still answers __typename', async () => {
    const user = await verity.signUp();
    const client = verity.connect(user.token);
    for (const query of [getIntrospectionQuery(), '{ __type(name: "User") { name } }']) {
      const overHttp = await verity.gql(query);
      expect(overHttp.status).toBe(400);
      expect(overHttp.errors![0]!.extensions).toMatchObject({
        code: 'GRAPHQL_VALIDATION_FAILED',
      });
      const overWs = await verity.execute(client, query);
      expect(overWs.errors![0]!.message).toMatch(/introspection is disabled/);
    }
    expect(await verity.gql('{ __typename }')).toMatchObject({ data: { __typename: 'Query' } });
  });

  it('serves no IDE and no demo', async () => {
    const page = await fetch(verity.url, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toContain('<app-root>');
    // Past the IDE, /graphql/… is Apollo's: a GET without a query is a bad request.
    const script = await fetch(`${verity.url}/ide/main.js`);
    expect(script.status).toBe(400);
    expect(script.headers.get('content-type')).toMatch(/json/);
    expect((await fetch(new URL('/', verity.url))).status).toBe(404);
  });

  it('suggests no names in error messages on either transport, and shows no internal text', async () => {
    const messages = await misspeltMessages(verity);
    for (const message of messages) expect(message).not.toMatch(/Did you mean/);
    expect(messages).toEqual([
      'Cannot query field "usernam" on type "User".',
      'Cannot query field "usernam" on type "User".',
      'Unknown argument "frist" on field "Query.publicFeed".',
      'Unknown argument "frist" on field "Query.publicFeed".',
      'Variable "$input" got invalid value "LIK" at "input.kind"; Value "LIK" does not exist in "ReactionKind" enum.',
      'Variable "$input" got invalid value "LIK" at "input.kind"; Value "LIK" does not exist in "ReactionKind" enum.',
    ]);
  });

  it('shows no internal text when a request is malformed', async () => {
    const answers = [
      await fetch(verity.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{ "query": ',
      }),
      await fetch(verity.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ me { ' }),
      }),
      await fetch(`${verity.url}?query=${encodeURIComponent('{ __typename }')}`),
      await fetch(new URL('/nowhere', verity.url)),
    ];
    for (const answer of answers) {
      expect(answer.status).toBeGreaterThanOrEqual(400);
      const body = await answer.text();
      expect(body).toMatch(/"code"/);
      expect(body).not.toMatch(internalText);
    }
  });
});

describe('Verity in production with each of them set', () => {
  const verity = useVerity({
    env: {
      ...production,
      GRAPHQL_IDE: 'true',
      GRAPHQL_INTROSPECTION: 'true',
      GRAPHQL_SUGGESTIONS: 'true',
    },
  });

  it('answers introspection over HTTP and the WebSocket', async () => {
    const user = await verity.signUp();
    const query = '{ __type(name: "User") { name } }';
    expect((await verity.gql(query)).data).toEqual({ __type: { name: 'User' } });
    expect(await verity.execute(verity.connect(user.token), query)).toEqual({
      data: { __type: { name: 'User' } },
    });
  });

  it('serves the IDE and the demo', async () => {
    const page = await fetch(verity.url, { headers: { accept: 'text/html' } });
    expect(await page.text()).toContain('<app-root>');
    expect((await fetch(new URL('/', verity.url))).status).not.toBe(404);
  });

  it('suggests names in error messages on both transports', async () => {
    const messages = await misspeltMessages(verity);
    expect(messages).toEqual([
      'Cannot query field "usernam" on type "User". Did you mean "username"?',
      'Cannot query field "usernam" on type "User". Did you mean "username"?',
      'Unknown argument "frist" on field "Query.publicFeed". Did you mean "first"?',
      'Unknown argument "frist" on field "Query.publicFeed". Did you mean "first"?',
      'Variable "$input" got invalid value "LIK" at "input.kind"; Value "LIK" does not exist in "ReactionKind" enum. Did you mean the enum value "LIKE"?',
      'Variable "$input" got invalid value "LIK" at "input.kind"; Value "LIK" does not exist in "ReactionKind" enum. Did you mean the enum value "LIKE"?',
    ]);
  });
});
