import { Kind, parse, type FragmentDefinitionNode, type GraphQLResolveInfo } from 'graphql';
import { describe, expect, it } from 'vitest';
import { selectedFieldNames } from '../src/graphql/selection.js';

/** What `selectedFieldNames` reads of a resolver's info, for the query's first root field. */
function infoOf(query: string): GraphQLResolveInfo {
  const document = parse(query);
  const operation = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION)!;
  const root = operation.selectionSet.selections[0]!;
  if (root.kind !== Kind.FIELD) throw new Error('the first root selection must be a field');
  const fragments = Object.fromEntries(
    document.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
      .map((d) => [d.name.value, d]),
  );
  return { fieldNodes: [root], fragments } as unknown as GraphQLResolveInfo;
}

describe('selectedFieldNames', () => {
  it('names the fields directly under the resolved field, through fragments', () => {
    const info = infoOf(`
      query { searchUsers(query: "a") { id ...Counts ... on User { followsViewer } } }
      fragment Counts on User { followerCount ...Name }
      fragment Name on User { username }
    `);
    expect([...selectedFieldNames(info)].sort()).toEqual(
      ['followerCount', 'followsViewer', 'id', 'username'].sort(),
    );
  });

  it('follows a path down a connection, through fragments at any level', () => {
    const info = infoOf(`
      query {
        notifications(first: 20) {
          unreadCount
          edges { cursor node { id actor { username } } }
          ...Page
        }
      }
      fragment Page on NotificationConnection { edges { node { ...Node } } }
      fragment Node on Notification { truth { id } actor { ... on User { followerCount } } }
    `);
    expect([...selectedFieldNames(info, ['edges', 'node'])].sort()).toEqual(
      ['actor', 'id', 'truth'].sort(),
    );
    expect([...selectedFieldNames(info, ['edges', 'node', 'actor'])].sort()).toEqual(
      ['followerCount', 'username'].sort(),
    );
    expect([...selectedFieldNames(info, ['pageInfo'])]).toEqual([]);
  });

  it('stops at a fragment that spreads itself, and names nothing without an info', () => {
    const info = infoOf(`
      query { me { ...Loop } }
      fragment Loop on User { id ...Loop }
    `);
    expect([...selectedFieldNames(info)]).toEqual(['id']);
    expect(selectedFieldNames(undefined).size).toBe(0);
  });
});
