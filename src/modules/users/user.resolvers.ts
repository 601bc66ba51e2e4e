import { requireViewer } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { toGlobalId } from '../../graphql/global-id.js';
import { notFound } from '../../lib/errors.js';
import type { UserRecord } from './user.model.js';

export const userResolvers: Resolvers = {
  Query: {
    me: (_parent, _args, context) =>
      context.viewer ? context.loaders.userById.load(context.viewer.id) : null,
    user: (_parent, { username }, context) => context.services.users.findByUsername(username),
  },

  Mutation: {
    logIn: (_parent, { input }, context) => context.services.users.logIn(input),
    updateProfile: (_parent, { input }, context) =>
      context.services.users.updateProfile(requireViewer(context), input),
  },

  Subscription: {
    userUpdated: {
      subscribe: async (_parent, { username }, context) => {
        requireViewer(context);
        const user = await context.services.users.findByUsername(username);
        if (!user) throw notFound(`There is no user named ${username}.`);
        return context.services.users.watchProfile(user._id.toHexString());
      },
      resolve: (user: UserRecord) => user,
    },
  },

  User: {
    id: (user) => toGlobalId('User', user._id),
    email: async (user, _args, context) => {
      const id = user._id.toHexString();
      if (context.viewer?.id !== id) return null;
      // Profiles that arrive in events carry no email; the owner's own is read on demand.
      return user.email || ((await context.loaders.userById.load(id))?.email ?? null);
    },
  },
};
