import { InMemoryCache, type ApolloCache, type Reference } from '@apollo/client';
import type { ModifierDetails } from '@apollo/client/cache';
import { relayStylePagination } from '@apollo/client/utilities';
import { graphql } from './gql/index.js';

/** A feed that live updates can be merged into. */
export type FeedKey =
  { feed: 'homeFeed' } | { feed: 'publicFeed' } | { feed: 'hashtagFeed'; tag: string };

/** A hashtag as Verity compares them: without `#`, any case. */
export const normalizeTag = (tag: string) => tag.trim().replace(/^#/, '').toLowerCase();

/**
 * The members of each union and interface in schema.graphql, which the cache needs to match
 * fragments on them (`... on TruthPosted`). test/client-kit.test.ts holds it to the schema.
 */
export const possibleTypes: Record<string, string[]> = {
  FeedUpdate: ['TruthPosted', 'TruthDeleted', 'TruthEdited'],
  SignUpResult: ['Session', 'WaitlistTicket'],
  Node: ['User', 'Truth', 'TruthCounts', 'Notification'],
  ReportTarget: ['Truth', 'User'],
};

/** One cached list per key argument, whatever `first` and `after` the pages used. */
const keyedBy =
  (name: string, normalize: (value: unknown) => unknown) =>
  (args: Record<string, unknown> | null) =>
    JSON.stringify({ [name]: normalize(args?.[name]) });

/**
 * The cache Verity's operations need:
 *
 * - Every connection is one Relay list per key (`relayStylePagination`): a page fetched with
 *   `after` is appended to the pages before it, and a fetch without `after` starts the list anew.
 *   The feeds take no key but the hashtag (normalised, so `#Rust` and `rust` share a list);
 *   `User.truths` is keyed by `includeReplies`, `notifications` by `unreadOnly`.
 * - Every object with an identity is normalised by its `id` (Apollo's default key), the same in
 *   queries, mutation answers and events: `TruthCounts` has one per truth, so a
 *   `truthCountsChanged` event, a `react` answer and every feed page write the same entry, and
 *   every truth shown anywhere reads the newest counts.
 * - `possibleTypes` lists the union and interface members, for fragments on them.
 */
export function createVerityCache(): InMemoryCache {
  return new InMemoryCache({
    possibleTypes,
    typePolicies: {
      Query: {
        fields: {
          homeFeed: relayStylePagination(),
          publicFeed: relayStylePagination(),
          hashtagFeed: relayStylePagination(
            keyedBy('tag', (tag) => (typeof tag === 'string' ? normalizeTag(tag) : tag)),
          ),
          notifications: relayStylePagination(
            keyedBy('unreadOnly', (unreadOnly) => unreadOnly === true),
          ),
          // A truth already in the cache (from any feed) is read from there.
          truth: (existing: Reference | undefined, { args, toReference }) =>
            existing ??
            (typeof args?.['id'] === 'string'
              ? toReference({ __typename: 'Truth', id: args['id'] })
              : undefined),
        },
      },
      // A feed event is handled once, as it arrives (see prependToFeed); the cache keeps only
      // the last one.
      Subscription: {
        fields: {
          homeFeedUpdated: { merge: false },
          publicFeedUpdated: { merge: false },
          hashtagFeedUpdated: { merge: false },
        },
      },
      User: {
        fields: {
          truths: relayStylePagination(
            keyedBy('includeReplies', (includeReplies) => includeReplies === true),
          ),
          followers: relayStylePagination(),
          following: relayStylePagination(),
        },
      },
    },
  });
}

interface CachedConnection {
  edges: readonly { __typename?: string; cursor?: string; node?: Reference }[];
  pageInfo?: Record<string, unknown>;
}

const isConnection = (value: unknown): value is CachedConnection =>
  typeof value === 'object' && value !== null && Array.isArray((value as CachedConnection).edges);

/** The key arguments stored in a field's store name, `hashtagFeed:{"tag":"rust"}`. */
function storedArgs(details: ModifierDetails): Record<string, unknown> {
  const json = details.storeFieldName.slice(details.fieldName.length + 1);
  if (!json) return {};
  try {
    return JSON.parse(json) as Record<string, unknown>;
  } catch {
    return {};
  }
}

const isFeedOf = (key: FeedKey, details: ModifierDetails) =>
  key.feed !== 'hashtagFeed' || storedArgs(details)['tag'] === normalizeTag(key.tag);

const holds = (connection: CachedConnection, ref: Reference, details: ModifierDetails) =>
  connection.edges.some((edge) => details.readField<Reference>('node', edge)?.__ref === ref.__ref);

const prepend = (
  connection: CachedConnection,
  edge: { cursor: string; node: Reference },
): CachedConnection => ({
  ...connection,
  edges: [{ __typename: 'TruthEdge', ...edge }, ...connection.edges],
  // The list's start moved; the relay read function prefers the stored startCursor.
  pageInfo: { ...connection.pageInfo, startCursor: edge.cursor },
});

/** A live truth as feed subscriptions deliver it (already written to the cache by then). */
export interface PostedTruth {
  cursor: string;
  truth: { __typename?: 'Truth'; id: string; kind: string; author: { id: string } };
}

/**
 * Puts a truth that a feed subscription delivered at the top of that cached feed, once (a
 * truth the list holds already is left where it is), and at the top of its author's cached
 * `truths` (the lists with replies only, for a reply). A feed that is not cached is left alone:
 * its first fetch will hold the truth.
 */
export function prependToFeed(cache: ApolloCache, key: FeedKey, posted: PostedTruth): void {
  const { cursor, truth } = posted;
  const ref = cache.identify({ __typename: 'Truth', id: truth.id });
  if (!ref) return;
  const node: Reference = { __ref: ref };
  cache.modify({
    id: 'ROOT_QUERY',
    fields: {
      [key.feed]: (existing: unknown, details: ModifierDetails) =>
        isConnection(existing) && isFeedOf(key, details) && !holds(existing, node, details)
          ? prepend(existing, { cursor, node })
          : existing,
    },
  });
  const author = cache.identify({ __typename: 'User', id: truth.author.id });
  if (!author) return;
  cache.modify({
    id: author,
    fields: {
      truths: (existing: unknown, details: ModifierDetails) =>
        isConnection(existing) &&
        (truth.kind !== 'REPLY' || storedArgs(details)['includeReplies'] === true) &&
        !holds(existing, node, details)
          ? prepend(existing, { cursor, node })
          : existing,
    },
  });
}

const feedFields = new Set(['homeFeed', 'publicFeed', 'hashtagFeed']);

/** Takes a deleted truth out of every cached feed and marks it deleted where it is still shown. */
export function removeFromFeeds(cache: ApolloCache, truthId: string): void {
  const ref = cache.identify({ __typename: 'Truth', id: truthId });
  if (!ref) return;
  const without = (existing: unknown, details: ModifierDetails) =>
    isConnection(existing)
      ? {
          ...existing,
          edges: existing.edges.filter(
            (edge) => details.readField<Reference>('node', edge)?.__ref !== ref,
          ),
        }
      : existing;
  cache.modify({
    id: 'ROOT_QUERY',
    fields: (value: unknown, details) =>
      feedFields.has(details.fieldName) ? without(value, details) : value,
  });
  cache.modify({
    id: ref,
    fields: { deletedAt: (value: unknown) => value ?? new Date().toISOString(), text: () => '' },
  });
}

const HomeFeedCursorQuery = graphql(`
  query HomeFeedCursor {
    homeFeed {
      edges {
        cursor
      }
    }
  }
`);

const PublicFeedCursorQuery = graphql(`
  query PublicFeedCursor {
    publicFeed {
      edges {
        cursor
      }
    }
  }
`);

const HashtagFeedCursorQuery = graphql(`
  query HashtagFeedCursor($tag: String!) {
    hashtagFeed(tag: $tag) {
      edges {
        cursor
      }
    }
  }
`);

/**
 * The cursor of the newest truth the cache holds for a feed (its first edge), or undefined when
 * the feed is not cached or empty. Read from the cache alone, never the network.
 */
export function newestCursor(cache: ApolloCache, key: FeedKey): string | undefined {
  switch (key.feed) {
    case 'homeFeed':
      return cache.readQuery({ query: HomeFeedCursorQuery })?.homeFeed.edges[0]?.cursor;
    case 'publicFeed':
      return cache.readQuery({ query: PublicFeedCursorQuery })?.publicFeed.edges[0]?.cursor;
    case 'hashtagFeed':
      return cache.readQuery({ query: HashtagFeedCursorQuery, variables: { tag: key.tag } })
        ?.hashtagFeed.edges[0]?.cursor;
  }
}
