/**
 * `npm run bench db-writes`: do concurrent writers to the embedded MongoDB take turns?
 *
 * SQLite, under the embedded FerretDB, lets one connection write at a time. Verity builds
 * FerretDB with its writes queued on a mutex per database (tools/ferretdb/_overlay/), so
 * that a writer waits for the writers ahead of it and no longer: with 32 in flight, a write
 * should wait for at most 31 others. This bench preloads a collection (truth-sized documents)
 * and measures single-document inserts one at a time and 32 at a time.
 *
 * Baselines, from the same run: the serial insert rate (concurrency 1), the floor of a store
 * with one writer at a time; for the latencies at 32, the time of 32 serial inserts (32 over
 * the serial rate), the wait of the last of 32 in a fair queue.
 *
 * Sizes from the environment:
 *   BENCH_DB_WRITES_DOCUMENTS   documents in the collection before measuring (1,000,000)
 *   BENCH_DB_WRITES_INSERTS     inserts per round (2,000)
 *   BENCH_DB_WRITES_ROUNDS      rounds at each concurrency, alternating (3)
 * With MONGODB_URI set it measures that server instead, in a database of its own, dropped after;
 * with FERRETDB_BIN, that FerretDB binary instead of Verity's build (a released FerretDB, say).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { loadConfig } from '../src/config.js';
import { ensureFerretDBBinary, startFerretDB } from '../src/infra/embedded/ferretdb.js';
import { createLogger } from '../src/infra/logger.js';
import { fmt, mib } from './lib/network.js';
import { benchJwtSecret } from './lib/stack.js';
import type { Row, Scenario } from './lib/report.js';
import { median, quantile, sizeFromEnv } from './lib/stats.js';

const { ObjectId } = mongoose.Types;
const fanIn = 32;

/** About a stored truth: ids, 200 characters of text, a hashtag, dates. */
const truthLike = () => ({
  _id: new ObjectId(),
  authorId: new ObjectId(),
  kind: 'post',
  text: `${'launch day '.repeat(18)}${Math.random()}`,
  hashtags: ['launch'],
  mentionIds: [],
  replyToId: null,
  ancestorIds: [],
  createdAt: new Date(),
  deletedAt: null,
});

interface Round {
  latencies: number[];
  perSecond: number;
}

async function insertRound(
  collection: mongoose.mongo.Collection,
  count: number,
  concurrency: number,
): Promise<Round> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        const sent = performance.now();
        await collection.insertOne(truthLike());
        latencies.push(performance.now() - sent);
      }
    }),
  );
  return { latencies, perSecond: count / ((performance.now() - started) / 1000) };
}

export const dbWritesScenario: Scenario = {
  name: 'db-writes',
  description: `single-document inserts into the embedded MongoDB, 1 and ${fanIn} at a time`,
  async run() {
    const documents = sizeFromEnv('BENCH_DB_WRITES_DOCUMENTS', 1_000_000);
    const inserts = sizeFromEnv('BENCH_DB_WRITES_INSERTS', 2_000);
    const rounds = sizeFromEnv('BENCH_DB_WRITES_ROUNDS', 3);
    const logger = createLogger({ level: 'error', name: 'bench' });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'verity-db-writes-'));
    const external = process.env['MONGODB_URI'];
    const config = loadConfig({ ...process.env, JWT_SECRET: benchJwtSecret });
    const server = external
      ? 'MONGODB_URI'
      : config.mongo.ferretdbBin
        ? `FERRETDB_BIN ${config.mongo.ferretdbBin}`
        : 'embedded FerretDB (SQLite)';
    const ferretdb = external
      ? null
      : await startFerretDB({
          binary:
            config.mongo.ferretdbBin ??
            (await ensureFerretDBBinary({ cacheDir: config.cacheDir, logger })),
          dataDir: dir,
          logger,
        });
    const connection = await mongoose
      .createConnection(external ?? ferretdb!.uri, {
        dbName: `verity-bench-writes-${process.pid}`,
        maxPoolSize: 2 * fanIn,
      })
      .asPromise();
    try {
      const collection = connection.db!.collection('truths');
      const loadStarted = performance.now();
      for (let loaded = 0; loaded < documents; loaded += 1_000) {
        const batch = Array.from({ length: Math.min(1_000, documents - loaded) }, truthLike);
        await collection.insertMany(batch, { ordered: false });
      }
      const loadSeconds = (performance.now() - loadStarted) / 1000;
      console.log(`  preloaded ${fmt(documents)} documents in ${loadSeconds.toFixed(1)} s`);

      const serial: Round[] = [];
      const crowd: Round[] = [];
      for (let round = 0; round < rounds; round++) {
        for (const concurrency of round % 2 === 0 ? [1, fanIn] : [fanIn, 1]) {
          const result = await insertRound(collection, inserts, concurrency);
          (concurrency === 1 ? serial : crowd).push(result);
          const q = (p: number) => quantile(result.latencies, p).toFixed(1);
          console.log(
            `  round ${round + 1}, concurrency ${concurrency}: ${fmt(result.perSecond)}/s, ` +
              `p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, slowest ${q(1)} ms`,
          );
        }
      }
      const stats = (await connection.db!.command({ dbStats: 1 })) as { dataSize?: number };
      const count = await collection.estimatedDocumentCount();
      const size = `${fmt(count)} documents, ${mib(Number(stats.dataSize ?? 0))}`;
      console.log(`  database: ${size}`);

      // Each figure: the median over rounds of that round's figure.
      const of = (rs: Round[], pick: (r: Round) => number) => median(rs.map(pick));
      const serialRate = of(serial, (r) => r.perSecond);
      const fairWait = (fanIn / serialRate) * 1000;
      const perRound = `${inserts} inserts a round, median of ${rounds} rounds`;
      return [
        {
          metric: 'database measured',
          value: count,
          unit: 'documents',
          note: `${size}; ${server}`,
        },
        {
          metric: `inserts/s at concurrency ${fanIn}`,
          value: of(crowd, (r) => r.perSecond),
          unit: '/s',
          baseline: 'one at a time',
          baselineValue: serialRate,
          note: `one writer at a time underneath: ≥ 1× the serial rate; ${perRound}`,
        },
        {
          metric: `insert p50 at concurrency ${fanIn}`,
          value: of(crowd, (r) => quantile(r.latencies, 0.5)),
          unit: 'ms',
          baseline: `${fanIn} serial inserts`,
          baselineValue: fairWait,
          note: `each of ${fanIn} writers in turn waits for the other ${fanIn - 1}: about 1×`,
        },
        {
          metric: `insert p99 at concurrency ${fanIn}`,
          value: of(crowd, (r) => quantile(r.latencies, 0.99)),
          unit: 'ms',
          baseline: `${fanIn} serial inserts`,
          baselineValue: fairWait,
          note: `in turn, no write waits behind more than ${fanIn - 1} others: near 1×`,
        },
        {
          metric: `slowest insert at concurrency ${fanIn}`,
          value: of(crowd, (r) => quantile(r.latencies, 1)),
          unit: 'ms',
          baseline: `${fanIn} serial inserts`,
          baselineValue: fairWait,
          note: 'the worst wait of a round: a checkpoint of the write-ahead log lands in it',
        },
      ] satisfies Row[];
    } finally {
      if (external) await connection.db?.dropDatabase().catch(() => undefined);
      await connection.close();
      await ferretdb?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
