import { Redis } from 'ioredis';
import {
  buildBackgroundNetwork,
  describeSizes,
  fmt,
  measureSize,
  printSize,
} from './lib/network.js';
import { redisFootprint } from './lib/redis-footprint.js';
import type { Row, Scenario } from './lib/report.js';
import { startStack } from './lib/stack.js';

/** Families smaller than this share of Redis's memory are summed into one row. */
const smallFamilyShare = 0.005;

/**
 * The inputs of the capacity plan (docs/capacity.md): what each account, follow, truth,
 * timeline entry, reaction and waiting person costs in Redis and MongoDB, measured on the
 * background network (BENCH_NETWORK_* sizes) as Verity's own services build it.
 * - Redis: the growth of used memory over each build step, per call; then every key by family
 *   (ids taken out of the names) with its elements and bytes, so that a cost per element
 *   (a timeline entry, a follower) can be read off.
 * - MongoDB: bytes per document of each collection (collStats).
 * Memory figures do not depend on the machine's load, unlike the latency scenarios.
 */
export const capacityScenario: Scenario = {
  name: 'capacity',
  description: 'Redis and MongoDB bytes per account, follow, truth, timeline entry and reaction',
  async run() {
    const stack = await startStack();
    const rows: Row[] = [];
    try {
      const network = await buildBackgroundNetwork(stack);
      const server = await stack.startVerity();
      const size = await measureSize(server);
      printSize('measured', size);
      rows.push({
        metric: 'network measured',
        value: network.sizes.accounts,
        unit: 'accounts',
        note: describeSizes(network.sizes),
      });
      for (const step of network.build)
        rows.push({
          metric: `Redis memory per call: ${step.step}`,
          value: step.redisBytesPerCall,
          unit: 'B',
          note: `${fmt(step.count)} calls; growth of used_memory over the step`,
        });
      for (const [name, { count, bytes }] of Object.entries(size.collections)) {
        if (count === 0) continue;
        rows.push({
          metric: `MongoDB bytes per document: ${name}`,
          value: bytes / count,
          unit: 'B',
          note: `${fmt(count)} documents (collStats size, indexes not included)`,
        });
      }
      rows.push({
        metric: 'MongoDB size (collections and indexes)',
        value: size.mongoBytes / 2 ** 20,
        unit: 'MiB',
      });

      const redis = new Redis(stack.redisUrl);
      try {
        const families = await redisFootprint(redis, server.namespace);
        const total = families.reduce((sum, family) => sum + family.bytes, 0);
        rows.push({
          metric: 'Redis: bytes of every key (MEMORY USAGE, summed)',
          value: total / 2 ** 20,
          unit: 'MiB',
          note: `${fmt(families.reduce((sum, family) => sum + family.keys, 0))} keys in ${families.length} families; used_memory ${size.redisMemory}`,
        });
        let rest = { keys: 0, bytes: 0, families: 0 };
        for (const family of families) {
          if (family.bytes < total * smallFamilyShare) {
            rest = {
              keys: rest.keys + family.keys,
              bytes: rest.bytes + family.bytes,
              families: rest.families + 1,
            };
            continue;
          }
          rows.push({
            metric: `Redis family ${family.family} (${family.type})`,
            value: family.bytes / 2 ** 20,
            unit: 'MiB',
            note:
              `${fmt(family.keys)} keys, ${fmt(family.elements)} elements, ` +
              `${fmt(family.bytes / family.keys)} B per key, ` +
              `${fmt(family.bytes / Math.max(1, family.elements))} B per element; ` +
              `largest ${fmt(family.largest.bytes)} B (${fmt(family.largest.elements)} elements)`,
          });
        }
        rows.push({
          metric: `Redis: the ${rest.families} smaller families`,
          value: rest.bytes / 2 ** 20,
          unit: 'MiB',
          note: `${fmt(rest.keys)} keys`,
        });
      } finally {
        redis.disconnect();
      }
      await server.stop();
    } finally {
      await stack.stop();
    }
    return rows;
  },
};
