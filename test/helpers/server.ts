import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { createApp, type VerityApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/infra/logger.js';
import { deleteKeys } from '../../src/infra/redis.js';
import { createGraphQLClient, type GraphQLClient } from './graphql.js';
import { createWsClients, type WsClients } from './ws.js';

/** The secret every test instance shares, so a token from one is valid on all. */
export const testJwtSecret = 'verity-test-secret-0123456789-abcdefghijklmnop';

export interface TestServer extends GraphQLClient, WsClients {
  readonly app: VerityApp;
  readonly url: string;
  readonly wsUrl: string;
  readonly dbName: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Share a database (and Redis namespace) with other instances; a fresh one by default. */
  dbName?: string;
  /** Extra environment variables for this instance's config. */
  env?: Record<string, string>;
  /** Keep the database when stopping (another instance still uses it). */
  keepDatabase?: boolean;
  /** Another MongoDB or Redis than the run's (fault tests own theirs). */
  mongoUri?: string;
  redisUrl?: string;
  /** Emit MongoDB command events, to count round trips. */
  monitorCommands?: boolean;
  /** A logger of the test's own, to read what the instance logs; silent by default. */
  logger?: Logger;
  /** The clock trends read (ms); Date.now by default. */
  now?: () => number;
}

/** A unique database name for a test file or a group of instances. */
export const uniqueDbName = (label = 't') =>
  `${label.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;

/**
 * Starts a real Verity instance in this process, on a free port, against the run's MongoDB and
 * Redis, with its own database and Redis namespace unless `dbName` says otherwise.
 */
export async function startVerity(options: StartOptions = {}): Promise<TestServer> {
  const dbName = options.dbName ?? uniqueDbName();
  const config = loadConfig({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    MONGODB_DB: dbName,
    REDIS_NAMESPACE: `test:${dbName}`,
    JWT_SECRET: testJwtSecret,
    SHUTDOWN_TIMEOUT_MS: '2000',
    // Every query compiles at once, so the suite runs the compiled path (test/executor.test.ts
    // holds it to graphql-js's results).
    GRAPHQL_COMPILE_AFTER: '1',
    // Tests sign up thousands of accounts from one address; rate-limits.test.ts turns them on.
    RATE_LIMITS: 'false',
    ...options.env,
  });
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: 'verity-test' });
  const app = createApp({
    config,
    logger,
    mongoUri: options.mongoUri ?? inject('mongoUri'),
    redisUrl: options.redisUrl ?? inject('redisUrl'),
    jwtSecret: new TextEncoder().encode(testJwtSecret),
    monitorCommands: options.monitorCommands ?? false,
    ...(options.now ? { now: options.now } : {}),
  });
  const { url } = await app.start();
  const wsUrl = url.replace(/^http/, 'ws');
  const graphql = createGraphQLClient(url);
  const ws = createWsClients(wsUrl);

  let stopped = false;
  return {
    ...graphql,
    ...ws,
    app,
    url,
    wsUrl,
    dbName,
    async stop() {
      if (stopped) return;
      stopped = true;
      await ws.closeAll();
      if (!options.keepDatabase && app.state === 'started') {
        await app.internals.connection.dropDatabase().catch(() => undefined);
        await deleteKeys(app.internals.redis, `test:${dbName}:*`).catch(() => undefined);
      }
      await app.stop();
    },
  };
}

/**
 * One Verity instance for the enclosing `describe` (or file): started before its tests,
 * stopped (and its database dropped) after them.
 */
export function useVerity(options: StartOptions = {}): TestServer {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startVerity(options);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return new Proxy({} as TestServer, {
    get(_target, property) {
      if (!server) throw new Error('the Verity test server has not started yet');
      return Reflect.get(server, property) as unknown;
    },
  });
}

/**
 * `count` instances on one database for the enclosing `describe`, started before its tests;
 * the first owns the database and drops it, stopped last.
 */
export function useVerities(count: number, options: StartOptions = {}): TestServer[] {
  const dbName = options.dbName ?? uniqueDbName();
  const instances: TestServer[] = [];
  beforeAll(async () => {
    for (let i = 0; i < count; i++) {
      instances.push(await startVerity({ ...options, dbName, keepDatabase: i !== 0 }));
    }
  });
  afterAll(async () => {
    for (const instance of [...instances].reverse()) await instance.stop();
  });
  return instances;
}
