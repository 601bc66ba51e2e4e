import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startRedisCluster,
  type EmbeddedRedisCluster,
} from '../src/infra/embedded/redis-cluster.js';
import { createLogger } from '../src/infra/logger.js';
import { waitFor } from './helpers/wait.js';

/**
 * The embedded Redis Cluster that cluster tests and benchmarks run on: six redis-servers on
 * loopback (three masters, a replica each), slots spread evenly, and a master's death taken
 * over by its replica with what was acknowledged before it.
 */
describe('embedded Redis Cluster', () => {
  let cluster: EmbeddedRedisCluster;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster({ logger: createLogger({ level: 'silent' }) });
    const [host, port] = cluster.nodeList.split(',')[0]!.split(':') as [string, string];
    client = new Cluster([{ host, port: Number(port) }], {
      clusterRetryStrategy: () => 200,
      redisOptions: { maxRetriesPerRequest: 2, connectTimeout: 1_000 },
    });
  }, 60_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('spreads keys over three masters, each with a replica in sync', async () => {
    expect(cluster.nodes).toHaveLength(6);
    await Promise.all(Array.from({ length: 300 }, (_, i) => client.set(`spread:${i}`, String(i))));
    const masters = client.nodes('master');
    expect(masters).toHaveLength(3);
    const sizes = await Promise.all(masters.map((node) => node.dbsize()));
    // 300 keys over three equal slot ranges: each master holds a fair share.
    for (const size of sizes) expect(size).toBeGreaterThan(60);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(300);
    const replicas = String(await client.cluster('NODES'))
      .trim()
      .split('\n')
      .filter((line) => line.includes(' slave ') && line.includes(' connected'));
    expect(replicas).toHaveLength(3);
  });

  it('fails a dead master over to its replica, which keeps every write acknowledged by it', async () => {
    const key = 'failover:{drill}';
    const slot = Number(await client.cluster('KEYSLOT', key));
    const master = await cluster.masterOf(slot);
    await client.set(key, 'before');
    // Acknowledged by the replica too before the master dies.
    const node = client
      .nodes('master')
      .find((candidate) => candidate.options.port === master.port)!;
    expect(await node.call('WAIT', '1', '2000')).toBe(1);

    await cluster.kill(master);
    const diedAt = Date.now();
    // Writes to the dead master's slots fail for a bounded time, then go to the new master.
    let written = false;
    while (!written) {
      try {
        await client.set(`${key}:after`, 'after');
        written = true;
      } catch {
        expect(Date.now() - diedAt).toBeLessThan(30_000);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    // The write went to the promoted replica; a node that had not heard of the failover by
    // gossip yet may still name the dead master for a moment.
    const promoted = await waitFor(async () => {
      const owner = await cluster.masterOf(slot);
      return owner.port === master.port ? null : owner;
    });
    expect(promoted.port).not.toBe(master.port);
    expect(await client.get(key)).toBe('before');
    expect(await client.get(`${key}:after`)).toBe('after');
    await cluster.healthy();
  }, 60_000);
});
