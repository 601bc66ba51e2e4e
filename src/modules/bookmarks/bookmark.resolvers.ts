import { requireViewer, type GraphQLContext } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { expectGlobalId } from '../../graphql/global-id.js';
import { pageRequest, toConnection } from '../../graphql/pagination.js';
import type { TruthRecord } from '../truths/index.js';
import type { Viewer } from '../users/index.js';

// A bookmark's position is its version; cursors carry it as 24 hex digits, the shape every
// Verity cursor has (graphql/pagination.ts).
const versionCursor = (version: number) => version.toString(16).padStart(24, '0');
const cursorVersion = (hex: string) => Number.parseInt(hex, 16);

const pinnedOf = (viewer: Viewer, context: GraphQLContext) =>
  context.services.bookmarks.pinned(viewer.id);

export const bookmarkResolvers: Resolvers = {
  Query: {
    bookmarks: async (_parent, args, context) => {
      const viewer = requireViewer(context);
      const request = pageRequest(args);
      const page = await context.services.bookmarks.page(
        viewer.id,
        request.first,
        request.after === null ? null : cursorVersion(request.after),
      );
      const versions = new Map<TruthRecord, number>();
      for (const { truth, version } of page.items) {
        versions.set(truth, version);
        context.loaders.truthById.prime(truth._id.toHexString(), truth);
      }
      return toConnection(
        { items: page.items.map((item) => item.truth), hasNextPage: page.hasNextPage },
        request,
        (truth) => versionCursor(versions.get(truth)!),
      );
    },
  },

  Mutation: {
    bookmarkTruth: async (_parent, { input }, context) => ({
      truth: await context.services.bookmarks.bookmark(
        requireViewer(context),
        expectGlobalId(input.truthId, 'Truth', 'truthId'),
      ),
    }),
    unbookmarkTruth: async (_parent, { input }, context) => ({
      truth: await context.services.bookmarks.unbookmark(
        requireViewer(context),
        expectGlobalId(input.truthId, 'Truth', 'truthId'),
      ),
    }),
    pinTruth: async (_parent, { input }, context) => {
      const viewer = requireViewer(context);
      await context.services.bookmarks.pin(
        viewer,
        expectGlobalId(input.truthId, 'Truth', 'truthId'),
      );
      return { pinnedTruths: await pinnedOf(viewer, context) };
    },
    unpinTruth: async (_parent, { input }, context) => {
      const viewer = requireViewer(context);
      await context.services.bookmarks.unpin(
        viewer,
        expectGlobalId(input.truthId, 'Truth', 'truthId'),
      );
      return { pinnedTruths: await pinnedOf(viewer, context) };
    },
  },

  Truth: {
    viewerHasBookmarked: (truth, _args, context) =>
      context.loaders.viewerBookmarkedByTruthId.load(truth._id.toHexString()),
  },

  User: {
    // Through the request's loaders: a page of users asks for all their pins, and then all
    // the pinned truths, in one batch each.
    pinnedTruths: async (user, _args, context) => {
      const ids = await context.loaders.pinnedIdsByUserId.load(user._id.toHexString());
      const truths = await context.loaders.truthById.loadMany([...ids]);
      return truths.filter(
        (truth): truth is TruthRecord =>
          truth !== null && !(truth instanceof Error) && !truth.deletedAt,
      );
    },
  },
};
