import {
  Kind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  parse,
  print,
  typeFromAST,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import * as clientKitDocuments from '../examples/client-kit/src/gql/graphql.js';
import { loadConfig } from '../src/config.js';
import { createCostLimit, listSizes } from '../src/graphql/cost.js';
import { maxPageSize } from '../src/graphql/pagination.js';
import { createSchema } from '../src/graphql/schema.js';
import { errorCodes } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';
import { post } from './helpers/social.js';

const schema = createSchema();
const defaultMaxCost = loadConfig({}).graphql.maxCost;
const limit = createCostLimit({ schema, maxCost: defaultMaxCost });

/** A value of `type` that coerces, with every Int at the largest page: the dearest variables. */
function sampleValue(type: GraphQLInputType): unknown {
  const nullable = isNonNullType(type) ? type.ofType : type;
  if (isListType(nullable)) return [sampleValue(nullable.ofType)];
  if (isEnumType(nullable)) return nullable.getValues()[0]!.value;
  if (isInputObjectType(nullable)) {
    return Object.fromEntries(
      Object.values(nullable.getFields())
        .filter((field) => isNonNullType(field.type))
        .map((field) => [field.name, sampleValue(field.type)]),
    );
  }
  switch (nullable.name) {
    case 'Int':
      return maxPageSize;
    case 'Boolean':
      return true;
    case 'DateTime':
      return new Date(0).toISOString();
    default:
      return 'x';
  }
}

function dearestVariables(schema: GraphQLSchema, operation: OperationDefinitionNode) {
  return Object.fromEntries(
    (operation.variableDefinitions ?? []).map((definition) => [
      definition.variable.name.value,
      sampleValue(typeFromAST(schema, definition.type as never) as GraphQLInputType),
    ]),
  );
}

/** Every operation the client kit (and so the web demo, which uses it) sends. */
const clientOperations = Object.entries(clientKitDocuments).flatMap(([name, value]) => {
  const document = value as DocumentNode;
  if (document?.kind !== Kind.DOCUMENT) return [];
  return document.definitions
    .filter((definition) => definition.kind === Kind.OPERATION_DEFINITION)
    .map((operation) => ({ name, document, operation }));
});

const nestedFollowers = /* GraphQL */ `
  query Nested($username: String!, $n: Int) {
    user(username: $username) {
      followers(first: $n) {
        edges {
          node {
            following(first: $n) {
              edges {
                node {
                  id
                  username
                }
              }
            }
          }
        }
      }
    }
  }
`;
/** A thread page as a client shows it: the truth, its ancestors and a page of replies, as cards. */
const threadPage = /* GraphQL */ `
  query Thread($id: ID!, $first: Int) {
    thread(id: $id) {
      truth {
        ...TruthFields
      }
      ancestors {
        ...TruthFields
      }
      replies(first: $first) {
        edges {
          cursor
          node {
            ...TruthFields
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
  ${print(clientKitDocuments.TruthFieldsFragmentDoc)}
`;

/** `nestedFollowers`' cost: user 1 + followers (1 + n × (edges 1 + node 1 + following (1 + n × 4))). */
const nestedCost = (n: number) => 2 + n * (3 + 4 * n);

/** Three levels of full pages under a mutation that would post a truth if it ran. */
const costlyPost = /* GraphQL */ `
  mutation Costly($text: String!) {
    postTruth(input: { text: $text }) {
      truth {
        author {
          followers(first: 100) {
            edges {
              node {
                followers(first: 100) {
                  edges {
                    node {
                      id
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
`;

describe('the cost model', () => {
  it('keeps every operation of the client kit and the web demo within the default budget, at full pages', () => {
    expect(clientOperations.length).toBeGreaterThan(20);
    const costs = clientOperations.map(({ name, document, operation }) => ({
      name,
      cost: limit.costOf(document, operation.name?.value, dearestVariables(schema, operation)),
    }));
    for (const { name, cost } of costs) {
      // Zero would mean the sample variables did not coerce and nothing was priced.
      expect(cost, name).toBeGreaterThan(0);
      expect(cost, name).toBeLessThanOrEqual(defaultMaxCost);
    }
  });

  it('keeps a thread page of cards within the default budget, at a full page of replies', () => {
    const document = parse(threadPage);
    expect(limit.costOf(document, 'Thread', { id: 'x', first: maxPageSize })).toBeLessThanOrEqual(
      defaultMaxCost,
    );
  });

  it('prices a default page of the home feed by its default page size', () => {
    const homeFeed = clientKitDocuments.HomeFeedDocument as DocumentNode;
    const page = limit.costOf(homeFeed, 'HomeFeed', {});
    expect(limit.costOf(homeFeed, 'HomeFeed', { first: 20 })).toBe(page);
    expect(limit.costOf(homeFeed, 'HomeFeed', { first: null })).toBe(page);
    expect(limit.costOf(homeFeed, 'HomeFeed', { first: 100 })).toBeGreaterThan(4 * page);
  });

  it('counts a variable page size with its value, and the document default when it is absent', () => {
    const document = parse(nestedFollowers);
    expect(limit.costOf(document, 'Nested', { username: 'a', n: 5 })).toBe(nestedCost(5));
    expect(limit.costOf(document, 'Nested', { username: 'a', n: 100 })).toBe(nestedCost(100));
    expect(limit.costOf(document, 'Nested', { username: 'a' })).toBe(nestedCost(20));
    // Remembered per page size, never across page sizes.
    expect(limit.costOf(document, 'Nested', { username: 'b', n: 5 })).toBe(nestedCost(5));
    const withDefault = parse(nestedFollowers.replace('$n: Int', '$n: Int = 50'));
    expect(limit.costOf(withDefault, 'Nested', { username: 'a' })).toBe(nestedCost(50));
  });

  it('counts only what @skip and @include let run, with their variables', () => {
    const document = parse(`query($full: Boolean!) {
      publicFeed(first: 100) @include(if: $full) { edges { node { id } } }
      me { id }
    }`);
    expect(limit.costOf(document, undefined, { full: false })).toBe(2);
    expect(limit.costOf(document, undefined, { full: true })).toBe(2 + 1 + 100 * 3);
  });

  it('prices one event of a subscription, the dearest member of a union', () => {
    const document = parse(`subscription {
      publicFeedUpdated {
        ... on TruthPosted { cursor truth { id author { id } } }
        ... on TruthDeleted { truthId }
      }
    }`);
    expect(limit.costOf(document, undefined, {})).toBe(1 + 1 + 1 + 1 + 2);
  });

  it('charges 1 for introspection, so IDEs can load the schema', () => {
    const document = parse('{ __schema { types { name fields { name type { name } } } } }');
    expect(limit.costOf(document, undefined, {})).toBe(1);
  });

  it('refuses to count a document whose fragments multiply past what it prices (Infinity)', () => {
    let source = 'query { ...F0 }\n';
    for (let i = 0; i < 40; i++) {
      source += `fragment F${i} on Query { __typename ...F${i + 1} ...F${i + 1} }\n`;
    }
    source += 'fragment F40 on Query { __typename }';
    expect(limit.costOf(parse(source), undefined, {})).toBe(Infinity);
    expect(limit.check(parse(source), undefined, {})?.extensions).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      cost: null,
      maxCost: defaultMaxCost,
    });
  });

  it('names the size of every list of objects that is not the edges of a connection', () => {
    const lists: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        const listed = getNullableType(field.type);
        const edges = field.name === 'edges' && type.name.endsWith('Connection');
        if (isListType(listed) && isCompositeType(getNamedType(listed)) && !edges) {
          lists.push(`${type.name}.${field.name}`);
        }
      }
    }
    expect(lists.sort()).toEqual(Object.keys(listSizes).sort());
  });
});

describe('the cost limit over HTTP and WebSocket', () => {
  const verity = useVerity();

  it('refuses nested full pages before running anything, with the cost and the limit, on both transports', async () => {
    const user = await verity.signUp();
    const { Truth } = verity.app.internals.models;
    const truthsBefore = await Truth.countDocuments().exec();
    const expected = {
      code: 'GRAPHQL_VALIDATION_FAILED',
      cost: 1 + 1 + 1 + 1 + 100 * (1 + 1 + 1 + 100 * 3),
      maxCost: defaultMaxCost,
    };

    const overHttp = await verity.gql(costlyPost, { text: 'over http' }, { token: user.token });
    expect(overHttp.status).toBe(400);
    expect(overHttp.data).toBeUndefined();
    expect(errorCodes(overHttp)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(overHttp.errors![0]!.extensions).toMatchObject(expected);
    expect(overHttp.errors![0]!.message).toBe(
      `The operation costs ${expected.cost}, more than the ${defaultMaxCost} Verity allows. Ask for smaller pages (first) or fewer nested connections.`,
    );

    const client = verity.connect(user.token);
    const overWs = await verity.execute(client, costlyPost, { text: 'over ws' });
    expect(overWs.data).toBeUndefined();
    expect(overWs.errors).toHaveLength(1);
    expect(overWs.errors![0]!.extensions).toMatchObject(expected);
    expect(overWs.errors![0]!.message).toBe(overHttp.errors![0]!.message);

    expect(await Truth.countDocuments().exec()).toBe(truthsBefore);
  });

  it('prices a variable page size with the value sent, on both transports', async () => {
    const user = await verity.signUp();
    const client = verity.connect(user.token);
    const small = { username: user.username, n: 5 };
    const large = { username: user.username, n: 100 };

    const smallOverHttp = await verity.gql(nestedFollowers, small, { token: user.token });
    expect(smallOverHttp.errors).toBeUndefined();
    expect(smallOverHttp.data).toEqual({ user: { followers: { edges: [] } } });
    expect(await verity.execute(client, nestedFollowers, small)).toEqual({
      data: smallOverHttp.data,
    });

    const largeOverHttp = await verity.gql(nestedFollowers, large, { token: user.token });
    expect(largeOverHttp.status).toBe(400);
    expect(largeOverHttp.errors![0]!.extensions).toMatchObject({ cost: nestedCost(100) });
    const largeOverWs = await verity.execute(client, nestedFollowers, large);
    expect(largeOverWs.errors![0]!.extensions).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      cost: nestedCost(100),
    });
  });

  it('refuses a document whose fragments multiply, without walking every path', async () => {
    // Followed at every spread, these 40 fragments are 2^40 paths: the depth limit and the cost
    // measure each fragment once, or give up counting.
    let source = 'query { ...F0 }\n';
    for (let i = 0; i < 40; i++) {
      source += `fragment F${i} on Query { __typename ...F${i + 1} ...F${i + 1} }\n`;
    }
    source += 'fragment F40 on Query { __typename }';
    const result = await verity.gql(source);
    expect(result.status).toBe(400);
    expect(result.errors![0]!.extensions).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      cost: null,
      maxCost: defaultMaxCost,
    });
  });

  it('refuses a costly subscription with an error and keeps the socket open', async () => {
    const user = await verity.signUp();
    const socket = { opened: 0, closed: 0 };
    const client = verity.connect(user.token, { sockets: socket });
    const costly = await verity.execute(
      client,
      `subscription {
        homeFeedUpdated {
          ... on TruthPosted {
            truth { author { followers(first: 100) { edges { node {
              following(first: 100) { edges { node { id } } }
            } } } } }
          }
        }
      }`,
    );
    expect(costly.errors![0]!.extensions).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      maxCost: defaultMaxCost,
    });
    expect(costly.errors![0]!.extensions!['cost']).toBeGreaterThan(defaultMaxCost);
    expect(await verity.execute(client, '{ me { username } }')).toEqual({
      data: { me: { username: user.username } },
    });
    expect(socket).toEqual({ opened: 1, closed: 0 });
  });

  it('answers a full page of the home feed, as the client kit asks for it, on both transports', async () => {
    const user = await verity.signUp();
    const source = print(clientKitDocuments.HomeFeedDocument);
    const overHttp = await verity.gql(source, { first: 100 }, { token: user.token });
    expect(overHttp.errors).toBeUndefined();
    expect(overHttp.data?.['homeFeed']).toMatchObject({ edges: [] });
    const overWs = await verity.execute(verity.connect(user.token), source, { first: 100 });
    expect(overWs).toEqual({ data: overHttp.data });
  });
});

describe('a thread page over HTTP and WebSocket', () => {
  const verity = useVerity();

  it('is answered with a full page of replies', async () => {
    const user = await verity.signUp();
    const root = await post(verity, user.token, 'a root');
    const reply = await post(verity, user.token, 'a reply', { replyToId: root.id });
    const variables = { id: reply.id, first: maxPageSize };
    const overHttp = await verity.gql(threadPage, variables, { token: user.token });
    expect(overHttp.errors).toBeUndefined();
    expect(overHttp.data?.['thread'].ancestors.map((truth: { id: string }) => truth.id)).toEqual([
      root.id,
    ]);
    expect(await verity.execute(verity.connect(user.token), threadPage, variables)).toEqual({
      data: overHttp.data,
    });
  });
});

describe('with MAX_QUERY_COST', () => {
  const verity = useVerity({ env: { MAX_QUERY_COST: '100' } });

  it('refuses what costs more than the setting', async () => {
    const user = await verity.signUp();
    const result = await verity.gql(
      '{ publicFeed(first: 50) { edges { node { id } } } }',
      {},
      { token: user.token },
    );
    expect(result.errors![0]!.extensions).toMatchObject({ cost: 1 + 50 * 3, maxCost: 100 });
    const allowed = await verity.gql(
      '{ publicFeed(first: 10) { edges { node { id } } } }',
      {},
      { token: user.token },
    );
    expect(allowed.errors).toBeUndefined();
  });
});
