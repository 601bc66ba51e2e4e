import { requireViewer, type GraphQLContext } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { expectGlobalId, fromGlobalId, toGlobalId } from '../../graphql/global-id.js';
import { whenLoaded } from '../../graphql/loader.js';
import { notFound } from '../../lib/errors.js';
import { reactionKinds } from '../reactions/index.js';
import type { UserRecord } from '../users/index.js';
import type { TruthRecord } from './truth.model.js';
import { validateNewTruth } from './truth.validation.js';

/** What the TruthCounts type resolves from: the truth; its fields load the counts. */
export interface TruthCountsView {
  truthId: string;
}

/** A truth's author; not async, so that a value this process holds resolves at once. */
const authorOf = (truth: TruthRecord & { author?: UserRecord }, context: GraphQLContext) =>
  truth.author ??
  whenLoaded(context.loaders.userById.load(truth.authorId.toHexString()), (author) => {
    if (!author) throw new Error(`author ${truth.authorId.toHexString()} of a truth is missing`);
    return author;
  });

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
      const viewer = requireViewer(context);
      const valid = validateNewTruth(
        {
          ...input,
          media: input.media?.map((item) => ({
            id: expectGlobalId(item.id, 'Media', 'media'),
            altText: item.altText,
          })),
        },
        (id, field) => expectGlobalId(id, 'Truth', field),
      );
      const { truth, created } = await context.services.truths.post(viewer, valid);
      // A truth created just now has no reactions, replies or retruths: the answer needs no
      // read for them, so it cannot fail once the truth is stored.
      if (created) context.loaders.primeNewTruth(truth);
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
      resolve: (event: { truthId: string }): TruthCountsView => ({ truthId: event.truthId }),
    },
  },

  Truth: {
    id: (truth) => toGlobalId('Truth', truth._id),
    url: (truth, _args, context) =>
      whenLoaded(authorOf(truth, context), (author) =>
        context.services.links.truth(author.username, toGlobalId('Truth', truth._id)),
      ),
    // Not async: a value this process holds resolves synchronously (graphql/loader.ts).
    author: (truth, _args, context) => authorOf(truth, context),
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
    counts: (truth) => ({ truthId: truth._id.toHexString() }),
    viewerReaction: (truth, _args, context) =>
      context.loaders.viewerReactionByTruthId.load(truth._id.toHexString()),
    viewerHasRetruthed: (truth, _args, context) =>
      context.loaders.viewerRetruthedByTruthId.load(truth._id.toHexString()),
    media: (truth) => (truth.deletedAt ? [] : (truth.media ?? [])),
  },

  TruthCounts: {
    // One per truth, the same wherever the counts appear (Truth.counts, truthCountsChanged,
    // node), so a client cache keeps one copy that every event updates.
    id: (view) => toGlobalId('TruthCounts', view.truthId),
    truthId: (view) => toGlobalId('Truth', view.truthId),
    replies: (view, _args, context) =>
      whenLoaded(context.loaders.truthCountsById.load(view.truthId), (counts) => counts.replies),
    retruths: (view, _args, context) =>
      whenLoaded(context.loaders.truthCountsById.load(view.truthId), (counts) => counts.retruths),
    quotes: (view, _args, context) =>
      whenLoaded(context.loaders.truthCountsById.load(view.truthId), (counts) => counts.quotes),
    reactions: (view, _args, context) =>
      whenLoaded(context.loaders.reactionCountsById.load(view.truthId), (counts) =>
        reactionKinds.reduce((sum, kind) => sum + counts[kind], 0),
      ),
    byKind: (view, _args, context) =>
      whenLoaded(context.loaders.reactionCountsById.load(view.truthId), (counts) =>
        reactionKinds
          .filter((kind) => counts[kind] > 0)
          .map((kind) => ({ kind, count: counts[kind] })),
      ),
  },
};
