import { requireViewer, type GraphQLContext } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { expectGlobalId } from '../../graphql/global-id.js';
import { pageRequest, toConnection } from '../../graphql/pagination.js';
import { notFound, unauthenticated } from '../../lib/errors.js';
import type { UserRecord, Viewer } from '../users/index.js';

type RelationAction = 'follow' | 'unfollow' | 'block' | 'unblock' | 'mute' | 'unmute';

const act =
  (action: RelationAction) =>
  async (_parent: unknown, { input }: { input: { userId: string } }, context: GraphQLContext) => {
    const viewer: Viewer = requireViewer(context);
    const userId = expectGlobalId(input.userId, 'User', 'userId');
    await context.services.relations[action](viewer, userId);
    const [user, me] = await Promise.all([
      context.loaders.userById.load(userId),
      context.loaders.userById.load(viewer.id),
    ]);
    if (!user) throw notFound('There is no such user.');
    if (!me) throw unauthenticated('This account no longer exists.', 'invalid');
    return { user, me };
  };

/** The User fields read from a user's follow counts, and from the viewer's relations to them. */
const countFields = ['followerCount', 'followingCount'];
const flagFields = ['viewerIsFollowing', 'followsViewer', 'viewerHasBlocked', 'viewerHasMuted'];

/**
 * Starts, at once, the reads that a list of users needs, given the names of the User fields
 * selected on them (`selectedFieldNames`): their records, and their counts and the viewer's
 * relations to them when those are selected. The fields then resolve from the request's
 * loaders, and a page of people whom this instance has not seen costs one round trip instead of
 * one per level. Nothing to gain where loaders do not keep what they read (an operation over a
 * WebSocket).
 */
export function prefetchUsers(
  context: GraphQLContext,
  selected: ReadonlySet<string>,
  ids: readonly string[],
): Promise<unknown> {
  if (!context.loaders.caching || ids.length === 0) return Promise.resolve();
  return Promise.all([
    context.loaders.userById.loadMany(ids),
    countFields.some((field) => selected.has(field))
      ? context.loaders.followCountsById.loadMany(ids)
      : null,
    selected.has('truthCount') ? context.loaders.authoredCountsById.loadMany(ids) : null,
    flagFields.some((field) => selected.has(field))
      ? Promise.all(
          ids.map((id) => Promise.resolve(context.loaders.relationFlagsByUserId.load(id))),
        )
      : null,
  ]);
}

const flags = (user: UserRecord, context: GraphQLContext) =>
  context.loaders.relationFlagsByUserId.load(user._id.toHexString());

const followCounts = (user: UserRecord, context: GraphQLContext) =>
  context.loaders.followCountsById.load(user._id.toHexString());

const relatedUsers =
  (direction: 'followers' | 'following') =>
  async (
    user: UserRecord,
    args: { first?: number | null; after?: string | null },
    context: GraphQLContext,
  ) => {
    const request = pageRequest(args);
    const page = await context.services.relations.list(user._id.toHexString(), direction, request);
    const people = await context.loaders.userById.loadMany(page.items.map((item) => item.userId));
    const edges = page.items.flatMap((item, i) => {
      const node = people[i];
      return node && !(node instanceof Error) ? [{ item, node }] : [];
    });
    const connection = toConnection(
      { items: edges, hasNextPage: page.hasNextPage },
      request,
      (edge) => edge.item.userId,
    );
    return {
      pageInfo: connection.pageInfo,
      edges: connection.edges.map(({ cursor, node }) => ({
        cursor,
        node: node.node,
        since: node.item.since,
      })),
    };
  };

export const relationResolvers: Resolvers = {
  Mutation: {
    follow: act('follow'),
    unfollow: act('unfollow'),
    block: act('block'),
    unblock: act('unblock'),
    mute: act('mute'),
    unmute: act('unmute'),
  },

  User: {
    followerCount: async (user, _args, context) => (await followCounts(user, context)).followers,
    followingCount: async (user, _args, context) => (await followCounts(user, context)).following,
    truthCount: async (user, _args, context) =>
      (await context.loaders.authoredCountsById.load(user._id.toHexString())).truths,
    followers: relatedUsers('followers'),
    following: relatedUsers('following'),
    truths: async (user, args, context) => {
      const request = pageRequest(args);
      const page = await context.services.feeds.account(
        context.viewer?.id ?? null,
        user._id.toHexString(),
        request,
        args.includeReplies ?? false,
      );
      for (const truth of page.items)
        context.loaders.truthById.prime(truth._id.toHexString(), truth);
      return toConnection(page, request, (truth) => truth._id.toHexString());
    },
    viewerIsFollowing: async (user, _args, context) => (await flags(user, context)).following,
    followsViewer: async (user, _args, context) => (await flags(user, context)).followedBy,
    viewerHasBlocked: async (user, _args, context) => (await flags(user, context)).blocking,
    viewerHasMuted: async (user, _args, context) => (await flags(user, context)).muting,
  },
};
