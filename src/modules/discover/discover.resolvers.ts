import { requireViewer, type GraphQLContext } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { selectedFieldNames } from '../../graphql/selection.js';
import { badUserInput } from '../../lib/errors.js';
import { prefetchUsers } from '../follows/index.js';
import type { UserRecord } from '../users/index.js';
import type { TrendsView } from './discover.events.js';
import { trendsShown } from './discover.service.js';
import { normalizeSearch } from './discover.store.js';

/** The most a search or suggestion list holds (`first`). */
export const maxDiscoverResults = 20;

function firstArg(first: number | null | undefined): number {
  const value = first ?? 10;
  if (!Number.isInteger(value) || value < 1 || value > maxDiscoverResults) {
    throw badUserInput(`first must be from 1 to ${maxDiscoverResults}.`, 'first');
  }
  return value;
}

function searchArg(raw: string, field: string, strip: string, maxLength: number, pattern?: RegExp) {
  const text = normalizeSearch(raw.trim().startsWith(strip) ? raw.trim().slice(strip.length) : raw);
  if (text === '' || [...text].length > maxLength || (pattern && !pattern.test(text))) {
    throw badUserInput(
      pattern
        ? `${field} must be 1 to ${maxLength} letters, digits or underscores.`
        : `${field} must be 1 to ${maxLength} characters.`,
      field,
    );
  }
  return text;
}

async function usersByIds(context: GraphQLContext, ids: readonly string[]): Promise<UserRecord[]> {
  const users = await context.loaders.userById.loadMany(ids);
  return users.filter((user): user is UserRecord => user !== null && !(user instanceof Error));
}

export const discoverResolvers: Resolvers = {
  Query: {
    searchUsers: async (_parent, args, context, info) => {
      const [query, first] = [searchArg(args.query, 'query', '@', 50), firstArg(args.first)];
      const ids = await context.services.discover.searchUsers(query, first, (found) =>
        prefetchUsers(context, selectedFieldNames(info), found),
      );
      return usersByIds(context, ids);
    },
    searchHashtags: (_parent, args, context) => {
      const prefix = searchArg(args.prefix, 'prefix', '#', 100, /^[\p{L}\p{N}_]+$/u);
      return context.services.discover.searchHashtags(prefix, firstArg(args.first));
    },
    trends: (_parent, _args, context) => context.services.discover.trends(),
    suggestedAccounts: async (_parent, args, context, info) => {
      const viewer = requireViewer(context);
      const first = firstArg(args.first);
      const ids = await context.services.discover.suggestedAccounts(viewer.id, first);
      await prefetchUsers(context, selectedFieldNames(info), ids);
      return usersByIds(context, ids);
    },
  },

  Subscription: {
    trendsUpdated: {
      subscribe: (_parent, _args, context) => context.services.discover.watchTrends(),
      resolve: (view: TrendsView) => view,
    },
  },

  Trends: {
    computedAt: (view) => new Date(view.computedAt),
    hashtags: (view) => view.hashtags,
    truths: async (view, _args, context) => {
      const truths = await context.loaders.truthById.loadMany(
        view.truths.map((entry) => entry.truthId),
      );
      const shown = view.truths.flatMap((entry, i) => {
        const truth = truths[i];
        return truth && !(truth instanceof Error) && !truth.deletedAt
          ? [{ truth, score: entry.score }]
          : [];
      });
      // A suspended author's truths leave the trends with the rest of their truths.
      const hidden = await context.services.discover.hiddenAmong(
        shown.map(({ truth }) => truth.authorId.toHexString()),
      );
      return shown
        .filter(({ truth }) => !hidden.has(truth.authorId.toHexString()))
        .slice(0, trendsShown);
    },
  },
};
