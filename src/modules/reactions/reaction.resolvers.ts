import { requireViewer } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { expectGlobalId } from '../../graphql/global-id.js';

export const reactionResolvers: Resolvers = {
  Mutation: {
    react: async (_parent, { input }, context) => ({
      truth: await context.services.reactions.react(
        requireViewer(context),
        expectGlobalId(input.truthId, 'Truth', 'truthId'),
        input.kind,
      ),
    }),
    removeReaction: async (_parent, { input }, context) => ({
      truth: await context.services.reactions.remove(
        requireViewer(context),
        expectGlobalId(input.truthId, 'Truth', 'truthId'),
      ),
    }),
  },
};
