import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import {
  measureDeliveries,
  ownCpuMs,
  openRawBaseline,
  summarise,
  type EventFigures,
} from './lib/live-events.js';
import { buildBackgroundNetwork, databaseRows, measureSize, sizeRows } from './lib/network.js';
import { createProfiler } from './lib/profile.js';
import type { Row, Scenario } from './lib/report.js';
import { startStack } from './lib/stack.js';
import { median, nowMs, quantile, sizeFromEnv, sleep } from './lib/stats.js';
import { openWsLoad } from './lib/ws-load.js';

interface JoinRun {
  startedAt: number;
  finishedAt: number;
  errors: number;
  errorSamples: string[];
  latencies: number[];
  doneAt: number[];
  tickets: number[];
  tokens: { ticket: number; token: string }[];
}

const positionSubscription =
  'subscription($t: String!) { waitlistPosition(ticketToken: $t) { ticket position admitted } }';

/** Runs the join load generator in its own process and waits for its figures. */
function runJoins(options: {
  url: string;
  count: number;
  concurrency: number;
  keepTokens: number;
}): Promise<JoinRun> {
  const child = fork(fileURLToPath(new URL('./lib/join-load-client.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.on('message', (message: JoinRun & { type: string }) => {
      if (message.type !== 'done') return;
      child.kill();
      resolve(message);
    });
    child.on('error', reject);
    child.send({ ...options, label: 'wl_' });
  });
}

/** PUBLISH commands Redis has executed so far (INFO commandstats). */
async function publishCount(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  return Number(/cmdstat_publish:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

/**
 * (a) N waitlist joins at high concurrency from a separate process against one instance on the
 * embedded stack: errors, joins per second (median of per-second buckets), latency, and
 * whether the tickets are exactly B+1..B+N, B the tickets the background network holds.
 * (b) S WebSocket subscribers waiting on their positions, one admission tick: how many Redis
 * PUBLISH it costs, and how long until every subscriber has its new position (from the start
 * of the tick), against one pre-serialized frame broadcast by plain `ws` to S sockets (from
 * its PUBLISH), in the same run.
 * On a background network (bench/lib/network.ts), whose waitlist entries wait ahead of the
 * crowd (the measured ticks admit them first); its size, before and after the joins, in the
 * table.
 */
export const waitlistScenario: Scenario = {
  name: 'waitlist',
  description: 'waitlist joins per second with dense tickets; one admission tick to S subscribers',
  async run() {
    const joins = sizeFromEnv('BENCH_WAITLIST_JOINS', 170_000);
    const concurrency = sizeFromEnv('BENCH_WAITLIST_CONCURRENCY', 64);
    const subscribers = Math.min(joins, sizeFromEnv('BENCH_SUBSCRIBERS', 10_000));
    const rounds = sizeFromEnv('BENCH_WAITLIST_TICKS', 5);
    const processes = sizeFromEnv('BENCH_CLIENT_PROCESSES', 2);
    const stack = await startStack();
    const rows: Row[] = [];
    try {
      const network = await buildBackgroundNetwork(stack);
      const server = await stack.startVerity({
        WS_KEEPALIVE_MS: '600000',
        WS_MAX_SUBSCRIPTIONS: '10',
        // Only the measured ticks admit anyone.
        WAITLIST_ADMISSION_RATE_PER_MINUTE: '0',
      });
      const { models, services } = server.app.internals;
      rows.push(...(await databaseRows(stack, server, network, 'before the joins')));
      // Tickets the background network drew: the crowd's come after them.
      const base = (await services.waitlist.stats()).lastTicket;

      // (a) joins
      console.log(`  ${joins} joins at concurrency ${concurrency}...`);
      const run = await runJoins({
        url: server.url,
        count: joins,
        concurrency,
        keepTokens: subscribers,
      });
      const buckets = new Map<number, number>();
      for (const at of run.doneAt) {
        const second = Math.floor((at - run.startedAt) / 1000);
        buckets.set(second, (buckets.get(second) ?? 0) + 1);
      }
      // Whole seconds only: the last, partial one would understate the rate.
      const lastSecond = Math.floor((run.finishedAt - run.startedAt) / 1000);
      const perSecond = [...buckets].filter(([second]) => second < lastSecond).map(([, n]) => n);
      const stored = await models.WaitlistEntry.find(
        { ticket: { $gt: base } },
        { _id: 0, ticket: 1 },
      )
        .lean<{ ticket: number }[]>()
        .exec();
      const seen = [...run.tickets].filter((t) => t > 0).sort((a, b) => a - b);
      const storedSorted = stored.map((e) => e.ticket).sort((a, b) => a - b);
      const dense = (list: number[]) =>
        list.length === joins && list.every((ticket, i) => ticket === base + i + 1);
      if (run.errors > 0) console.log('  join errors, for example:', run.errorSamples);
      rows.push(
        { metric: `join errors, ${joins} joins`, value: run.errors, unit: '', note: 'must be 0' },
        {
          metric: 'joins per second (median of whole seconds)',
          value:
            perSecond.length > 0
              ? median(perSecond)
              : joins / ((run.finishedAt - run.startedAt) / 1000),
          unit: '/s',
          note: `concurrency ${concurrency}; ${((run.finishedAt - run.startedAt) / 1000).toFixed(1)} s in all`,
        },
        { metric: 'join latency p50', value: quantile(run.latencies, 0.5), unit: 'ms' },
        { metric: 'join latency p99', value: quantile(run.latencies, 0.99), unit: 'ms' },
        {
          metric: 'tickets exactly B+1..B+N (answers and MongoDB)',
          value: dense(seen) && dense(storedSorted) ? 1 : 0,
          unit: '',
          note:
            `1 = yes; B = ${base} (the background's); ${storedSorted.length} stored after B, ` +
            `${new Set(storedSorted).size} distinct`,
        },
      );
      // The ticks run on the database the joins left.
      rows.push(...sizeRows(await measureSize(server), { prefix: 'after the joins' }));

      // The tick on its own, before anyone listens: lease, reads, watermark write, publish.
      const soloTicks: number[] = [];
      for (let i = 0; i < 4; i++) {
        const startedAt = nowMs();
        await services.waitlist.tick({ count: 10 });
        if (i > 0) soloTicks.push(nowMs() - startedAt);
        await sleep(200);
      }

      // (b) one admission tick to S waiting subscribers (the last S to join: still waiting)
      console.log(`  ${subscribers} waiting subscribers...`);
      const items = run.tokens.map(({ token }) => ({
        connectionParams: { ticketToken: token },
        variables: { t: token },
      }));
      const load = await openWsLoad({
        url: server.wsUrl,
        protocol: 'graphql-ws',
        count: items.length,
        processes,
        query: positionSubscription,
        items,
      });
      while (services.waitlist.watchers.size < items.length) await sleep(50);

      const raw = await openRawBaseline({
        redisUrl: stack.redisUrl,
        namespace: server.namespace,
        count: items.length,
        processes,
      });
      const redis = new Redis(stack.redisUrl);

      const tickFigures: EventFigures[] = [];
      const rawFigures: EventFigures[] = [];
      const publishes: number[] = [];
      let frame = '';
      // BENCH_PROFILE: a CPU profile of each tick's delivery.
      const profiler = await createProfiler();
      for (let round = 0; round <= rounds; round++) {
        const before = await publishCount(redis);
        await profiler.start();
        const tick = await measureDeliveries(
          load,
          () => services.waitlist.tick({ count: 10 }),
          ownCpuMs,
        );
        await profiler.stop();
        publishes.push((await publishCount(redis)) - before);
        frame = tick.sampleFrame;
        await sleep(200);
        const baseline = await raw.measure(frame);
        await sleep(200);
        // The first round warms up.
        if (round > 0) {
          tickFigures.push(tick);
          rawFigures.push(baseline);
        }
      }
      await profiler.save();
      await Promise.all([load.close(), raw.close()]);
      redis.disconnect();

      const what = `plain ws, one pre-serialized ${Buffer.byteLength(frame)}-byte frame`;
      const verity = summarise(tickFigures);
      const baseline = summarise(rawFigures);
      rows.push(
        {
          metric: 'Redis PUBLISH per admission tick',
          value: median(publishes),
          unit: '',
          note: `max ${Math.max(...publishes)} over ${publishes.length} ticks; must be 1`,
        },
        {
          metric: `all ${items.length} subscribers updated, p50 (from tick start)`,
          value: verity.p50,
          unit: 'ms',
          baseline: what,
          baselineValue: baseline.p50,
        },
        {
          metric: `all ${items.length} subscribers updated, p99 (from tick start)`,
          value: verity.p99,
          unit: 'ms',
          baseline: what,
          baselineValue: baseline.p99,
          note: 'target ≤ 2×; the tick includes its MongoDB watermark write, the baseline starts at PUBLISH',
        },
        {
          metric: 'server CPU per delivery',
          value: verity.cpuUsPerDelivery,
          unit: 'µs',
          baseline: what,
          baselineValue: baseline.cpuUsPerDelivery,
          note: 'includes the tick itself',
        },
        {
          metric: 'admission tick alone, no subscribers',
          value: median(soloTicks),
          unit: 'ms',
          note: 'lease, reads, watermark write, admissions log, mirror, publish',
        },
      );
    } finally {
      await stack.stop();
    }
    return rows;
  },
};
