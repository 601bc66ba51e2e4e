import type { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type ErrorRequestHandler, type Express } from 'express';
import { GraphQLError } from 'graphql';
import type { Config } from '../config.js';
import type { GraphQLContext } from '../graphql/context.js';
import { bearerToken } from '../graphql/context.js';
import { ErrorCode, toGraphQLError } from '../graphql/errors.js';
import type { Logger } from '../infra/logger.js';
import { VerityError, isUnavailableError } from '../lib/errors.js';
import type { LoaderFactory, Services } from '../modules/index.js';
import { createIdeRouter } from './ide.js';

/** What `/readyz` reports. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean | string>;
}

/**
 * The HTTP transport: `/graphql` (Apollo Server, with the IDE for browsers), `/healthz`
 * (the process is alive) and `/readyz` (MongoDB and Redis answer and the app is not stopping).
 * Body-parser failures get the same JSON error shape as GraphQL errors, never an HTML stack.
 */
export function createHttpApp(deps: {
  apollo: ApolloServer<GraphQLContext>;
  path: string;
  loaders: LoaderFactory;
  services: Services;
  config: Config;
  readiness: () => Promise<Readiness>;
  logger: Logger;
}): Express {
  const { apollo, path, loaders, services, config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.http.trustProxy);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const readiness = await deps.readiness();
    res.status(readiness.ready ? 200 : 503).json(readiness);
  });

  if (config.graphql.ide) app.use(createIdeRouter({ path }));

  app.use(
    path,
    express.json({ limit: config.http.maxBodyBytes }),
    expressMiddleware(apollo, {
      context: async ({ req }): Promise<GraphQLContext> => {
        try {
          const token = bearerToken(req.headers.authorization);
          const viewer = token ? await services.users.viewerFromToken(token) : null;
          return {
            viewer,
            loaders: loaders.request(viewer?.id ?? null),
            services,
            logger,
          };
        } catch (error) {
          if (error instanceof VerityError) throw toGraphQLError(error);
          if (isUnavailableError(error)) {
            throw new GraphQLError('unavailable', {
              originalError: error as Error,
              extensions: { http: { status: 503 } },
            });
          }
          throw error;
        }
      },
    }),
  );

  app.use((_req, res) => {
    res
      .status(404)
      .json({ errors: [{ message: 'Not found.', extensions: { code: ErrorCode.NOT_FOUND } }] });
  });

  const onError: ErrorRequestHandler = (
    error: { type?: string; status?: number },
    _req,
    res,
    _next,
  ) => {
    const reply = (status: number, code: ErrorCode, message: string) =>
      res.status(status).json({ errors: [{ message, extensions: { code } }] });
    if (error.type === 'entity.too.large') {
      reply(
        413,
        ErrorCode.BAD_USER_INPUT,
        `The request body is larger than ${config.http.maxBodyBytes} bytes.`,
      );
    } else if (error.type === 'entity.parse.failed') {
      reply(400, ErrorCode.BAD_USER_INPUT, 'The request body is not valid JSON.');
    } else if (error.status && error.status >= 400 && error.status < 500) {
      reply(error.status, ErrorCode.BAD_USER_INPUT, 'The request could not be read.');
    } else {
      logger.error({ err: error }, 'unhandled HTTP error');
      reply(500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
    }
  };
  app.use(onError);
  return app;
}
