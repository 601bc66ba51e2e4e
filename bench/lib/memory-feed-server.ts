import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { makeExecutableSchema } from '@graphql-tools/schema';
import express from 'express';
import { createCompiledExecutionGateway } from '../../src/graphql/executor.js';
import { DateTimeScalar } from '../../src/graphql/scalars.js';
import { typeDefs } from '../../src/graphql/schema.js';

/**
 * The ceiling for the home feed figure: Verity's schema, Apollo setup and compiled execution
 * over HTTP, with resolvers that answer a fixed 20-truth page from memory (no session, no
 * Redis, no DataLoader). What the real server adds on top of this is the cost of its data.
 */
export async function startMemoryFeedServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const author = { id: 'VXNlcjoxMjM0NTY3ODkwYWJjZGVm', username: 'home_author_1' };
  const page = {
    edges: Array.from({ length: 20 }, (_, i) => ({
      cursor: `cursor-${i}`,
      node: {
        id: `VHJ1dGg6${i}`,
        text: `Home feed truth ${i} #bench${i % 5}`,
        createdAt: new Date(),
        hashtags: [`bench${i % 5}`],
      },
    })),
    pageInfo: { hasNextPage: true, endCursor: 'cursor-19' },
  };
  const schema = makeExecutableSchema({
    typeDefs,
    resolvers: {
      DateTime: DateTimeScalar,
      Query: { homeFeed: () => Promise.resolve(page) },
      Truth: {
        author: () => Promise.resolve({ ...author, displayName: 'Author', avatarUrl: null }),
        counts: () =>
          Promise.resolve({
            reactions: 3,
            replies: 1,
            retruths: 0,
            byKind: [{ kind: 'LIKE', count: 3 }],
          }),
        viewerReaction: () => Promise.resolve(null),
        viewerHasRetruthed: () => Promise.resolve(false),
      },
    },
  });
  const apollo = new ApolloServer({
    gateway: createCompiledExecutionGateway(schema, { compileAfter: 2, maxCompiled: 10 }),
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginCacheControlDisabled()],
  });
  await apollo.start();
  const app = express();
  app.use('/graphql', express.json(), expressMiddleware(apollo));
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    async stop() {
      await new Promise((resolve) => server.close(resolve));
      await apollo.stop();
    },
  };
}
