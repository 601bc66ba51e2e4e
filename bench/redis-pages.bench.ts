import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { startRedisServer, type EmbeddedRedis } from '../src/infra/embedded/redis-server.js';
import { createLogger } from '../src/infra/logger.js';
import { fmt } from './lib/network.js';
import type { Row, Scenario } from './lib/report.js';
import { quantile, sizeFromEnv, sleep } from './lib/stats.js';

/** Keys of the two large servers: the launch network's Redis held 11.3 million, 5.2 GB. */
const largeKeys = () => sizeFromEnv('BENCH_REDIS_PAGES_KEYS', 11_000_000);
/** Keys of the baseline server: about the small launch-scale network's Redis (30 MB). */
const smallKeys = () => sizeFromEnv('BENCH_REDIS_PAGES_SMALL_KEYS', 60_000);
const valueBytes = 400;
const seconds = () => sizeFromEnv('BENCH_REDIS_PAGES_SECONDS', 60);
const rounds = () => sizeFromEnv('BENCH_REDIS_PAGES_ROUNDS', 2);
/** A request's Redis commands come this far apart at concurrency 1 (the scale bench's pace). */
const pauseMs = 1;
const lateMs = 5;
/** jemalloc's options for a heap on 4 KB pages, whatever the kernel's THP mode. */
const fourKbPages = 'thp:never,metadata_thp:disabled';

interface Server {
  label: string;
  keys: number;
  redis: EmbeddedRedis;
  client: Redis;
  pid: number;
}

interface Load {
  latencies: number[];
  cpuSeconds: number;
}

/** Numeric fields of one section of a server's INFO, read in one command. */
const info = async (client: Redis, section: string, ...fields: string[]) => {
  const lines = (await client.info(section)).split('\r\n');
  return fields.map((field) => {
    const line = lines.find((l) => l.startsWith(`${field}:`));
    return Number(line?.slice(field.length + 1));
  });
};

/** Resident memory of a redis-server, and how much of it is on transparent huge pages. */
async function pages(pid: number): Promise<{ rssMiB: number; hugeMiB: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(rollup)?.[1]);
  return { rssMiB: kib('Rss') / 1024, hugeMiB: kib('AnonHugePages') / 1024 };
}

/** GETs and SETs of random keys, one at a time, `pauseMs` apart, for `ms`. */
async function load(server: Server, ms: number): Promise<Load> {
  const cpu = async () => {
    const [user, sys] = await info(server.client, 'cpu', 'used_cpu_user', 'used_cpu_sys');
    return user! + sys!;
  };
  const cpuBefore = await cpu();
  const value = 'x'.repeat(valueBytes);
  const latencies: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const key = `key:${Math.floor(Math.random() * server.keys)}`;
    const started = performance.now();
    if (latencies.length % 2 === 0) await server.client.get(key);
    else await server.client.set(key, value);
    latencies.push(performance.now() - started);
    await sleep(pauseMs);
  }
  return { latencies, cpuSeconds: (await cpu()) - cpuBefore };
}

/**
 * Does a redis-server of gigabytes answer as promptly as a small one? The launch-scale bench's
 * writes at concurrency 1 had their p99s above target only on the 5.2 GB Redis, whose latency
 * monitor caught commands that cost microseconds taking 10 to 36 ms. Three redis-servers run
 * side by side under the same load, one command at a time from each: two of
 * `BENCH_REDIS_PAGES_KEYS` strings of 400 bytes (about 5 GB), one as Verity starts it (heap on
 * transparent huge pages) and one on 4 KB pages (jemalloc's `thp:never`; Redis's own default on
 * a kernel whose THP mode is `madvise`), and the baseline, the same server as Verity starts it
 * with `BENCH_REDIS_PAGES_SMALL_KEYS` keys (about 30 MB).
 * Figures: p50, p99, p99.9, commands over 5 ms per 10,000, and CPU per command.
 */
export const redisPagesScenario: Scenario = {
  name: 'redis-pages',
  description: 'a 5 GB redis-server on 2 MB and on 4 KB pages against a 30 MB one, same load',
  async run() {
    const logger = createLogger({
      level: process.env['BENCH_LOG_LEVEL'] ?? 'error',
      name: 'bench',
    });
    const debug = () => ['--enable-debug-command', 'local'];
    const specs = [
      { label: 'small (30 MB), as Verity runs it', keys: smallKeys(), args: debug },
      { label: 'large, as Verity runs it (2 MB pages)', keys: largeKeys(), args: debug },
      {
        label: 'large, on 4 KB pages',
        keys: largeKeys(),
        args: debug,
        env: { MALLOC_CONF: fourKbPages, JE_MALLOC_CONF: fourKbPages },
      },
    ];
    const servers: Server[] = [];
    const rows: Row[] = [];
    try {
      for (const spec of specs) {
        const redis = await startRedisServer({ logger, args: spec.args, env: spec.env });
        const client = new Redis(redis.url, { maxRetriesPerRequest: null });
        const server: Server = {
          label: spec.label,
          keys: spec.keys,
          redis,
          client,
          pid: (await info(client, 'server', 'process_id'))[0]!,
        };
        servers.push(server);
        const started = performance.now();
        await client.call('DEBUG', 'POPULATE', String(spec.keys), 'key', String(valueBytes));
        const { rssMiB, hugeMiB } = await pages(server.pid);
        console.log(
          `  ${spec.label}: ${fmt(spec.keys)} keys in ${((performance.now() - started) / 1000).toFixed(1)} s, ` +
            `used_memory ${((await info(client, 'memory', 'used_memory'))[0]! / 2 ** 20).toFixed(0)} MiB, ` +
            `resident ${rssMiB.toFixed(0)} MiB, on huge pages ${hugeMiB.toFixed(0)} MiB`,
        );
      }
      const results = servers.map((): Load => ({ latencies: [], cpuSeconds: 0 }));
      for (let round = 1; round <= rounds(); round++) {
        const loads = await Promise.all(servers.map((server) => load(server, seconds() * 1000)));
        loads.forEach((result, i) => {
          const into = results[i]!;
          const late = result.latencies.filter((ms) => ms > lateMs).length;
          console.log(
            `  round ${round}, ${servers[i]!.label}: ${fmt(result.latencies.length)} commands, ` +
              `p99 ${quantile(result.latencies, 0.99).toFixed(2)} ms, p99.9 ${quantile(result.latencies, 0.999).toFixed(2)} ms, ` +
              `over ${lateMs} ms ${late}`,
          );
          into.latencies.push(...result.latencies);
          into.cpuSeconds += result.cpuSeconds;
        });
      }
      const figures = results.map((result) => ({
        p50: quantile(result.latencies, 0.5),
        p99: quantile(result.latencies, 0.99),
        p999: quantile(result.latencies, 0.999),
        late:
          (result.latencies.filter((ms) => ms > lateMs).length / result.latencies.length) * 10_000,
        cpuUs: (result.cpuSeconds / result.latencies.length) * 1e6,
        commands: result.latencies.length,
      }));
      const base = figures[0]!;
      const baseline = servers[0]!.label;
      for (const [i, figure] of figures.entries()) {
        if (i === 0) continue;
        const label = servers[i]!.label;
        rows.push(
          {
            metric: `${label}: p50`,
            value: figure.p50,
            unit: 'ms',
            baseline,
            baselineValue: base.p50,
          },
          {
            metric: `${label}: p99`,
            value: figure.p99,
            unit: 'ms',
            baseline,
            baselineValue: base.p99,
          },
          {
            metric: `${label}: p99.9`,
            value: figure.p999,
            unit: 'ms',
            baseline,
            baselineValue: base.p999,
          },
          {
            metric: `${label}: commands over ${lateMs} ms per 10,000`,
            value: figure.late,
            unit: '',
            baseline,
            baselineValue: base.late,
            note: `${fmt(figure.commands)} commands against ${fmt(base.commands)}`,
          },
          {
            metric: `${label}: server CPU per command`,
            value: figure.cpuUs,
            unit: 'µs',
            baseline,
            baselineValue: base.cpuUs,
          },
        );
      }
      return rows;
    } finally {
      for (const server of servers) {
        server.client.disconnect();
        await server.redis.stop();
      }
    }
  },
};
