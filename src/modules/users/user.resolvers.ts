import { requireViewer } from '../../graphql/context.js';
import type { Resolvers, Role } from '../../graphql/generated/resolvers-types.js';
import { toGlobalId } from '../../graphql/global-id.js';
import { notFound, unauthenticated } from '../../lib/errors.js';
import { opaqueId } from '../../lib/ids.js';
import type { UserRecord, UserRole } from './user.model.js';

/** The roles an account's role gives: every account is a USER, an admin is an ADMIN too. */
const rolesOf: Record<UserRole, Role[]> = {
  user: ['USER'],
  admin: ['USER', 'ADMIN'],
};

/**
 * Profiles handed back inside a `Session` (sign-up, log-in, completing sign-up) belong to the
 * caller, who proved it with a password, although the request carried no session yet.
 */
const sessionOwners = new WeakSet<UserRecord>();

export const userResolvers: Resolvers = {
  Query: {
    me: (_parent, _args, context) =>
      context.viewer ? context.loaders.userById.load(context.viewer.id) : null,
    viewer: (_parent, _args, context) => context.viewer,
    user: (_parent, { username }, context) => context.services.users.findByUsername(username),
  },

  Mutation: {
    logIn: (_parent, { input }, context) => context.services.users.logIn(input),
    logOut: async (_parent, _args, context) => {
      await context.services.users.logOut(requireViewer(context));
      return true;
    },
    logOutEverywhere: async (_parent, _args, context) => {
      await context.services.users.logOutEverywhere(requireViewer(context));
      return true;
    },
    renewSession: (_parent, _args, context) =>
      context.services.users.renewSession(requireViewer(context)),
    updateProfile: (_parent, { input }, context) =>
      context.services.users.updateProfile(requireViewer(context), input),
  },

  Subscription: {
    userUpdated: {
      subscribe: async (_parent, { username }, context) => {
        const user = await context.services.users.findByUsername(username);
        if (!user) throw notFound(`There is no user named ${username}.`);
        return context.services.users.watchProfile(user._id.toHexString());
      },
      resolve: (user: UserRecord) => user,
    },
  },

  Session: {
    user: (session) => {
      sessionOwners.add(session.user);
      return session.user;
    },
  },

  Viewer: {
    id: (viewer) => opaqueId(`Viewer:${viewer.id}`),
    user: async (viewer, _args, context) => {
      const user = await context.loaders.userById.load(viewer.id);
      if (!user) throw unauthenticated('This account no longer exists.', 'invalid');
      return user;
    },
    roles: (viewer) => [...rolesOf[viewer.role]],
  },

  User: {
    id: (user) => toGlobalId('User', user._id),
    url: (user, _args, context) => context.services.links.user(user.username),
    email: async (user, _args, context) => {
      const id = user._id.toHexString();
      if (context.viewer?.id !== id && !sessionOwners.has(user)) return null;
      // Profiles that arrive in events carry no email; the owner's own is read on demand.
      return user.email || ((await context.loaders.userById.load(id))?.email ?? null);
    },
  },
};
