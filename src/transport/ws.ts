import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  GraphQLError,
  OperationTypeNode,
  execute,
  getOperationAST,
  type ExecutionArgs,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { getVariableValues } from 'graphql/execution/values.js';
import { CloseCode, makeServer, type Context, type SubscribePayload } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../config.js';
import type { GraphQLContext, Viewer } from '../graphql/context.js';
import { bearerToken } from '../graphql/context.js';
import type { CostLimit } from '../graphql/cost.js';
import type { DocumentCache } from '../graphql/document-cache.js';
import type { Executor } from '../graphql/executor.js';
import {
  ErrorCode,
  formatClientError,
  toGraphQLError,
  type ErrorScope,
} from '../graphql/errors.js';
import { createLiveHub, type LiveConnection, type MessagePart } from '../graphql/live/live-hub.js';
import type { SiteRecorder } from '../graphql/live/splice.js';
import type { RateLimits } from '../graphql/rate-limits.js';
import { rootFieldNames } from '../graphql/root-fields.js';
import { enterRequest, type Logger } from '../infra/logger.js';
import type { Metrics, OperationType, SocketCounts } from '../infra/metrics.js';
import { VerityError, isUnavailableError } from '../lib/errors.js';
import { answerWithin, requestTimedOut, withRequestBudget } from '../lib/request-budget.js';
import type { LoaderFactory, Loaders, Services } from '../modules/index.js';
import { clientAddress } from './client-address.js';
import { requestIdFrom, requestIdHeader } from './request-id.js';
import { serveGraphQLOverWs, writeTextMessage, type SocketExtra } from './ws-adapter.js';

/**
 * Close codes Verity uses on top of graphql-ws's own (4400 bad request, 4403 forbidden,
 * 4408 init timeout, 4500 internal error, ...). Clients may reconnect after each of these.
 */
export const VerityCloseCode = {
  /** The client fell too far behind its events; reconnect and catch up with a cursor. */
  SlowConsumer: 4420,
  /** The connection's session expired: renew (or sign in) and reconnect with the new token. */
  SessionExpired: 4440,
  /** The connection's session was ended (`logOut`, `logOutEverywhere`): sign in again. */
  SessionRevoked: 4441,
  /** The server is shutting down; reconnect (to another instance). */
  GoingAway: 1001,
  /**
   * MongoDB or Redis did not answer while authenticating, or the instance holds as many
   * anonymous connections as it may: reconnect with backoff.
   */
  TryAgainLater: 1013,
} as const;

/** The close code for a session token that was refused, by reason. */
const refusedSession = (error: VerityError): [code: number, reason: string] => {
  switch (error.details['reason']) {
    case 'expired':
      return [VerityCloseCode.SessionExpired, 'Session expired'];
    case 'revoked':
      return [VerityCloseCode.SessionRevoked, 'Session revoked'];
    default:
      return [CloseCode.Forbidden, 'Forbidden: invalid session token'];
  }
};

/** The longest timer Node keeps (about 24.8 days); a later expiry re-arms. */
const maxTimerMs = 2 ** 31 - 1;

/** Closes a session's connection when the session expires (4440). */
function armExpiry(state: ConnectionState): void {
  const expiresAt = state.viewer?.session?.expiresAt;
  if (!expiresAt) return;
  const left = expiresAt.getTime() - Date.now();
  if (left <= 0) {
    state.socket.close(VerityCloseCode.SessionExpired, 'Session expired');
    return;
  }
  state.expiry = setTimeout(armExpiry, Math.min(left, maxTimerMs), state);
  state.expiry.unref();
}

type SocketKind = Exclude<keyof SocketCounts, 'pending'>;

const codeOf = (error: GraphQLFormattedError): string => {
  const code = error.extensions?.['code'];
  return typeof code === 'string' ? code : ErrorCode.INTERNAL_SERVER_ERROR;
};

/** What Verity keeps per WebSocket connection. */
interface ConnectionState extends SocketExtra {
  /** The upgrade's `X-Request-Id` (or a new one), answered in the 101 and in its log lines. */
  readonly connectionId: string;
  /** The client's address (client-address.ts), for per-address rate limits. */
  readonly address: string;
  /** How the connection authenticated, once it has (for the socket counts). */
  counted?: SocketKind;
  /** Its operations from subscribe to complete, by protocol id. */
  operations?: Map<string, Operation>;
  /** Set once the connection is authenticated (before connection_ack). */
  viewer?: Viewer;
  /** Authenticated with a waitlist ticket token alone: only `waitlistOperations` may run. */
  waitlistOnly?: boolean;
  /** No token at all: only queries and `anonymousSubscriptions` may run. */
  anonymous?: boolean;
  /** Closes the connection when its session expires. */
  expiry?: NodeJS.Timeout;
  /** Where the live hub writes this connection's subscription events; made on first use. */
  live?: LiveConnection;
}

/**
 * One operation (a subscribe message), from its arrival to its end: its request id (the
 * client's `extensions.requestId` when sane, else a new one), what it turned out to be, and
 * whether it was reported. Its logger is made on first use: a subscription lives long and
 * rarely logs.
 */
class Operation implements ErrorScope {
  type: OperationType = 'unknown';
  name: string | undefined;
  reported = false;
  readonly startedAt = performance.now();
  #logger: Logger | undefined;

  constructor(
    readonly requestId: string,
    private readonly connectionId: string,
    private readonly parent: Logger,
  ) {}

  get logger(): Logger {
    this.#logger ??= this.parent.child({
      connectionId: this.connectionId,
      requestId: this.requestId,
    });
    return this.#logger;
  }
}

/**
 * The context of one WebSocket operation. Its loaders are made on first use: most subscriptions
 * never touch them after subscribing, and a subscription's context lives as long as it does.
 */
class OperationContext implements GraphQLContext {
  #loaders: Loaders | undefined;

  constructor(
    readonly viewer: Viewer | null,
    readonly services: Services,
    private readonly operation: Operation,
    private readonly factory: LoaderFactory,
  ) {}

  get logger(): Logger {
    return this.operation.logger;
  }

  get requestId(): string {
    return this.operation.requestId;
  }

  get loaders(): Loaders {
    this.#loaders ??= this.factory.operation(this.viewer?.id ?? null);
    return this.#loaders;
  }
}

/**
 * The context of one live event's execution: made per execution (per subscriber of a waitlist
 * tick), so a class, its getter on the prototype. Loaders only when a resolver asks: a waitlist
 * position or a shared result needs none.
 */
class LiveEventContext implements GraphQLContext {
  #loaders: Loaders | undefined;

  constructor(
    private readonly event: object,
    readonly viewer: Viewer | null,
    readonly liveTemplate: SiteRecorder | undefined,
    readonly services: Services,
    readonly logger: Logger,
    private readonly factory: LoaderFactory,
  ) {}

  get loaders(): Loaders {
    this.#loaders ??= this.factory.event(this.event, this.viewer?.id ?? null);
    return this.#loaders;
  }
}

/** A socket as the live hub sees it (a class: one per socket, its methods shared). */
class SocketLiveConnection implements LiveConnection {
  constructor(
    private readonly socket: WebSocket,
    private readonly stream: Duplex,
  ) {}

  send(parts: readonly MessagePart[]): void {
    writeTextMessage(this.socket, this.stream, parts);
  }

  bufferedBytes(): number {
    return this.socket.bufferedAmount;
  }

  /**
   * Queues the 4420 close frame behind what is already buffered (the live hub keeps that to
   * about WS_MAX_BUFFERED_BYTES), so a client that reads, however slowly, drains its events and
   * then learns why it was closed. A peer that stops reading cannot complete the close handshake
   * either: once its buffer has not shrunk for `slowConsumerGraceMs` it is terminated, so that
   * its buffers are freed. Whatever happens, ws destroys a socket whose close handshake has not
   * finished 30 s after `close()` (its `closeTimeout`), which caps the wait.
   */
  closeSlow(): void {
    const { socket } = this;
    // Every subscription of the connection may be cut off; one close and one watch suffice.
    if (socket.readyState !== socket.OPEN) return;
    socket.close(VerityCloseCode.SlowConsumer, 'Slow consumer');
    let least = socket.bufferedAmount;
    let progressAt = Date.now();
    const watch = setInterval(() => {
      const buffered = socket.bufferedAmount;
      if (buffered === 0) {
        // Nothing of ours is left in this process: the close frame is with the kernel, and
        // ws's close timer ends the handshake from here.
        clearInterval(watch);
      } else if (buffered < least) {
        least = buffered;
        progressAt = Date.now();
      } else if (Date.now() - progressAt >= slowConsumerGraceMs) {
        clearInterval(watch);
        socket.terminate();
      }
    }, slowConsumerCheckMs);
    watch.unref();
    socket.once('close', () => clearInterval(watch));
  }
}

/**
 * A subscription's end of a socket when metrics are on: one per subscription (not per socket),
 * so that each frame it sends is matched with its own event, in order, to time the delivery.
 * An event counts from its first arrival at the live hub on this instance, shared by every
 * subscriber of it: a routed event's later subscribers count the whole pass.
 */
class TimedLiveConnection extends SocketLiveConnection {
  #arrivals: number[] | undefined;

  constructor(
    socket: WebSocket,
    stream: Duplex,
    private readonly clock: EventClock,
  ) {
    super(socket, stream);
  }

  received(event: unknown): void {
    (this.#arrivals ??= []).push(this.clock.arrival(event));
  }

  override send(parts: readonly MessagePart[]): void {
    super.send(parts);
    const arrival = this.#arrivals?.shift();
    if (arrival !== undefined) this.clock.delivered(arrival);
  }
}

/** When each live event first reached the hub here, by the event object. */
class EventClock {
  readonly #arrivals = new WeakMap<object, number>();
  #last: unknown;
  #lastArrival = 0;

  constructor(private readonly metrics: Metrics) {}

  arrival(event: unknown): number {
    // An event goes to its subscribers one after another: the last one is nearly always it.
    if (event === this.#last) return this.#lastArrival;
    const now = performance.now();
    let arrival = now;
    if (typeof event === 'object' && event !== null) {
      arrival = this.#arrivals.get(event) ?? now;
      if (arrival === now) this.#arrivals.set(event, now);
    }
    this.#last = event;
    this.#lastArrival = arrival;
    return arrival;
  }

  delivered(arrival: number): void {
    this.metrics.liveDelay((performance.now() - arrival) / 1_000);
  }
}

type ConnectionParams = Record<string, unknown> | undefined;

/**
 * The root fields a connection authenticated with a waitlist ticket token alone may select.
 * The token proves a place on the waitlist and nothing more: it lets a person without a session
 * watch that place, and must not open a socket for whatever else an anonymous client can do
 * (logIn, signUp, the feeds), which belongs to HTTP.
 */
const waitlistOperations: Readonly<Record<OperationTypeNode, ReadonlySet<string>>> = {
  query: new Set(['waitlistTicket', '__typename']),
  mutation: new Set(),
  subscription: new Set(['waitlistPosition']),
};

/**
 * What a connection without any token may run: queries (as anonymous HTTP may) and the public
 * subscriptions. Writes, even logIn and signUp, belong to HTTP.
 */
const anonymousSubscriptions: ReadonlySet<string> = new Set([
  'publicFeedUpdated',
  'hashtagFeedUpdated',
  'truthCountsChanged',
  'userUpdated',
  'trendsUpdated',
  '__typename',
]);

/**
 * How long a cut-off subscriber's connection may go without draining any of its buffer.
 * `bufferedAmount` moves in steps, not byte by byte: Node hands the kernel everything queued
 * during the previous write as one write, counted until all of it is in, and the kernel makes
 * room only when about a third of its send buffer is free. A reader that drains a megabyte
 * buffer at 100 KB/s shows progress about every ten seconds, which it must not be cut for.
 */
const slowConsumerGraceMs = 15_000;
const slowConsumerCheckMs = 500;

/**
 * The WebSocket transport: graphql-ws on the HTTP server's `/graphql` path.
 *
 * - A connection needs a valid session token in `connectionParams.authorization` (or
 *   `.token`), or a valid waitlist ticket token in `connectionParams.ticketToken` (a waiting
 *   person, who has no session); without either it is closed with 4403 before any operation
 *   runs. A ticket-token connection may run only waitlistTicket and waitlistPosition; anything
 *   else is refused with FORBIDDEN and the socket stays open.
 * - Every document is parsed and validated once (shared cache) with the same depth, alias and
 *   token limits as HTTP, and each operation priced with its variables against the same cost
 *   limit; failures are ordinary GraphQL errors, never a 4500 close.
 * - Queries and mutations run through graphql-ws as usual; subscription events are delivered by
 *   the live hub (graphql/live/live-hub.ts): one execution and one serialisation per distinct
 *   operation per event, written straight to the sockets.
 * - Errors are masked exactly as on HTTP; a subscriber that falls behind is closed with 4420.
 */
export function attachWebSocketTransport(deps: {
  httpServer: Server;
  path: string;
  schema: GraphQLSchema;
  documents: DocumentCache;
  /** Runs each event's execution for the live hub. */
  execute: Executor;
  loaders: LoaderFactory;
  services: Services;
  config: Config['ws'];
  /** Prices each operation (a subscription: one event) before it runs, as over HTTP. */
  cost: CostLimit;
  /** Keep graphql-js's "Did you mean …?" hints in error messages (GRAPHQL_SUGGESTIONS). */
  suggestions: boolean;
  /** TRUST_PROXY, to read the client's address from the upgrade request. */
  trustedProxyHops: number;
  /** Charged before each operation runs, as over HTTP; undefined when rate limits are off. */
  rateLimits: RateLimits | undefined;
  metrics: Metrics | undefined;
  logger: Logger;
  /** REQUEST_TIMEOUT_MS, for queries and mutations (lib/request-budget.ts). */
  requestTimeoutMs: number;
}) {
  const { schema, documents, loaders, services, config, rateLimits, metrics, logger } = deps;
  const wsServer = new WebSocketServer({
    server: deps.httpServer,
    path: deps.path,
    maxPayload: config.maxPayloadBytes,
  });

  // Each connection is named by its upgrade's X-Request-Id (or a new id), answered in the 101.
  const connectionIds = new WeakMap<IncomingMessage, string>();
  wsServer.on('headers', (headers, request) => {
    const connectionId = requestIdFrom(request.headers['x-request-id']);
    connectionIds.set(request, connectionId);
    headers.push(`${requestIdHeader}: ${connectionId}`);
  });

  const format = (errors: readonly GraphQLError[], scope: ErrorScope) =>
    errors.map((error) => {
      const formatted = formatClientError(error.toJSON(), error, scope, {
        suggestions: deps.suggestions,
      });
      metrics?.error('ws', codeOf(formatted));
      return formatted;
    });

  /** Reports a finished operation: once in the metrics, one debug line in the log. */
  const report = (operation: Operation, outcome: string) => {
    operation.reported = true;
    const ms = performance.now() - operation.startedAt;
    metrics?.operation({
      transport: 'ws',
      type: operation.type,
      name: operation.name,
      outcome,
      seconds: ms / 1_000,
    });
    if (logger.isLevelEnabled('debug')) {
      operation.logger.debug(
        { operation: operation.name ?? null, type: operation.type, outcome, ms: Math.round(ms) },
        'graphql operation',
      );
    }
  };

  const clock = metrics ? new EventClock(metrics) : undefined;

  const hub = createLiveHub({
    schema,
    execute: deps.execute,
    contextFor: (event, viewer, liveTemplate) =>
      new LiveEventContext(event, viewer, liveTemplate, services, logger, loaders),
    // One execution serves every subscriber sharing it, so its errors get an id of their own,
    // which the log line of an internal error carries too.
    formatErrors: (errors) => {
      const requestId = randomUUID();
      return format(errors, { requestId, logger: logger.child({ requestId }) });
    },
    share: config.shareExecution,
    maxBufferedBytes: config.maxBufferedBytes,
    maxPendingEvents: config.maxPendingEvents,
    logger,
  });

  // Where each subscription's events go, found by its context: graphql-ws's `subscribe` hook
  // receives only the execution arguments.
  const liveTargets = new WeakMap<
    object,
    { connection: LiveConnection; id: string; viewer: Viewer | null }
  >();

  const socketCounts: Record<SocketKind, number> = { session: 0, anonymous: 0, waitlist: 0 };
  /** Counts an authenticated connection until it closes (graphql-ws's onClose). */
  const countSocket = (state: ConnectionState) => {
    // Closed while authenticating: its onClose has run already.
    if (state.socket.readyState === state.socket.CLOSED) return;
    const kind: SocketKind = state.viewer
      ? 'session'
      : state.waitlistOnly
        ? 'waitlist'
        : 'anonymous';
    state.counted = kind;
    socketCounts[kind] += 1;
  };

  let anonymousConnections = 0;
  /** A connection without any token, within the instance's limit for them. */
  const admitAnonymous = (state: ConnectionState): boolean => {
    if (anonymousConnections >= config.maxAnonymousConnections) {
      state.socket.close(VerityCloseCode.TryAgainLater, 'Too many anonymous connections, retry');
      return false;
    }
    // Closed meanwhile: its onClose has run already.
    if (state.socket.readyState === state.socket.CLOSED) return false;
    // Counted until graphql-ws's onClose.
    anonymousConnections += 1;
    state.anonymous = true;
    return true;
  };

  /**
   * Closes a session's connection when the session expires (4440) or is ended on any instance
   * (4441): its sockets are tracked per user, and each user with sockets here is told of every
   * revocation of their sessions.
   */
  const socketsByUser = new Map<string, { states: Set<ConnectionState>; stop: () => void }>();
  const closeRevoked = (
    userId: string,
    revoked: { sessionId: string | null; before: number | null },
  ) => {
    for (const state of socketsByUser.get(userId)?.states ?? []) {
      const session = state.viewer?.session;
      if (!session) continue;
      const ended =
        (revoked.sessionId !== null && revoked.sessionId === session.id) ||
        (revoked.before !== null && session.issuedAt < revoked.before);
      if (ended) state.socket.close(VerityCloseCode.SessionRevoked, 'Session revoked');
    }
  };
  /**
   * A revocation published before the watch was confirmed would be missed: the token is looked
   * at again once it is. A function of its own, so that the closures a connection keeps for its
   * life (watchSession's) do not hold the token.
   */
  const checkAgainOnceWatched = (ready: Promise<unknown>, state: ConnectionState, token: string) =>
    void ready
      .then(() => services.users.viewerFromToken(token))
      .catch((error: unknown) => {
        if (error instanceof VerityError) state.socket.close(...refusedSession(error));
      });
  const watchSession = (state: ConnectionState, token: string) => {
    const viewer = state.viewer;
    // Closed while authenticating: its onClose has run already.
    if (!viewer?.session || state.socket.readyState === state.socket.CLOSED) return;
    let entry = socketsByUser.get(viewer.id);
    if (!entry) {
      const watch = services.users.watchSessions(viewer.id, (revoked) =>
        closeRevoked(viewer.id, revoked),
      );
      entry = { states: new Set(), stop: () => watch.unsubscribe() };
      socketsByUser.set(viewer.id, entry);
      checkAgainOnceWatched(watch.ready, state, token);
    }
    entry.states.add(state);
    armExpiry(state);
  };
  /** A closed connection's part of `watchSession` (graphql-ws's onClose). */
  const unwatchSession = (state: ConnectionState) => {
    clearTimeout(state.expiry);
    const userId = state.viewer?.id;
    if (userId === undefined) return;
    const entry = socketsByUser.get(userId);
    if (!entry?.states.delete(state) || entry.states.size > 0) return;
    socketsByUser.delete(userId);
    entry.stop();
  };

  const server = makeServer<ConnectionParams, ConnectionState>({
    schema,
    connectionInitWaitTimeout: config.connectionInitTimeoutMs,

    // Queries and mutations answer within REQUEST_TIMEOUT_MS, as over HTTP.
    execute: (args) =>
      withRequestBudget(deps.requestTimeoutMs, (budget) =>
        answerWithin(budget, Promise.resolve(execute(args)), () => ({
          errors: [toGraphQLError(requestTimedOut(budget))],
        })),
      ),

    subscribe: (args) => {
      const live = liveTargets.get(args.contextValue as object);
      if (!live) throw new Error('a subscription without a live target');
      return hub.subscribe(args, live);
    },

    onConnect: async (ctx) => {
      const accepted = await authenticate(ctx);
      if (accepted) countSocket(ctx.extra);
      return accepted;
    },

    onClose: (ctx) => {
      if (ctx.extra.counted) socketCounts[ctx.extra.counted] -= 1;
      if (ctx.extra.anonymous) anonymousConnections -= 1;
      unwatchSession(ctx.extra);
    },

    onSubscribe: (ctx, id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> => {
      const operation = new Operation(
        requestIdFrom(payload.extensions?.['requestId']),
        ctx.extra.connectionId,
        logger,
      );
      (ctx.extra.operations ??= new Map()).set(id, operation);
      // What this operation's resolvers and services log names it (infra/logger.ts).
      enterRequest(operation.requestId);
      return prepare(ctx, id, payload, operation);
    },

    onOperation: (ctx, id, _payload, _args, result) => {
      // A subscription has started (a query's result, or a subscription's refusal, is reported
      // in onNext with its errors).
      const operation = ctx.extra.operations?.get(id);
      if (operation && !operation.reported && Symbol.asyncIterator in result) {
        report(operation, 'ok');
      }
    },

    onNext: (ctx, id, _payload, _args, result) => {
      const operation = ctx.extra.operations?.get(id);
      const errors = result.errors ? format(result.errors, operation ?? { logger }) : undefined;
      if (operation && !operation.reported) report(operation, errors ? codeOf(errors[0]!) : 'ok');
      return errors ? { ...result, errors } : undefined;
    },

    onError: (ctx, id, _payload, errors) => {
      const operation = ctx.extra.operations?.get(id);
      const formatted = format(errors, operation ?? { logger });
      if (operation && !operation.reported) report(operation, codeOf(formatted[0]!));
      ctx.extra.operations?.delete(id);
      return formatted;
    },

    onComplete: (ctx, id) => {
      const operation = ctx.extra.operations?.get(id);
      // Ended before it was answered: the client completed it or left.
      if (operation && !operation.reported) report(operation, 'cancelled');
      ctx.extra.operations?.delete(id);
    },
  });

  /** Authenticates a connection (see the transport's doc comment); false refuses it. */
  async function authenticate(ctx: Context<ConnectionParams, ConnectionState>): Promise<boolean> {
    const params = ctx.connectionParams ?? {};
    try {
      const token = bearerToken(
        params['authorization'] ?? params['Authorization'] ?? params['token'],
      );
      const ticketToken = params['ticketToken'];
      if (!token && typeof ticketToken === 'string' && ticketToken !== '') {
        // A person on the waitlist has no session yet; their ticket token admits them to
        // watch their position (waitlistPosition), as a connection without a viewer.
        await services.waitlist.verifyTicketToken(ticketToken);
        ctx.extra.waitlistOnly = true;
        Reflect.deleteProperty(ctx, 'connectionParams');
        return true;
      }
      if (!token) return admitAnonymous(ctx.extra);
      ctx.extra.viewer = await services.users.viewerFromToken(token);
      // graphql-ws keeps the params (the whole token) for the connection's life otherwise.
      Reflect.deleteProperty(ctx, 'connectionParams');
      watchSession(ctx.extra, token);
      return true;
    } catch (error) {
      if (error instanceof VerityError) {
        // The token was refused: say why (expired, revoked, invalid), not just "forbidden".
        if (error.code === ErrorCode.UNAUTHENTICATED && !ctx.extra.waitlistOnly) {
          ctx.extra.socket.close(...refusedSession(error));
        }
        return false;
      }
      if (isUnavailableError(error)) {
        logger.warn(
          { err: error, connectionId: ctx.extra.connectionId },
          'cannot authenticate a WebSocket: a backing service is down',
        );
        ctx.extra.socket.close(VerityCloseCode.TryAgainLater, 'Service unavailable, retry');
        return false;
      }
      logger.error(
        { err: error, connectionId: ctx.extra.connectionId },
        'WebSocket authentication failed unexpectedly',
      );
      ctx.extra.socket.close(CloseCode.InternalServerError, 'Internal server error');
      return false;
    }
  }

  /** Checks and prepares one operation: its execution arguments, or why it cannot run. */
  async function prepare(
    ctx: Context<ConnectionParams, ConnectionState>,
    id: string,
    payload: SubscribePayload,
    operation: Operation,
  ): Promise<ExecutionArgs | readonly GraphQLError[]> {
    if (Object.keys(ctx.subscriptions).length > config.maxSubscriptions) {
      return [
        new GraphQLError(
          `A connection may run at most ${config.maxSubscriptions} operations at once.`,
          { extensions: { code: ErrorCode.RATE_LIMITED } },
        ),
      ];
    }
    if (typeof payload.query !== 'string') {
      return [
        new GraphQLError('A query is required.', {
          extensions: { code: ErrorCode.BAD_USER_INPUT },
        }),
      ];
    }
    const prepared = documents.prepare(payload.query);
    if (!prepared.ok) return prepared.errors;
    const operationName = payload.operationName ?? null;
    const definition = getOperationAST(prepared.document, operationName);
    if (!definition) {
      return [
        new GraphQLError('Unable to identify the operation to run.', {
          extensions: { code: ErrorCode.BAD_USER_INPUT },
        }),
      ];
    }
    operation.type = definition.operation;
    operation.name = definition.name?.value;
    if (ctx.extra.anonymous && definition.operation !== OperationTypeNode.QUERY) {
      const names = rootFieldNames(prepared.document, definition);
      if (
        definition.operation === OperationTypeNode.MUTATION ||
        ![...names].every((name) => anonymousSubscriptions.has(name))
      ) {
        return [
          new GraphQLError(
            'A connection without a session may run queries and the public subscriptions (publicFeedUpdated, hashtagFeedUpdated, truthCountsChanged, userUpdated, trendsUpdated). Connect with a session token for anything else; sign in over HTTP.',
            { extensions: { code: ErrorCode.UNAUTHENTICATED, reason: 'missing' } },
          ),
        ];
      }
    }
    if (ctx.extra.waitlistOnly) {
      const allowed = waitlistOperations[definition.operation];
      const names = rootFieldNames(prepared.document, definition);
      if (![...names].every((name) => allowed.has(name))) {
        return [
          new GraphQLError(
            'A connection made with a waitlist ticket token may only run waitlistTicket and waitlistPosition. Connect with a session token for anything else.',
            { extensions: { code: ErrorCode.FORBIDDEN } },
          ),
        ];
      }
    }
    // Coerced here, as Apollo does over HTTP, so that a bad variable is a BAD_USER_INPUT
    // rather than a code-less execution error.
    const variables = getVariableValues(
      schema,
      definition.variableDefinitions ?? [],
      payload.variables ?? {},
      { maxErrors: 20 },
    );
    if (variables.errors) {
      return variables.errors.map(
        (error) =>
          new GraphQLError(error.message, {
            nodes: error.nodes ?? null,
            extensions: { code: ErrorCode.BAD_USER_INPUT },
          }),
      );
    }

    // Priced with the variables as sent, as over HTTP (graphql/cost.ts).
    const tooCostly = deps.cost.check(prepared.document, operationName, payload.variables);
    if (tooCostly) return [tooCostly];

    const viewer = ctx.extra.viewer ?? null;
    const refusal = await rateLimits?.check({
      document: prepared.document,
      operation: definition,
      variables: variables.coerced,
      viewer,
      address: ctx.extra.address,
    });
    if (refusal) return [toGraphQLError(refusal)];
    const contextValue = new OperationContext(viewer, services, operation, loaders);
    if (definition.operation === OperationTypeNode.SUBSCRIPTION) {
      // Timed, each subscription needs its own end of the socket; otherwise one per socket.
      const connection = clock
        ? new TimedLiveConnection(ctx.extra.socket, ctx.extra.stream, clock)
        : (ctx.extra.live ??= new SocketLiveConnection(ctx.extra.socket, ctx.extra.stream));
      liveTargets.set(contextValue, { connection, id, viewer });
    }
    return {
      schema,
      document: prepared.document,
      operationName,
      variableValues: payload.variables ?? null,
      contextValue,
    };
  }

  const adapter = serveGraphQLOverWs({
    server,
    wsServer,
    keepAliveMs: config.keepAliveMs,
    logger,
    extra: (socket, request) => ({
      socket,
      stream: request.socket,
      connectionId: connectionIds.get(request) ?? requestIdFrom(undefined),
      address: clientAddress(request, deps.trustedProxyHops),
    }),
  });

  return {
    /** Live delivery counters. */
    live: hub.metrics,
    /** Number of open WebSocket connections. */
    get connections() {
      return wsServer.clients.size;
    },
    /** Open connections by how they authenticated (`pending`: not yet). */
    sockets(): SocketCounts {
      const { session, anonymous, waitlist } = socketCounts;
      const pending = Math.max(0, wsServer.clients.size - session - anonymous - waitlist);
      return { session, anonymous, waitlist, pending };
    },
    /** Closes every connection with 1001 (going away) and stops accepting new ones. */
    dispose: () => adapter.dispose(),
  };
}
