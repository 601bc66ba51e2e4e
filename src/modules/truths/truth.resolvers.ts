import { requireViewer, type GraphQLContext } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { expectGlobalId, fromGlobalId, toGlobalId } from '../../graphql/global-id.js';
import { whenLoaded } from '../../graphql/loader.js';
import { notFound } from '../../lib/errors.js';
import { reactionKinds } from '../reactions/reaction.model.js';
import type { UserRecord } from '../users/user.model.js';
import type { TruthCounts } from './truth.counts.js';
import type { TruthRecord } from './truth.model.js';

/** What the TruthCounts type resolves from. */
export interface TruthCountsView {
  truthId: string;
  counts: TruthCounts;
}

const optionalTruthId = (id: string | null | undefined, field: string) =>
  id ? expectGlobalId(id, 'Truth', field) : null;

const loadRelated = (context: GraphQLContext, id: TruthRecord['replyToId']) =>
  id ? context.loaders.truthById.load(id.toHexString()) : null;

export const truthResolvers: Resolvers = {
  Query: {
    truth: (_parent, { id }, context) => {
      const parsed = fromGlobalId(id);
      return parsed?.type === 'Truth' ? context.loaders.truthById.load(parsed.id) : null;
    },
  },

  Mutation: {
    postTruth: async (_parent, { input }, context) => {
      const truth = await context.services.truths.post(requireViewer(context), {
        text: input.text,
        replyToId: optionalTruthId(input.replyToId, 'replyToId'),
        quoteOfId: optionalTruthId(input.quoteOfId, 'quoteOfId'),
        idempotencyKey: input.idempotencyKey ?? null,
      });
      return { truth };
    },
    deleteTruth: async (_parent, { input }, context) => {
      await context.services.truths.delete(
        requireViewer(context),
        expectGlobalId(input.id, 'Truth', 'id'),
      );
      return { deletedTruthId: input.id };
    },
    retruth: (_parent, { input }, context) =>
      context.services.truths.retruth(
        requireViewer(context),
        expectGlobalId(input.truthId, 'Truth', 'truthId'),
      ),
    undoRetruth: async (_parent, { input }, context) => ({
      original: await context.services.truths.undoRetruth(
        requireViewer(context),
        expectGlobalId(input.truthId, 'Truth', 'truthId'),
      ),
    }),
  },

  Subscription: {
    truthCountsChanged: {
      subscribe: async (_parent, { truthId }, context) => {
        requireViewer(context);
        const id = expectGlobalId(truthId, 'Truth', 'truthId');
        if (!(await context.loaders.truthById.load(id)))
          throw notFound('There is no truth with that truthId.');
        return context.services.truths.watchCounts(id);
      },
      resolve: (view: TruthCountsView) => view,
    },
  },

  Truth: {
    id: (truth) => toGlobalId('Truth', truth._id),
    // Not async: a value this process holds resolves synchronously (graphql/loader.ts).
    author: (truth, _args, context) =>
      truth.author ??
      whenLoaded(context.loaders.userById.load(truth.authorId.toHexString()), (author) => {
        if (!author)
          throw new Error(`author ${truth.authorId.toHexString()} of a truth is missing`);
        return author;
      }),
    text: (truth) => (truth.deletedAt ? '' : truth.text),
    hashtags: (truth) => (truth.deletedAt ? [] : truth.hashtags),
    mentions: async (truth, _args, context) => {
      if (truth.deletedAt || truth.mentionIds.length === 0) return [];
      const users = await context.loaders.userById.loadMany(
        truth.mentionIds.map((id) => id.toHexString()),
      );
      return users.filter((user): user is UserRecord => user !== null && !(user instanceof Error));
    },
    replyTo: (truth, _args, context) => loadRelated(context, truth.replyToId),
    quoteOf: (truth, _args, context) => loadRelated(context, truth.quoteOfId),
    retruthOf: (truth, _args, context) => loadRelated(context, truth.retruthOfId),
    counts: (truth, _args, context) => {
      const truthId = truth._id.toHexString();
      return whenLoaded(context.loaders.truthCountsById.load(truthId), (counts) => ({
        truthId,
        counts,
      }));
    },
    viewerReaction: (truth, _args, context) =>
      context.loaders.viewerReactionByTruthId.load(truth._id.toHexString()),
    viewerHasRetruthed: (truth, _args, context) =>
      context.loaders.viewerRetruthedByTruthId.load(truth._id.toHexString()),
  },

  TruthCounts: {
    truthId: (view) => toGlobalId('Truth', view.truthId),
    replies: (view) => view.counts.replies,
    retruths: (view) => view.counts.retruths,
    quotes: (view) => view.counts.quotes,
    reactions: (view) => reactionKinds.reduce((sum, kind) => sum + view.counts[kind], 0),
    byKind: (view) =>
      reactionKinds
        .filter((kind) => view.counts[kind] > 0)
        .map((kind) => ({ kind, count: view.counts[kind] })),
  },
};
