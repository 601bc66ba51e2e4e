import { Types } from 'mongoose';
import { expect } from 'vitest';
import type { TruthRecord } from '../../src/modules/truths/truth.model.js';
import { leaseKeys, tryAcquireLease } from '../../src/infra/lock.js';
import { rebuildLease } from '../../src/infra/read-model.js';
import { deleteKeys } from '../../src/infra/redis.js';
import { subscriberCount } from './redis.js';
import type { TestServer } from './server.js';
import { userIdHex } from './tokens.js';
import { waitFor } from './wait.js';

export const truthFields = /* GraphQL */ `
  id kind text hashtags createdAt deletedAt
  author { id username displayName }
  mentions { username }
  counts { replies retruths quotes reactions byKind { kind count } }
  viewerReaction viewerHasRetruthed
`;

const postMutation = `mutation($input: PostTruthInput!) { postTruth(input: $input) { truth { ${truthFields} } } }`;

/** A truth as the tests read it back. */
export type TruthResult = Record<string, any> & { id: string; text: string; kind: string };

/** Posts a truth and returns it; fails the test on any error. */
export async function post(
  server: TestServer,
  token: string,
  text: string,
  extra: { replyToId?: string; quoteOfId?: string; idempotencyKey?: string } = {},
): Promise<TruthResult> {
  const result = await server.gql(postMutation, { input: { text, ...extra } }, { token });
  expect(result.errors).toBeUndefined();
  return result.data!['postTruth'].truth;
}

/** Posts and returns the raw response, for tests of errors. */
export const tryPost = (server: TestServer, token: string, input: Record<string, unknown>) =>
  server.gql(postMutation, { input }, { token });

/** Runs a user action mutation (follow, block, ...) and fails the test on any error. */
export async function act(
  server: TestServer,
  token: string,
  action: 'follow' | 'unfollow' | 'block' | 'unblock' | 'mute' | 'unmute',
  userId: string,
): Promise<void> {
  const result = await server.gql(
    `mutation($input: UserActionInput!) { ${action}(input: $input) { user { id } } }`,
    { input: { userId } },
    { token },
  );
  expect(result.errors).toBeUndefined();
}

export async function react(server: TestServer, token: string, truthId: string, kind: string) {
  const result = await server.gql(
    `mutation($input: ReactInput!) { react(input: $input) { truth { counts { reactions byKind { kind count } } viewerReaction } } }`,
    { input: { truthId, kind } },
    { token },
  );
  expect(result.errors).toBeUndefined();
  return result.data!['react'].truth;
}

const feedQuery = (field: string, args = '') => `
  query($first: Int, $after: String) {
    ${field}(first: $first, after: $after${args}) {
      edges { cursor node { ${truthFields} } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`;

/** A page of a feed: `homeFeed`, `publicFeed` or `hashtagFeed` (with `tag`). */
export async function feed(
  server: TestServer,
  field: 'homeFeed' | 'publicFeed' | 'hashtagFeed',
  options: { token?: string; first?: number; after?: string | null; tag?: string } = {},
) {
  const args = field === 'hashtagFeed' ? `, tag: ${JSON.stringify(options.tag)}` : '';
  return server.gql(
    feedQuery(field, args),
    { first: options.first ?? 20, after: options.after ?? null },
    {
      token: options.token,
    },
  );
}

/** The texts of a feed page, newest first. */
export async function feedTexts(
  server: TestServer,
  field: 'homeFeed' | 'publicFeed' | 'hashtagFeed',
  options: { token?: string; first?: number; after?: string | null; tag?: string } = {},
): Promise<string[]> {
  const result = await feed(server, field, options);
  expect(result.errors).toBeUndefined();
  return result.data![field].edges.map((edge: { node: { text: string } }) => edge.node.text);
}

/**
 * Waits until Redis has a subscriber on an event channel, e.g. `homeFeed:<userId hex>`: the
 * point from which a live subscription cannot miss an event. GraphQL has no "subscribed"
 * acknowledgement, so tests look at the channel.
 */
export async function channelReady(
  servers: TestServer | TestServer[],
  channel: string,
): Promise<void> {
  const [topic, key] = [
    channel.slice(0, channel.indexOf(':')),
    channel.slice(channel.indexOf(':') + 1),
  ];
  // With several instances: the one holding the subscription, whichever it is.
  const listening = async (server: TestServer) => {
    const { redis, bus } = server.app.internals;
    // Home feeds share one route channel per instance: listening there, and a listener for
    // this user in the instance.
    if (topic === 'homeFeed' && !bus.hasListener('homeFeed', key)) return false;
    const name =
      topic === 'homeFeed' ? bus.routeChannel('homeFeed') : `${redis.namespace}:ev:${channel}`;
    return (await subscriberCount(redis, name)) > 0;
  };
  await waitFor(async () => {
    for (const server of [servers].flat()) if (await listening(server)) return true;
    return false;
  });
}

export const homeChannel = (userGlobalId: string) => `homeFeed:${userIdHex(userGlobalId)}`;

/**
 * Redis loses the keys matching `pattern` (within the instance's namespace) the way it loses
 * data in production, by a restart without persistence: the keys go and the instance's
 * connections drop, so its in-process copies (src/infra/near-cache.ts) are emptied too.
 * Returns how many keys were lost.
 */
export async function loseRedisKeys(server: TestServer, pattern: string): Promise<number> {
  const { redis } = server.app.internals;
  // A restart loses everything at once; a deletion takes a while (key by key on a cluster).
  // Holding the read model's rebuild lease meanwhile keeps every instance from rebuilding
  // into the middle of it, and the markers go first, as they go with the data: no script
  // trusts a key that is missing only because the deletion has reached it.
  const lease = await waitFor(() =>
    tryAcquireLease(redis, rebuildLease, { ttlMs: 30_000, minFence: 0 }),
  );
  const held = leaseKeys(redis, rebuildLease);
  let lost = 0;
  try {
    const glob = new RegExp(
      `^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`,
    );
    if (glob.test('m:ready')) lost += await deleteKeys(redis, `${redis.namespace}:m:ready*`);
    // All but the lease held here (its own key goes with the rest in a real loss).
    lost += await deleteKeys(redis, `${redis.namespace}:${pattern}`, {
      keep: (key) => key === held.key || key === held.fenceKey,
    });
  } finally {
    await lease.release();
  }
  const closed = new Promise((resolve) => redis.subscriber.once('close', resolve));
  redis.subscriber.disconnect(true);
  await closed;
  return lost;
}

/** A new post as the truths module stores it, for tests that write behind its back. */
export const postRecord = (authorId: Types.ObjectId, text: string): TruthRecord => ({
  _id: new Types.ObjectId(),
  authorId,
  kind: 'POST',
  text,
  hashtags: [],
  mentionIds: [],
  replyToId: null,
  ancestorIds: [],
  quoteOfId: null,
  retruthOfId: null,
  createdAt: new Date(),
  deletedAt: null,
});
