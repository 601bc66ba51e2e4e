import { readFileSync } from 'node:fs';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import { moduleResolvers, perViewerBatches } from '../modules/index.js';
import type { Resolvers } from './generated/resolvers-types.js';
import { fromGlobalId } from './global-id.js';
import { installSpliceSites } from './live/splice.js';
import { DateTimeScalar } from './scalars.js';

/** The public API's source text: `schema.graphql` at the project root. */
export const typeDefs = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');

const coreResolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    node: async (_parent, { id }, context) => {
      const parsed = fromGlobalId(id);
      if (!parsed) return null;
      switch (parsed.type) {
        case 'User': {
          const user = await context.loaders.userById.load(parsed.id);
          return user ? { ...user, __typename: 'User' as const } : null;
        }
        case 'Truth': {
          const truth = await context.loaders.truthById.load(parsed.id);
          return truth ? { ...truth, __typename: 'Truth' as const } : null;
        }
        case 'TruthCounts': {
          const truth = await context.loaders.truthById.load(parsed.id);
          return truth ? { truthId: parsed.id, __typename: 'TruthCounts' as const } : null;
        }
        case 'Notification': {
          // Only its recipient may see a notification.
          if (!context.viewer) return null;
          const notification = await context.services.notifications.byId(
            context.viewer.id,
            parsed.id,
          );
          return notification ? { ...notification, __typename: 'Notification' as const } : null;
        }
        case 'Media':
          return null;
      }
    },
  },
  Node: {
    __resolveType: (node) => node.__typename,
  },
  SignUpResult: {
    __resolveType: (result) => result.__typename,
  },
};

/** The executable schema: `schema.graphql` plus every module's resolvers. */
export function createSchema(): GraphQLSchema {
  const schema = makeExecutableSchema({
    typeDefs,
    resolvers: [coreResolvers, ...moduleResolvers],
    resolverValidationOptions: {
      requireResolversToMatchSchema: 'error',
      requireResolversForResolveType: 'error',
    },
  });
  // Live deliveries splice per-viewer leaves into shared results (graphql/live/splice.ts).
  installSpliceSites(schema, perViewerBatches);
  return schema;
}
