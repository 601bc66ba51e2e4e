import { createHash } from 'node:crypto';
import type { ApolloServer } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express, {
  type ErrorRequestHandler,
  type Express,
  type Request,
  type RequestHandler,
} from 'express';
import { GraphQLError } from 'graphql';
import type { Config } from '../config.js';
import type { GraphQLContext, Viewer } from '../graphql/context.js';
import { bearerToken } from '../graphql/context.js';
import { ErrorCode, toGraphQLError } from '../graphql/errors.js';
import type { Logger } from '../infra/logger.js';
import { VerityError, isUnavailableError } from '../lib/errors.js';
import type { LoaderFactory, Services } from '../modules/index.js';
import { createIdeRouter } from './ide.js';
import { createWebRouter } from './web.js';

/** What `/readyz` reports. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean | string>;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A GET parameter as Apollo reads it (the first, if repeated). */
const searchParam = (req: Request, name: string): unknown => {
  const value = (req.query as Record<string, unknown>)[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * What is wrong with a request's automatic persisted query (APQ) extension, or undefined when
 * it has none or a well-formed one: `{ version: 1, sha256Hash }`, the hash being the hex SHA-256
 * of the query when a query comes with it (registering it). Apollo Server answers these shapes
 * with errors that carry no code, which would be masked as internal errors and logged with a
 * stack each time; they are the client's mistakes.
 */
function persistedQueryProblem(req: Request): string | undefined {
  let extensions: unknown;
  let query: unknown;
  if (req.method === 'GET') {
    const raw = searchParam(req, 'extensions');
    if (typeof raw !== 'string') return undefined;
    try {
      extensions = JSON.parse(raw);
    } catch {
      return undefined; // Apollo answers invalid JSON with BAD_REQUEST itself.
    }
    query = searchParam(req, 'query');
  } else if (isRecord(req.body)) {
    ({ extensions, query } = req.body);
  }
  // Apollo ignores a falsy persistedQuery, so Verity does too.
  if (!isRecord(extensions) || !extensions['persistedQuery']) return undefined;
  const persisted = extensions['persistedQuery'];
  if (!isRecord(persisted)) {
    return 'extensions.persistedQuery must be an object: { "version": 1, "sha256Hash": "<hex SHA-256 of the query>" }.';
  }
  if (persisted['version'] !== 1) {
    return 'extensions.persistedQuery.version must be 1, the only version of persisted queries supported.';
  }
  const hash = persisted['sha256Hash'];
  if (typeof hash !== 'string' || hash === '') {
    return 'extensions.persistedQuery.sha256Hash must be the hex SHA-256 of the query, as a string.';
  }
  if (typeof query === 'string' && createHash('sha256').update(query).digest('hex') !== hash) {
    return 'extensions.persistedQuery.sha256Hash is not the hex SHA-256 of the query.';
  }
  return undefined;
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

  // Pages on other origins (a web app on its own host, a dev server) may call the API: the
  // configured ones (CORS_ORIGINS), preflights included. Credentials are bearer tokens in a
  // header, not cookies, so no `Access-Control-Allow-Credentials`. Installed before the IDE's
  // router, whose GET route would otherwise answer every OPTIONS on the path itself.
  app.use(
    path,
    cors({
      origin: config.http.corsOrigins,
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: [
        'Authorization',
        'Content-Type',
        'Apollo-Require-Preflight',
        'X-Apollo-Operation-Name',
        'Apollo-Query-Plan-Experimental',
      ],
      maxAge: 600,
    }),
  );

  if (config.graphql.ide) app.use(createIdeRouter({ path }));
  if (config.web.demo) app.use(createWebRouter());

  const refuseMalformedPersistedQuery: RequestHandler = (req, res, next) => {
    const problem = persistedQueryProblem(req);
    if (!problem) {
      next();
      return;
    }
    logger.debug({ problem }, 'refused a malformed persisted query');
    res.status(400).json({
      errors: [{ message: problem, extensions: { code: ApolloServerErrorCode.BAD_REQUEST } }],
    });
  };

  app.use(
    path,
    express.json({ limit: config.http.maxBodyBytes }),
    refuseMalformedPersistedQuery,
    expressMiddleware(apollo, {
      context: async ({ req }): Promise<GraphQLContext> => {
        try {
          const token = bearerToken(req.headers.authorization);
          let viewer: Viewer | null = null;
          let sessionProblem: VerityError | undefined;
          if (token) {
            try {
              viewer = await services.users.viewerFromToken(token);
            } catch (error) {
              // A stale or bad token blocks nothing that needs no session (logIn, the public
              // feed); what needs one says why it was refused.
              if (!(error instanceof VerityError)) throw error;
              sessionProblem = error;
            }
          }
          return {
            viewer,
            loaders: loaders.request(viewer?.id ?? null),
            services,
            logger,
            ...(sessionProblem ? { sessionProblem } : {}),
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
