import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createApp, type VerityApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ensureFerretDBBinary, startFerretDB } from '../../src/infra/embedded/ferretdb.js';
import { startRedisCluster } from '../../src/infra/embedded/redis-cluster.js';
import { startRedisServer } from '../../src/infra/embedded/redis-server.js';
import { createLogger } from '../../src/infra/logger.js';
import { createRedisClients } from '../../src/infra/redis.js';

export const benchJwtSecret = 'verity-bench-secret-0123456789-abcdefghijklmnop';

/** What each Redis master held and did when a benchmark's stack stopped (see `startStack`). */
export interface MasterStats {
  node: string;
  keys: number;
  usedMemoryBytes: number;
  commands: number;
}

/**
 * Per-master figures of every stack stopped so far in this process, in order (the cluster
 * benchmark reads them); one entry per stack, one row per master.
 */
export const stoppedStacks: { redis: 'single' | 'cluster'; masters: MasterStats[] }[] = [];

/**
 * The embedded stack a benchmark runs on: its own FerretDB and redis-server (a Redis Cluster of
 * three masters and three replicas with BENCH_REDIS=cluster), torn down after.
 */
export interface Stack {
  mongoUri: string;
  redisUrl: string;
  /** Which Redis this stack runs on. */
  redisKind: 'single' | 'cluster';
  /** Starts a Verity instance (in this process) on the stack. */
  startVerity(
    env?: Record<string, string>,
    options?: { monitorCommands?: boolean },
  ): Promise<BenchServer>;
  stop(): Promise<void>;
}

export interface BenchServer {
  app: VerityApp;
  url: string;
  wsUrl: string;
  namespace: string;
  gql<T = any>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
  ): Promise<{ data?: T; errors?: unknown[] }>;
  stop(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const logger = createLogger({ level: process.env['BENCH_LOG_LEVEL'] ?? 'error', name: 'bench' });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'verity-bench-'));
  const binary = process.env['MONGODB_URI']
    ? null
    : await ensureFerretDBBinary({
        cacheDir: loadConfig({ ...process.env, JWT_SECRET: benchJwtSecret }).cacheDir,
        logger,
      });
  const ferretdb = binary
    ? await startFerretDB({ binary, dataDir: path.join(dir, 'db'), logger })
    : null;
  const redisKind = process.env['BENCH_REDIS'] === 'cluster' ? 'cluster' : 'single';
  const redis =
    redisKind === 'cluster'
      ? await startRedisCluster({ logger }).then((cluster) => ({
          url: `redis-cluster://${cluster.nodeList}`,
          stop: () => cluster.stop(),
        }))
      : await startRedisServer({ logger });
  const mongoUri = process.env['MONGODB_URI'] ?? ferretdb!.uri;
  const dbName = `bench_${randomBytes(4).toString('hex')}`;
  const servers: BenchServer[] = [];

  return {
    mongoUri,
    redisUrl: redis.url,
    redisKind,
    async startVerity(env = {}, options = {}) {
      const config = loadConfig({
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'error',
        MONGODB_DB: dbName,
        REDIS_NAMESPACE: dbName,
        JWT_SECRET: benchJwtSecret,
        GRAPHQL_IDE: 'false',
        SHUTDOWN_TIMEOUT_MS: '2000',
        // Load comes from one address at rates far past any person's.
        RATE_LIMITS: 'false',
        MEDIA_DIR: path.join(dir, 'media'),
        ...env,
      });
      const app = createApp({
        config,
        logger: createLogger({ level: config.logLevel, name: 'verity-bench' }),
        mongoUri,
        redisUrl: redis.url,
        jwtSecret: new TextEncoder().encode(benchJwtSecret),
        monitorCommands: options.monitorCommands ?? false,
      });
      const { url } = await app.start();
      const server: BenchServer = {
        app,
        url,
        wsUrl: url.replace(/^http/, 'ws'),
        namespace: dbName,
        async gql(query, variables, token) {
          const response = await fetch(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
            body: JSON.stringify({ query, variables }),
          });
          return (await response.json()) as { data?: any; errors?: unknown[] };
        },
        stop: () => app.stop(),
      };
      servers.push(server);
      return server;
    },
    async stop() {
      for (const server of servers) await server.stop().catch(() => undefined);
      stoppedStacks.push({
        redis: redisKind,
        masters: await masterStats(redis.url).catch(() => []),
      });
      await redis.stop();
      await ferretdb?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Signs up a user through the API and returns its session token. */
export async function signUp(
  server: BenchServer,
  username: string,
): Promise<{ token: string; id: string }> {
  const result = await server.gql<{ signUp: { token: string; user: { id: string } } }>(
    'mutation($i: SignUpInput!) { signUp(input: $i) { ... on Session { token user { id } } } }',
    { i: { username, email: `${username}@bench.example`, password: 'benchmark passphrase 42' } },
  );
  if (!result.data) throw new Error(`sign-up failed: ${JSON.stringify(result.errors)}`);
  return { token: result.data.signUp.token, id: result.data.signUp.user.id };
}

/** Keys, memory and commands served of each master behind `url`. */
async function masterStats(url: string): Promise<MasterStats[]> {
  const clients = createRedisClients({
    url,
    namespace: 'bench-stats',
    logger: createLogger({ level: 'silent', name: 'bench-stats' }),
  });
  try {
    // Connected (and, on a cluster, its masters known) once a command has been answered.
    await clients.command.ping();
    const field = (info: string, name: string) =>
      Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    return await Promise.all(
      clients.masters().map(async (master) => {
        const info = await master.info();
        return {
          node: `${master.options.host}:${master.options.port}`,
          keys: await master.dbsize(),
          usedMemoryBytes: field(info, 'used_memory'),
          commands: field(info, 'total_commands_processed'),
        };
      }),
    );
  } finally {
    await clients.quit();
  }
}
