import { getIntrospectionQuery } from 'graphql';
import { describe, expect, it } from 'vitest';
import { errorCodes } from './helpers/graphql.js';
import { useVerity, type TestServer } from './helpers/server.js';

const typeQuery = '{ __type(name: "User") { name fields { name } } }';
const schemaInFragment =
  'query { ...Schema } fragment Schema on Query { __schema { queryType { name } } }';

/** A graphql-ws client that counts how often its socket opened and closed. */
function trackedClient(verity: TestServer, token: string) {
  const socket = { opened: 0, closed: 0 };
  return { client: verity.connect(token, { sockets: socket }), socket };
}

describe('with GRAPHQL_INTROSPECTION=false', () => {
  const verity = useVerity({ env: { GRAPHQL_INTROSPECTION: 'false' } });

  it('refuses __schema and __type over the WebSocket as over HTTP, keeps the socket open, and still answers __typename', async () => {
    const user = await verity.signUp();
    const { client, socket } = trackedClient(verity, user.token);

    for (const query of [getIntrospectionQuery(), typeQuery, schemaInFragment]) {
      const overWs = await verity.execute(client, query);
      expect(overWs.data).toBeUndefined();
      expect(overWs.errors?.map((error) => error.extensions?.['code'])).toEqual([
        'GRAPHQL_VALIDATION_FAILED',
      ]);
      expect(overWs.errors?.[0]?.message).toMatch(/introspection is disabled/);

      const overHttp = await verity.gql(query);
      expect(overHttp.status).toBe(400);
      expect(errorCodes(overHttp)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    }

    expect(await verity.execute(client, '{ __typename me { __typename username } }')).toEqual({
      data: { __typename: 'Query', me: { __typename: 'User', username: user.username } },
    });
    expect(socket).toEqual({ opened: 1, closed: 0 });
  });
});

describe('with introspection on (the default)', () => {
  const verity = useVerity();

  it('answers __schema and __type over the WebSocket', async () => {
    const user = await verity.signUp();
    const { client } = trackedClient(verity, user.token);

    const schema = await verity.execute(client, schemaInFragment);
    expect(schema).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
    const type = await verity.execute(client, typeQuery);
    expect(type.data?.['__type']).toMatchObject({ name: 'User' });
  });
});
