import { requireViewer } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { expectGlobalId } from '../../graphql/global-id.js';

/** Editing, and what a truth shows of its edits. */
export const truthEditResolvers: Resolvers = {
  Mutation: {
    editTruth: async (_parent, { input }, context) => ({
      truth: await context.services.truthEdits.edit(
        requireViewer(context),
        expectGlobalId(input.id, 'Truth', 'id'),
        input.text,
      ),
    }),
  },

  Truth: {
    editedAt: (truth) => (truth.deletedAt ? null : (truth.editedAt ?? null)),
    edits: async (truth, _args, context) => {
      if (truth.deletedAt) return [];
      const versions = await context.services.truthEdits.earlierVersions(truth);
      return versions.map((version) => ({
        revision: version.revision,
        text: version.text,
        createdAt: version.at,
      }));
    },
  },
};
