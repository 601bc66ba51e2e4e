import { requireViewer, type GraphQLContext } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { expectGlobalId, toGlobalId } from '../../graphql/global-id.js';
import {
  encodeCursor,
  pageRequest,
  toConnection,
  type Page,
  type PageRequest,
} from '../../graphql/pagination.js';
import { badUserInput, notFound } from '../../lib/errors.js';
import { normalizeHashtag, type TruthRecord } from '../truths/index.js';
import type { FeedUpdate } from './feed.service.js';

/** What the Thread type resolves from. */
export interface ThreadView {
  truth: TruthRecord;
}

/** Primes the request's truth loader with a page, so nested fields do not load them again. */
function truthConnection(context: GraphQLContext, page: Page<TruthRecord>, request: PageRequest) {
  for (const truth of page.items) context.loaders.truthById.prime(truth._id.toHexString(), truth);
  return toConnection(page, request, (truth) => truth._id.toHexString());
}

function hashtagArg(tag: string): string {
  const normalized = normalizeHashtag(tag);
  if (!normalized) throw badUserInput('That is not a hashtag.', 'tag');
  return normalized;
}

const afterArg = (after: string | null | undefined) => pageRequest({ first: 1, after }).after;

/** A live feed item as the FeedUpdate union. */
function toFeedUpdate(update: FeedUpdate) {
  switch (update.kind) {
    case 'posted':
      return {
        __typename: 'TruthPosted' as const,
        cursor: encodeCursor(update.truth._id.toHexString()),
        truth: update.truth,
      };
    case 'edited':
      return { __typename: 'TruthEdited' as const, truth: update.truth };
    case 'deleted':
      return { __typename: 'TruthDeleted' as const, truthId: toGlobalId('Truth', update.truthId) };
  }
}

export const feedResolvers: Resolvers = {
  Query: {
    homeFeed: async (_parent, args, context) => {
      const viewer = requireViewer(context);
      const request = pageRequest(args);
      return truthConnection(
        context,
        await context.services.feeds.home(viewer.id, request),
        request,
      );
    },
    publicFeed: async (_parent, args, context) => {
      const request = pageRequest(args);
      const page = await context.services.feeds.public(context.viewer?.id ?? null, request);
      return truthConnection(context, page, request);
    },
    hashtagFeed: async (_parent, args, context) => {
      const tag = hashtagArg(args.tag);
      const request = pageRequest(args);
      const page = await context.services.feeds.hashtag(context.viewer?.id ?? null, tag, request);
      return truthConnection(context, page, request);
    },
    thread: async (_parent, { id }, context) => {
      const truth = await context.loaders.truthById.load(expectGlobalId(id, 'Truth', 'id'));
      if (!truth) throw notFound('There is no truth with that id.');
      return { truth };
    },
  },

  Thread: {
    truth: (view) => view.truth,
    ancestors: async (view, _args, context) => {
      const ancestors = await context.loaders.truthById.loadMany(
        view.truth.ancestorIds.map((id) => id.toHexString()),
      );
      return ancestors.filter(
        (truth): truth is TruthRecord => truth !== null && !(truth instanceof Error),
      );
    },
    replies: async (view, args, context) => {
      const request = pageRequest(args);
      const page = await context.services.feeds.replies(
        context.viewer?.id ?? null,
        view.truth._id.toHexString(),
        request,
      );
      return truthConnection(context, page, request);
    },
  },

  Subscription: {
    homeFeedUpdated: {
      subscribe: (_parent, { after }, context) =>
        context.services.feeds.watchHome(requireViewer(context).id, afterArg(after)),
      resolve: toFeedUpdate,
    },
    publicFeedUpdated: {
      subscribe: (_parent, { after }, context) =>
        context.services.feeds.watchPublic(requireViewer(context).id, afterArg(after)),
      resolve: toFeedUpdate,
    },
    hashtagFeedUpdated: {
      subscribe: (_parent, { tag, after }, context) =>
        context.services.feeds.watchHashtag(
          requireViewer(context).id,
          hashtagArg(tag),
          afterArg(after),
        ),
      resolve: toFeedUpdate,
    },
  },

  FeedUpdate: {
    __resolveType: (update) => update.__typename,
  },
};
