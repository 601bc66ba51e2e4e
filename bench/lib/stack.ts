import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { VerityApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ensureFerretDBBinary, startFerretDB } from '../../src/infra/embedded/ferretdb.js';
import { startRedisCluster } from '../../src/infra/embedded/redis-cluster.js';
import { startRedisServer } from '../../src/infra/embedded/redis-server.js';
import { createLogger } from '../../src/infra/logger.js';
import { createRedisClients } from '../../src/infra/redis.js';
import { createBenchApp, type BenchAppOptions, type ProcessWork } from './bench-app.js';
import { serverExecArgv } from './ws-load.js';

const serverScript = fileURLToPath(new URL('./verity-server.ts', import.meta.url));

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
  /**
   * Starts a Verity instance in a process of its own (bench/lib/verity-server.ts), as an
   * operator runs it: its heap holds only what it serves.
   */
  startVerityProcess(env?: Record<string, string>): Promise<VerityProcess>;
  /**
   * Copies everything the stack holds into the directory `into` (which must not exist), for
   * `startStack({ from: into })` to start again from: its MongoDB stopped and started again
   * on the same address around the copy, its Redis saved. Only with no instance running on
   * it, and on the embedded single Redis only.
   */
  keep(into: string): Promise<void>;
  stop(): Promise<void>;
}

/** A Verity instance in its own process. */
export interface VerityProcess {
  url: string;
  /** What the process has done since it started. */
  work(): Promise<ProcessWork>;
  stop(): Promise<void>;
}

export interface BenchServer {
  app: VerityApp;
  /** The MongoDB the instance runs on (its database is `namespace`). */
  mongoUri: string;
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

/** What a kept stack's directory holds besides its data: see `Stack.keep`. */
const keptStackFile = 'stack.json';

/**
 * Starts a stack: an empty one, or (`from`) one holding what `Stack.keep` copied into that
 * directory, copied again so that the kept one stays as it was.
 */
export async function startStack(options: { from?: string } = {}): Promise<Stack> {
  const logger = createLogger({ level: process.env['BENCH_LOG_LEVEL'] ?? 'error', name: 'bench' });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'verity-bench-'));
  const redisKind = process.env['BENCH_REDIS'] === 'cluster' ? 'cluster' : 'single';
  const embedded = !process.env['MONGODB_URI'] && redisKind === 'single';
  let dbName = `bench_${randomBytes(4).toString('hex')}`;
  const restored = options.from !== undefined;
  if (options.from) {
    if (!embedded) throw new Error('a kept stack runs on the embedded MongoDB and single Redis');
    await cp(options.from, dir, { recursive: true });
    ({ dbName } = JSON.parse(await readFile(path.join(dir, keptStackFile), 'utf8')) as {
      dbName: string;
    });
  }
  const binary = process.env['MONGODB_URI']
    ? null
    : await ensureFerretDBBinary({
        cacheDir: loadConfig({ ...process.env, JWT_SECRET: benchJwtSecret }).cacheDir,
        logger,
      });
  const dataDir = path.join(dir, 'db');
  let ferretdb = binary ? await startFerretDB({ binary, dataDir, logger }) : null;
  const redis =
    redisKind === 'cluster'
      ? await startRedisCluster({ logger }).then((cluster) => ({
          url: `redis-cluster://${cluster.nodeList}`,
          stop: () => cluster.stop(),
        }))
      : // Its directory is the stack's: `keep` saves the dataset there, and a kept one is
        // loaded from there at start (minutes for a launch-size network's gigabytes).
        await startRedisServer({
          logger,
          args: () => ['--dir', dir],
          readyTimeoutMs: 30 * 60_000,
        });
  const mongoUri = process.env['MONGODB_URI'] ?? ferretdb!.uri;
  const servers: BenchServer[] = [];
  const processes: VerityProcess[] = [];

  return {
    mongoUri,
    redisUrl: redis.url,
    redisKind,
    async startVerity(env = {}, options = {}) {
      const app = createBenchApp({
        env: { ...instanceEnv(dbName, dir, restored), ...env },
        mongoUri,
        redisUrl: redis.url,
        monitorCommands: options.monitorCommands ?? false,
      });
      const { url } = await app.start();
      const server: BenchServer = {
        app,
        mongoUri,
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
    async startVerityProcess(env = {}) {
      const profileDir = process.env['BENCH_PROFILE'];
      // BENCH_SERVER_FLAGS: Node or V8 flags for the serving process alone (say, a collector
      // setting), so that one can be measured without touching the bench's and load clients'.
      const extraFlags = process.env['BENCH_SERVER_FLAGS']?.split(/\s+/).filter(Boolean) ?? [];
      // BENCH_SERVER_ENV="NAME=value …": settings of the serving process alone, over the
      // bench's (say, NEAR_CACHE_ENTRIES=0), so that one can be measured on kept networks.
      const extraEnv = Object.fromEntries(
        (process.env['BENCH_SERVER_ENV']?.split(/\s+/).filter(Boolean) ?? []).map((pair) => {
          const at = pair.indexOf('=');
          if (at < 1) throw new Error(`BENCH_SERVER_ENV: "${pair}" is not NAME=value`);
          return [pair.slice(0, at), pair.slice(at + 1)];
        }),
      );
      const child = fork(serverScript, [], {
        execArgv: [
          ...serverExecArgv,
          ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
          ...extraFlags,
        ],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
      const replies = new Map<number, (value: unknown) => void>();
      let next = 0;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.on('message', (message: { id: number; value: unknown }) => {
        replies.get(message.id)?.(message.value);
        replies.delete(message.id);
      });
      const ask = <T>(type: string, extra: Record<string, unknown> = {}) =>
        new Promise<T>((resolve, reject) => {
          const id = next++;
          replies.set(id, resolve as (value: unknown) => void);
          child.send({ id, type, ...extra });
          void exited.then(() => reject(new Error('the Verity process exited')));
        });
      const url = await ask<string>('start', {
        options: {
          env: { ...instanceEnv(dbName, dir, restored), ...env, ...extraEnv },
          mongoUri,
          redisUrl: redis.url,
          monitorCommands: true,
        } satisfies BenchAppOptions,
      });
      const instance: VerityProcess = {
        url,
        work: () => ask<ProcessWork>('work'),
        async stop() {
          if (child.exitCode !== null) return;
          await ask('stop').catch(() => undefined);
          await exited;
        },
      };
      processes.push(instance);
      return instance;
    },
    async keep(into) {
      if (!embedded || !binary || !ferretdb) {
        throw new Error('only a stack on the embedded MongoDB and single Redis can be kept');
      }
      // A client of its own, without Verity's command timeout: SAVE writes gigabytes.
      const client = new Redis(redis.url);
      try {
        await client.save();
      } finally {
        await client.quit();
      }
      // The database files are copied while nothing has them open.
      const { port } = ferretdb;
      await ferretdb.stop();
      await writeFile(path.join(dir, keptStackFile), JSON.stringify({ dbName }));
      await cp(dir, into, { recursive: true, errorOnExist: true, force: false });
      ferretdb = await startFerretDB({ binary, dataDir, logger, port });
    },
    async stop() {
      for (const instance of processes) await instance.stop().catch(() => undefined);
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

/**
 * The settings of a bench instance on database `dbName` (files under `dir`); `restored` when
 * its Redis was started from a kept dataset.
 */
const instanceEnv = (dbName: string, dir: string, restored: boolean): Record<string, string> => ({
  // A kept dataset was saved with no instance running, so it holds every fact MongoDB holds:
  // the read model is complete on the restarted Redis (its new run id would otherwise make the
  // first instance rebuild it from MongoDB).
  ...(restored ? { REDIS_DURABLE: 'true' } : {}),
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
});

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
