import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.js';
import { ensureFerretDBBinary, startFerretDB } from '../../src/infra/embedded/ferretdb.js';
import { startRedisCluster } from '../../src/infra/embedded/redis-cluster.js';
import { startRedisServer } from '../../src/infra/embedded/redis-server.js';
import { createLogger } from '../../src/infra/logger.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The MongoDB every test file uses (its own database in it): FerretDB, or MONGODB_URI. */
    mongoUri: string;
    /**
     * The Redis every test file uses (its own namespace in it): a redis-server owned by this
     * run, or with VERITY_TEST_REDIS=cluster a Redis Cluster of six (`redis-cluster://…`).
     */
    redisUrl: string;
    /** The embedded MongoDB binary, for tests that start their own. */
    ferretdbBinary: string;
  }
}

/**
 * One FerretDB (unless MONGODB_URI points at a real MongoDB) and one redis-server for the whole
 * run, on free ports, with temporary data; each test file isolates itself with its own database
 * name and Redis namespace.
 */
export default async function setup(project: TestProject) {
  const logger = createLogger({
    level: process.env['TEST_LOG_LEVEL'] ?? 'warn',
    name: 'test-setup',
  });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'verity-test-'));
  const ferretdbBinary = await ensureFerretDBBinary({ cacheDir: loadConfig().cacheDir, logger });

  const externalMongo = process.env['MONGODB_URI'];
  const ferretdb = externalMongo
    ? undefined
    : await startFerretDB({ binary: ferretdbBinary, dataDir: path.join(tmp, 'ferretdb'), logger });
  const redis =
    process.env['VERITY_TEST_REDIS'] === 'cluster'
      ? await startRedisCluster({ logger }).then((cluster) => ({
          url: `redis-cluster://${cluster.nodeList}`,
          stop: () => cluster.stop(),
        }))
      : await startRedisServer({ logger });

  project.provide('mongoUri', externalMongo ?? ferretdb!.uri);
  project.provide('redisUrl', redis.url);
  project.provide('ferretdbBinary', ferretdbBinary);

  return async () => {
    await redis.stop();
    await ferretdb?.stop();
    await rm(tmp, { recursive: true, force: true });
  };
}
