import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { OperationTypeNode, type DocumentNode } from 'graphql';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import type { Connection } from 'mongoose';
import type { Config } from './config.js';
import type { GraphQLContext } from './graphql/context.js';
import { createCostLimit } from './graphql/cost.js';
import { createDocumentCache } from './graphql/document-cache.js';
import { limitRules, noIntrospectionRule } from './graphql/limits.js';
import type { LiveHub } from './graphql/live/live-hub.js';
import { createCompiledExecutionGateway, createExecutor } from './graphql/executor.js';
import { createRateLimits, type RateLimitBucket } from './graphql/rate-limits.js';
import { createSchema } from './graphql/schema.js';
import type { Logger } from './infra/logger.js';
import { createMetrics, serveMetrics, type Metrics } from './infra/metrics.js';
import { connectMongo, pingMongo } from './infra/mongo.js';
import { createEventBus } from './infra/pubsub.js';
import { createRedisClients, pingRedis, type RedisClients } from './infra/redis.js';
import { createRateLimiter, type RateLimiter } from './infra/rate-limiter.js';
import { createReadModel, type ReadModel } from './infra/read-model.js';
import { createTokenService } from './modules/auth/index.js';
import { createMediaStorage } from './modules/media/index.js';
import {
  createLoaderFactory,
  createModels,
  createServices,
  ensureIndexes,
  type AppEventBus,
  type AppTopics,
  type Models,
  type Services,
} from './modules/index.js';
import {
  createHttpApp,
  formatHttpError,
  httpRequestPlugin,
  type Readiness,
} from './transport/http.js';
import { attachWebSocketTransport } from './transport/ws.js';

export interface AppOptions {
  config: Config;
  logger: Logger;
  /** MongoDB to use (the embedded FerretDB's, or `MONGODB_URI`). */
  mongoUri: string;
  /** Redis to use (a local or started redis-server, or `REDIS_URL`). */
  redisUrl: string;
  /** HS256 secret shared by every instance. */
  jwtSecret: Uint8Array;
  /** Emit MongoDB command events on `internals.connection.getClient()` (diagnostics, tests). */
  monitorCommands?: boolean;
  /** The clock trends read (ms); Date.now by default (tests move it). */
  now?: () => number;
}

/**
 * The lifecycle, in order: `created` → `starting` → `started` → `stopping` → `stopped`.
 * `start` may be called once; `stop` at any time after, and more than once.
 */
export type AppState = 'created' | 'starting' | 'started' | 'stopping' | 'stopped';

/** A running Verity instance; tests use `internals` to look behind the public surface. */
export interface VerityApp {
  readonly state: AppState;
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
  readonly internals: {
    readonly connection: Connection;
    readonly redis: RedisClients;
    readonly models: Models;
    readonly services: Services;
    /** The read model (infra/read-model.ts). */
    readonly model: ReadModel;
    readonly bus: AppEventBus;
    readonly httpServer: Server;
    /** Live delivery counters: executions, deliveries, slow consumers cut off, subscribers. */
    readonly live: LiveHub['metrics'];
    /** Where Prometheus scrapes this instance (`METRICS_PORT`); undefined when metrics are off. */
    readonly metricsUrl: string | undefined;
    /** The rate limits' counters (RATE_LIMITS); undefined when they are off. */
    readonly rateLimiter: RateLimiter<RateLimitBucket> | undefined;
  };
}

const graphqlPath = '/graphql';

async function waitForRedis(redis: RedisClients, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pingRedis(redis.command, 1_000))) {
    if (Date.now() > deadline) throw new Error(`Redis did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Waits until the subscriber connection is up (on a cluster: one per master, every slot's
 * channel subscribed), so that an instance does not serve before its live feeds and
 * in-process copies work; after `timeoutMs` it goes on (they catch up once it is).
 */
async function waitForSubscriber(redis: RedisClients, timeoutMs: number): Promise<boolean> {
  if (redis.subscriber.status === 'ready') return true;
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  try {
    return await new Promise<boolean>((resolve) => {
      onReady = () => resolve(true);
      redis.subscriber.once('ready', onReady);
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
  } finally {
    clearTimeout(timer);
    if (onReady) redis.subscriber.off('ready', onReady);
  }
}

/**
 * Builds one Verity instance: stateless, so any number can run against the same MongoDB and
 * Redis. It owns its connections: `start` opens them and creates indexes before listening,
 * `stop` drains HTTP and WebSocket clients, then closes them.
 */
export function createApp(options: AppOptions): VerityApp {
  const { config, logger } = options;
  let state: AppState = 'created';
  let internals: VerityApp['internals'] | undefined;
  let apollo: ApolloServer<GraphQLContext> | undefined;
  let model: ReadModel | undefined;
  let rateLimiter: RateLimiter<RateLimitBucket> | undefined;
  let metricsServer: Server | undefined;
  let stopping: Promise<void> | undefined;
  // Made with the app, so that every part started below reports to it; undefined when off.
  const metrics: Metrics | undefined = config.metrics ? createMetrics() : undefined;

  const readiness = async (): Promise<Readiness> => {
    if (!internals || state !== 'started') return { ready: false, checks: { state } };
    const [mongo, redis] = await Promise.all([
      pingMongo(internals.connection),
      pingRedis(internals.redis.command),
    ]);
    return { ready: mongo && redis, checks: { state, mongo, redis } };
  };

  return {
    get state() {
      return state;
    },

    get internals() {
      if (!internals) throw new Error('the app has not started');
      return internals;
    },

    async start() {
      if (state !== 'created') throw new Error(`cannot start an app that is ${state}`);
      state = 'starting';

      const connection = await connectMongo({
        uri: options.mongoUri,
        dbName: config.mongo.dbName,
        logger,
        monitorCommands: options.monitorCommands ?? false,
      });
      const redis = createRedisClients({
        url: options.redisUrl,
        namespace: config.redis.namespace,
        logger,
      });
      try {
        await waitForRedis(redis, 10_000);
        if (!(await waitForSubscriber(redis, 10_000))) {
          logger.warn('the Redis subscriber is not connected yet; starting without it');
        }
        const models = createModels(connection);
        await ensureIndexes(models);

        // One key per user: a post to N followers is N/500 route messages, not N; and every
        // instance hears of ended sessions on one channel.
        const bus = createEventBus<AppTopics>({
          redis,
          logger,
          addressed: ['homeFeed', 'sessionsRevoked'],
        });
        const tokens = createTokenService({ secret: options.jwtSecret });
        model = createReadModel({
          redis,
          logger: logger.child({ component: 'read-model' }),
          durable: config.redis.durable,
          nearCacheEntries: config.redis.nearCacheEntries,
        });
        const services = createServices({
          models,
          model,
          redis,
          bus,
          tokens,
          sessionTtlSeconds: config.auth.sessionTtlSeconds,
          whaleFollowerThreshold: config.feeds.whaleFollowerThreshold,
          truthEditWindowSeconds: config.truths.editWindowSeconds,
          adminUsernames: config.adminUsernames,
          moderatorUsernames: config.moderatorUsernames,
          publicUrl: config.publicUrl,
          media: {
            storage: createMediaStorage(config.media.store),
            maxImageBytes: config.media.maxImageBytes,
            maxVideoBytes: config.media.maxVideoBytes,
            uploadTtlSeconds: config.media.uploadTtlSeconds,
            unattachedTtlSeconds: config.media.unattachedTtlSeconds,
            baseUrl: config.media.publicUrl ?? `${config.publicUrl}/media`,
          },
          waitlist: config.waitlist,
          trends: config.trends,
          ...(options.now ? { now: options.now } : {}),
          logger,
        });
        const loaders = createLoaderFactory(services);
        // Every family is registered: complete the read model (rebuilding it from MongoDB if
        // Redis lost it) before serving a request.
        model.start();
        await model.ensure({ wait: 'start' });

        const schema = createSchema();
        const rules = limitRules(config.graphql);
        const cost = createCostLimit({ schema, maxCost: config.graphql.maxCost });
        if (config.rateLimits.enabled) {
          rateLimiter = await createRateLimiter({
            redis,
            namespace: config.redis.namespace,
            limits: config.rateLimits.buckets,
            fallbackMaxKeys: config.rateLimits.fallbackMaxKeys,
            logger: logger.child({ component: 'rate-limits' }),
          });
        }
        const rateLimits =
          rateLimiter && createRateLimits({ schema, limiter: rateLimiter, metrics });
        // Each transport keeps its own compiled operations (see graphql/executor.ts).
        const compilation = { compileAfter: config.graphql.compileAfter, maxCompiled: 1_000 };
        const httpServer = createServer({
          // A client has this long for its headers and three times as long for its whole
          // request: sockets that trickle bytes (slowloris) are answered 408 and closed, checked
          // every second rather than node's default thirty.
          headersTimeout: config.http.headersTimeoutMs,
          requestTimeout: 3 * config.http.headersTimeoutMs,
          connectionsCheckingInterval: 1_000,
        });
        const ws = attachWebSocketTransport({
          httpServer,
          path: graphqlPath,
          schema,
          documents: createDocumentCache({
            schema,
            // Apollo's `introspection` option below covers HTTP only.
            rules: config.graphql.introspection ? rules : [...rules, noIntrospectionRule],
            maxTokens: config.graphql.maxTokens,
            maxSourceBytes: config.graphql.documentCacheBytes,
          }),
          // Subscription events execute again and again: they compile like hot HTTP queries.
          execute: createExecutor(schema, {
            ...compilation,
            compiles: [OperationTypeNode.SUBSCRIPTION],
          }),
          loaders,
          services,
          config: config.ws,
          cost,
          suggestions: config.graphql.suggestions,
          trustedProxyHops: config.http.trustedProxyHops,
          rateLimits,
          metrics,
          logger: logger.child({ transport: 'ws' }),
          requestTimeoutMs: config.requestTimeoutMs,
        });

        apollo = new ApolloServer<GraphQLContext>({
          gateway: createCompiledExecutionGateway(schema, compilation),
          introspection: config.graphql.introspection,
          includeStacktraceInErrorResponses: false,
          validationRules: rules,
          // Parsed and validated documents, bounded like the WebSocket transport's cache.
          documentStore: new InMemoryLRUCache<DocumentNode>({
            maxSize: config.graphql.documentCacheBytes,
          }),
          parseOptions: { maxTokens: config.graphql.maxTokens },
          formatError: formatHttpError({
            metrics,
            logger,
            suggestions: config.graphql.suggestions,
          }),
          logger: logger.child({ component: 'apollo' }),
          plugins: [
            ApolloServerPluginLandingPageDisabled(),
            httpRequestPlugin({ metrics, cost, rateLimits }),
            // Verity sets no cache hints; the plugin would otherwise wrap every field resolver.
            ApolloServerPluginCacheControlDisabled(),
            ApolloServerPluginDrainHttpServer({
              httpServer,
              stopGracePeriodMillis: config.shutdownTimeoutMs,
            }),
            { serverWillStart: () => Promise.resolve({ drainServer: () => ws.dispose() }) },
          ],
        });
        await apollo.start();

        httpServer.on(
          'request',
          createHttpApp({
            apollo,
            path: graphqlPath,
            loaders,
            services,
            config,
            readiness,
            metrics,
            logger: logger.child({ transport: 'http' }),
          }),
        );
        await new Promise<void>((resolve, reject) => {
          httpServer.once('error', reject);
          httpServer.listen(config.port, config.host, () => {
            httpServer.off('error', reject);
            resolve();
          });
        });

        let metricsUrl: string | undefined;
        if (metrics && config.metrics) {
          metrics.watch({
            sockets: () => ws.sockets(),
            live: () => ws.live,
            waitlistSubscribers: () => services.waitlist.watchers.size,
            waitlist: () => services.waitlist.stats(),
            pingMongo: () => pingMongo(connection),
            pingRedis: () => pingRedis(redis.command),
            rateLimitsInProcess: () => rateLimiter?.inProcess ?? false,
          });
          const served = await serveMetrics({
            metrics,
            host: config.metrics.host,
            port: config.metrics.port,
            logger,
          });
          metricsServer = served.server;
          metricsUrl = served.url;
          logger.info({ url: metricsUrl }, 'metrics are served');
        }

        internals = {
          connection,
          redis,
          models,
          services,
          model,
          bus,
          httpServer,
          live: ws.live,
          metricsUrl,
          rateLimiter,
        };
        services.waitlist.start();
        services.effects.start();
        services.media.start();
        services.discover.start();
        state = 'started';
        const { port } = httpServer.address() as AddressInfo;
        const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
        const url = `http://${host}:${port}${graphqlPath}`;
        logger.info({ url }, 'Verity is listening');
        return { url, port };
      } catch (error) {
        state = 'stopped';
        metricsServer?.close();
        metricsServer?.closeAllConnections();
        await apollo?.stop().catch(() => undefined);
        await rateLimiter?.close();
        await redis.quit();
        await connection.close();
        throw error;
      }
    },

    stop() {
      stopping ??= (async () => {
        if (state === 'created') {
          state = 'stopped';
          return;
        }
        state = 'stopping';
        logger.info('stopping: draining HTTP requests and WebSocket connections');
        // Apollo's stop runs the drain hooks: the HTTP server stops accepting and waits for
        // in-flight requests (up to SHUTDOWN_TIMEOUT_MS), and every WebSocket gets 1001.
        internals?.services.waitlist.stop();
        internals?.services.effects.stop();
        internals?.services.media.stop();
        internals?.services.discover.stop();
        model?.stop();
        await apollo?.stop();
        metricsServer?.close();
        metricsServer?.closeAllConnections();
        if (internals) {
          internals.services.whales.close();
          internals.bus.close();
          await rateLimiter?.close();
          await internals.redis.quit();
          await internals.connection.close();
        }
        state = 'stopped';
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}
