import { describe, inject } from 'vitest';
import { createLogger } from '../../src/infra/logger.js';
import { createRedisClients, type RedisClients } from '../../src/infra/redis.js';

/**
 * The run's Redis as tests reach it: a single redis-server, or a Redis Cluster when the suite
 * runs with VERITY_TEST_REDIS=cluster (its `redisUrl` is then `redis-cluster://host:port,…`).
 */
export const onCluster = (url = inject('redisUrl')) => url.startsWith('redis-cluster:');

/**
 * `describe` for tests that run Verity on a redis-server of their own, never on the run's Redis:
 * the Redis Cluster pass would repeat them exactly, so they run in the first pass only.
 */
export const describeOnOwnRedis = (name: string, body: () => void) =>
  describe.skipIf(onCluster())(name, body);

/** The environment that points a Verity process at the run's Redis (for spawned processes). */
export function redisEnv(url = inject('redisUrl')): Record<string, string> {
  return onCluster(url)
    ? { REDIS_CLUSTER_NODES: url.slice('redis-cluster://'.length) }
    : { REDIS_URL: url };
}

/** Verity's own clients on the run's Redis, under `namespace`, for tests that use Redis directly. */
export function testRedisClients(namespace: string, url = inject('redisUrl')): RedisClients {
  return createRedisClients({
    url,
    namespace,
    logger: createLogger({ level: 'silent', name: 'test-redis' }),
  });
}

/** How many connections are subscribed to `channel` (sharded subscriptions on a cluster). */
export async function subscriberCount(redis: RedisClients, channel: string): Promise<number> {
  const counts = await Promise.all(
    redis.masters().map(async (master) => {
      const reply = (await master.call(
        'PUBSUB',
        redis.cluster ? 'SHARDNUMSUB' : 'NUMSUB',
        channel,
      )) as [string, number];
      return Number(reply[1]);
    }),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}
