import { createHash } from 'node:crypto';
import {
  HeaderMap,
  type ApolloServer,
  type ApolloServerPlugin,
  type HTTPGraphQLResponse,
} from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import cors from 'cors';
import express, {
  type ErrorRequestHandler,
  type Express,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  parse,
  type DocumentNode,
  type GraphQLFormattedError,
} from 'graphql';
import type { Config } from '../config.js';
import type { GraphQLContext, Viewer } from '../graphql/context.js';
import { bearerToken } from '../graphql/context.js';
import {
  ErrorCode,
  bindErrorScope,
  errorScopeOf,
  formatClientError,
  toGraphQLError,
  type ErrorScope,
} from '../graphql/errors.js';
import type { CostLimit } from '../graphql/cost.js';
import { rootSkipOrInclude } from '../graphql/document-cache.js';
import type { RateLimits } from '../graphql/rate-limits.js';
import { inRequest, type Logger } from '../infra/logger.js';
import type { Metrics, OperationType } from '../infra/metrics.js';
import { VerityError, isUnavailableError, retryAfterSeconds } from '../lib/errors.js';
import {
  answerWithin,
  requestTimedOut,
  withRequestBudget,
  type RequestBudget,
} from '../lib/request-budget.js';
import type { LoaderFactory, Loaders, Services } from '../modules/index.js';
import { clientAddress } from './client-address.js';
import { createIdeRouter } from './ide.js';
import { createMediaRouter } from './media.js';
import { createWebRouter } from './web.js';
import { requestIdFrom, requestIdHeader } from './request-id.js';

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
 * Why a request is refused for a subscription in its document, or undefined: subscriptions run
 * over WebSocket, and over HTTP one has no event to resolve. Refused here, before Apollo:
 * - when the operation to run is a subscription (named by `operationName`, or the document's
 *   only operation);
 * - whichever operation runs, when a subscription of the document has `@skip` or `@include` at
 *   its root: graphql-js 16's validation throws for those (an internal error) rather than
 *   report them.
 * A document that holds a subscription but runs a query (an IDE's whole tab) is served. Only a
 * document that mentions `subscription` is parsed here; Apollo reports the unparsable ones.
 */
function subscriptionProblem(req: Request, maxTokens: number): string | undefined {
  const from = (name: string) =>
    req.method === 'GET' ? searchParam(req, name) : isRecord(req.body) ? req.body[name] : undefined;
  const source = from('query');
  if (typeof source !== 'string' || !source.includes('subscription')) return undefined;
  let document: DocumentNode;
  try {
    document = parse(source, { maxTokens });
  } catch {
    return undefined;
  }
  const operations = document.definitions.filter(
    (definition) => definition.kind === Kind.OPERATION_DEFINITION,
  );
  const subscriptions = operations.filter(
    (operation) => operation.operation === OperationTypeNode.SUBSCRIPTION,
  );
  if (subscriptions.length === 0) return undefined;
  const operationName = from('operationName');
  const selected =
    typeof operationName === 'string' && operationName !== ''
      ? operations.find((operation) => operation.name?.value === operationName)
      : operations.length === 1
        ? operations[0]
        : undefined;
  if (selected?.operation === OperationTypeNode.SUBSCRIPTION) {
    return 'Subscriptions run over WebSocket (graphql-transport-ws on this same path), not over HTTP.';
  }
  return subscriptions.some((subscription) =>
    rootSkipOrInclude(subscription.selectionSet, document),
  )
    ? 'A subscription in this document has @skip or @include at its root; subscriptions run over WebSocket (graphql-transport-ws on this same path): send the document without it.'
    : undefined;
}

/**
 * One HTTP request to `/graphql` as the handler, the context and the Apollo plugin share it:
 * its id, its logger, when it arrived, and whether Apollo's request pipeline reported it.
 */
class Exchange implements ErrorScope {
  readonly startedAt = performance.now();
  reported = false;
  #logger: Logger | undefined;

  constructor(
    readonly requestId: string,
    /** The client's address (client-address.ts), for per-address rate limits. */
    readonly address: string,
    private readonly parent: Logger,
  ) {}

  /** Whether a line at `level` would be written (asked without making the child). */
  logs(level: string): boolean {
    return this.parent.isLevelEnabled(level);
  }

  /** Made when first used: most requests log nothing. */
  get logger(): Logger {
    this.#logger ??= this.parent.child({ requestId: this.requestId });
    return this.#logger;
  }
}

/**
 * The context of one HTTP request. A class, because Apollo Server hands its plugins and
 * resolvers a shallow copy of the context (same prototype, own fields copied): the exchange
 * travels with the copy, and the logger is still made only when used.
 */
class HttpContext implements GraphQLContext {
  readonly sessionProblem?: VerityError;

  constructor(
    readonly viewer: Viewer | null,
    readonly loaders: Loaders,
    readonly services: Services,
    readonly exchange: Exchange,
    sessionProblem: VerityError | undefined,
  ) {
    if (sessionProblem) this.sessionProblem = sessionProblem;
  }

  get logger(): Logger {
    return this.exchange.logger;
  }

  get requestId(): string {
    return this.exchange.requestId;
  }
}

const requestIdOf = (res: Response) => res.getHeader(requestIdHeader) as string;

const codeOf = (error: GraphQLFormattedError): string => {
  const code = error.extensions?.['code'];
  return typeof code === 'string' ? code : ErrorCode.INTERNAL_SERVER_ERROR;
};

/** Reports a finished request: one operation in the metrics, one debug line in the log. */
function report(
  exchange: Exchange,
  metrics: Metrics | undefined,
  operation: {
    type: OperationType;
    name: string | null | undefined;
    errors: readonly GraphQLFormattedError[] | undefined;
  },
) {
  // Once: a request answered as timed out may still reach Apollo's end later.
  if (exchange.reported) return;
  exchange.reported = true;
  const first = operation.errors?.[0];
  const outcome = first ? codeOf(first) : 'ok';
  const ms = performance.now() - exchange.startedAt;
  metrics?.operation({
    transport: 'http',
    type: operation.type,
    name: operation.name,
    outcome,
    seconds: ms / 1_000,
  });
  if (exchange.logs('debug')) {
    exchange.logger.debug(
      { operation: operation.name ?? null, type: operation.type, outcome, ms: Math.round(ms) },
      'graphql operation',
    );
  }
}

/**
 * Apollo Server's `formatError` for HTTP: masks as `formatClientError` does, in the scope of
 * the request the error arose in (its id in the error, its logger for the log line), and
 * counts the error by code.
 */
export function formatHttpError(deps: {
  metrics: Metrics | undefined;
  logger: Logger;
  /** Keep graphql-js's "Did you mean …?" hints in error messages (GRAPHQL_SUGGESTIONS). */
  suggestions: boolean;
}) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const answer = formatClientError(formatted, error, errorScopeOf(error) ?? deps, deps);
    deps.metrics?.error('http', codeOf(answer));
    return answer;
  };
}

/**
 * The Apollo Server plugin of the HTTP transport: ties each request's errors to the request
 * (see `formatHttpError`), reports every request that went through the pipeline by its
 * operation's type, name and outcome, and, once the operation is known and before it runs,
 * prices it (`cost`: refused over the limit, with its cost) and then, with `rateLimits`, charges
 * it to its buckets (a refusal is a 429 with `Retry-After`). One hook does both, in that order,
 * as the WebSocket transport does: Apollo runs the plugins' hooks at once, so an operation
 * refused for its cost would otherwise still use up its rate limits.
 */
export function httpRequestPlugin(options: {
  metrics: Metrics | undefined;
  cost: CostLimit;
  rateLimits: RateLimits | undefined;
}): ApolloServerPlugin<GraphQLContext> {
  const { metrics, cost, rateLimits } = options;
  return {
    requestDidStart: ({ contextValue }) => {
      // Not an HTTP request (`executeOperation`): nothing to tie its errors to.
      if (!(contextValue instanceof HttpContext)) return Promise.resolve();
      const { exchange } = contextValue;
      return Promise.resolve({
        didEncounterErrors: ({ errors }) => {
          bindErrorScope(errors, exchange);
          return Promise.resolve();
        },
        didResolveOperation: async ({ document, operation, operationName, request }) => {
          if (!operation) return;
          const tooCostly = cost.check(document, operationName, request.variables);
          if (tooCostly) throw tooCostly;
          const refusal = await rateLimits?.check({
            document,
            operation,
            variables: request.variables,
            viewer: contextValue.viewer,
            address: exchange.address,
          });
          if (refusal) throw toGraphQLError(refusal);
        },
        willSendResponse: ({ response, operation, operationName }) => {
          report(exchange, metrics, {
            type: operation?.operation ?? 'unknown',
            name: operationName,
            errors: response.body.kind === 'single' ? response.body.singleResult.errors : undefined,
          });
          return Promise.resolve();
        },
      });
    },
  };
}

/**
 * An error answer Apollo Server gave before its request pipeline (a malformed request, CSRF
 * prevention, a failed context): its errors were formatted without the request at hand, so the
 * request's id is added here, and the request reported. Such answers are small and rare.
 */
function withRequestId(exchange: Exchange, metrics: Metrics | undefined, body: string): string {
  let parsed: { errors?: GraphQLFormattedError[] };
  try {
    parsed = JSON.parse(body) as { errors?: GraphQLFormattedError[] };
  } catch {
    return body;
  }
  const errors = parsed.errors?.map((error) => ({
    ...error,
    extensions: { ...error.extensions, requestId: exchange.requestId },
  }));
  report(exchange, metrics, { type: 'unknown', name: undefined, errors });
  return errors ? JSON.stringify({ ...parsed, errors }) : body;
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
  metrics: Metrics | undefined;
  logger: Logger;
}): Express {
  const { apollo, path, loaders, services, config, metrics, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  // Express reads X-Forwarded-For as clientAddress does, so req.ip names the same client.
  app.set('trust proxy', config.http.trustedProxyHops);

  // Every answer names its request; the same id is in its errors and its log lines.
  app.use((req, res, next) => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    res.setHeader(requestIdHeader, requestId);
    inRequest(requestId, next);
  });

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
        requestIdHeader,
      ],
      exposedHeaders: [requestIdHeader],
      maxAge: 600,
    }),
  );

  if (config.graphql.ide) app.use(createIdeRouter({ path }));
  if (config.web.demo) app.use(createWebRouter());

  const refuseUnservable: RequestHandler = (req, res, next) => {
    const problem =
      persistedQueryProblem(req) ?? subscriptionProblem(req, config.graphql.maxTokens);
    if (!problem) {
      next();
      return;
    }
    logger.debug({ problem, requestId: requestIdOf(res) }, 'refused a request Apollo cannot serve');
    metrics?.error('http', ApolloServerErrorCode.BAD_REQUEST);
    res.status(400).json({
      errors: [
        {
          message: problem,
          extensions: { code: ApolloServerErrorCode.BAD_REQUEST, requestId: requestIdOf(res) },
        },
      ],
    });
  };

  const contextFor = async (req: Request, exchange: Exchange): Promise<GraphQLContext> => {
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
      return new HttpContext(
        viewer,
        loaders.request(viewer?.id ?? null),
        services,
        exchange,
        sessionProblem,
      );
    } catch (error) {
      const failure =
        error instanceof VerityError
          ? toGraphQLError(error)
          : isUnavailableError(error)
            ? new GraphQLError('unavailable', {
                originalError: error as Error,
                extensions: { http: { status: 503 } },
              })
            : error;
      if (typeof failure === 'object' && failure !== null) bindErrorScope([failure], exchange);
      throw failure;
    }
  };

  /**
   * The answer to a request still running when its time (REQUEST_TIMEOUT_MS) is up: 503 with
   * `Retry-After` and `requestTimedOut`'s error. The request goes on in the background, but
   * writes nothing more (infra/mongo.ts), and its own answer is dropped.
   */
  const timedOut = (exchange: Exchange, budget: RequestBudget): HTTPGraphQLResponse => {
    const refusal = requestTimedOut(budget);
    const code = refusal.code;
    const error = {
      message: refusal.message,
      extensions: { ...refusal.details, code, requestId: exchange.requestId },
    };
    exchange.logger.warn(
      { timeoutMs: config.requestTimeoutMs, wrote: budget.wrote },
      'request timed out',
    );
    metrics?.error('http', code);
    report(exchange, metrics, { type: 'unknown', name: undefined, errors: [error] });
    const headers = new HeaderMap([
      ['content-type', 'application/json; charset=utf-8'],
      ['retry-after', String(retryAfterSeconds)],
    ]);
    return {
      status: 503,
      headers,
      body: { kind: 'complete', string: JSON.stringify({ errors: [error] }) },
    };
  };

  /**
   * Apollo Server on express: what `@as-integrations/express5` does, with the request's
   * exchange around it, answering within REQUEST_TIMEOUT_MS.
   */
  const serveGraphQL = async (req: Request, res: Response) => {
    const exchange = new Exchange(
      requestIdOf(res),
      clientAddress(req, config.http.trustedProxyHops),
      logger,
    );
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const query = req.url.indexOf('?');
    // Re-entered here: a body read from the socket resumes outside the scope of the request.
    const answer = await withRequestBudget(config.requestTimeoutMs, (budget) =>
      answerWithin(
        budget,
        inRequest(exchange.requestId, () =>
          apollo.executeHTTPGraphQLRequest({
            httpGraphQLRequest: {
              method: req.method.toUpperCase(),
              headers,
              search: query < 0 ? '' : req.url.slice(query),
              body: req.body as unknown,
            },
            context: () => contextFor(req, exchange),
          }),
        ),
        () => timedOut(exchange, budget),
      ),
    );
    for (const [key, value] of answer.headers) res.setHeader(key, value);
    res.statusCode = answer.status ?? 200;
    if (answer.body.kind === 'complete') {
      const { string } = answer.body;
      res.send(
        exchange.reported || res.statusCode < 400
          ? string
          : withRequestId(exchange, metrics, string),
      );
      return;
    }
    for await (const chunk of answer.body.asyncIterator) res.write(chunk);
    res.end();
  };

  app.use(path, express.json({ limit: config.http.maxBodyBytes }), refuseUnservable, serveGraphQL);
  app.use(createMediaRouter({ services, config, metrics, logger }));

  app.use((_req, res) => {
    res.status(404).json({
      errors: [
        {
          message: 'Not found.',
          extensions: { code: ErrorCode.NOT_FOUND, requestId: requestIdOf(res) },
        },
      ],
    });
  });

  const onError: ErrorRequestHandler = (
    error: { type?: string; status?: number },
    _req,
    res,
    _next,
  ) => {
    const requestId = requestIdOf(res);
    const reply = (status: number, code: ErrorCode, message: string) => {
      metrics?.error('http', code);
      res.status(status).json({ errors: [{ message, extensions: { code, requestId } }] });
    };
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
      logger.error({ err: error, requestId }, 'unhandled HTTP error');
      reply(500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
    }
  };
  app.use(onError);
  return app;
}
