import { buildBackgroundNetwork, createAccount, databaseRows } from './lib/network.js';
import { createProfiler } from './lib/profile.js';
import type { Row, Scenario } from './lib/report.js';
import { startStack } from './lib/stack.js';
import {
  announcements,
  measureDeliveries,
  ownCpuMs,
  openRawBaseline,
  summarise,
  type EventFigures,
} from './lib/live-events.js';
import { sizeFromEnv, sleep } from './lib/stats.js';
import { openWsLoad, serverExecArgv } from './lib/ws-load.js';

const subscription = `subscription { publicFeedUpdated { ... on TruthPosted { cursor truth {
  id text createdAt hashtags author { id username displayName avatarUrl } counts { reactions replies retruths }
} } } }`;

/** Heap in use after two full collections (the runner starts node with --expose-gc). */
async function settledHeap(): Promise<number> {
  for (let i = 0; i < 2; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(200);
  }
  return process.memoryUsage().heapUsed;
}

/**
 * (a) One event to N graphql-ws subscribers of the same subscription, against plain `ws`
 * broadcasting one pre-serialized frame to N sockets (in its own process). Both are triggered
 * the same way, by a Redis PUBLISH, and timed by the same client processes from the publish to
 * each arrival. Events alternate between the two, so background load on a shared machine falls
 * on both alike; the first round warms up and is left out of the medians.
 * (d) Heap per idle subscription at N subscriptions (one per connection, and ten per
 * connection), against heap per idle plain WebSocket.
 * On a background network (bench/lib/network.ts), its size in the table.
 */
export const fanoutScenario: Scenario = {
  name: 'fanout',
  description:
    'one event to N graphql-ws subscribers vs a raw ws broadcast; heap per idle subscription',
  async run() {
    const subscribers = sizeFromEnv('BENCH_SUBSCRIBERS', 10_000);
    const rounds = sizeFromEnv('BENCH_FANOUT_EVENTS', 12);
    const processes = sizeFromEnv('BENCH_CLIENT_PROCESSES', 2);
    const stack = await startStack();
    const rows: Row[] = [];
    try {
      const network = await buildBackgroundNetwork(stack);
      const server = await stack.startVerity({ WS_KEEPALIVE_MS: '600000' });
      const viewer = await createAccount(server, 'fanout_viewer');
      const author = await createAccount(server, 'fanout_author');
      const feedEvents = await announcements(server, author, rounds);
      rows.push(...(await databaseRows(stack, server, network)));
      const { live } = server.app.internals;
      // Verity's own publisher: PUBLISH, or SPUBLISH on a cluster.
      const { redis } = server.app.internals;

      // Memory: ten subscriptions per connection, then one.
      const heapEmpty = await settledHeap();
      const multi = await openWsLoad({
        url: server.wsUrl,
        protocol: 'graphql-ws',
        count: subscribers / 10,
        processes: 1,
        token: viewer.token,
        query: subscription,
        subscriptionsPerConnection: 10,
      });
      while (live.subscribers < subscribers) await sleep(50);
      const heapPerSubscriptionShared = ((await settledHeap()) - heapEmpty) / subscribers;
      await multi.close();
      while (live.subscribers > 0) await sleep(50);

      const heapBefore = await settledHeap();
      const load = await openWsLoad({
        url: server.wsUrl,
        protocol: 'graphql-ws',
        count: subscribers,
        processes,
        token: viewer.token,
        query: subscription,
      });
      while (live.subscribers < subscribers) await sleep(50);
      const heapPerSubscription = ((await settledHeap()) - heapBefore) / subscribers;

      // The baseline server, with its own clients, connected at the same time.
      const raw = await openRawBaseline({
        redisUrl: stack.redisUrl,
        namespace: server.namespace,
        count: subscribers,
        processes,
        execArgv: ['--expose-gc', ...serverExecArgv],
      });
      const heapPerSocket = await new Promise<number>((resolve) => {
        raw.server.on('message', (message: { type: string; bytesPerSocket?: number }) => {
          if (message.type === 'heap') resolve(message.bytesPerSocket!);
        });
        raw.server.send({ type: 'heap', count: subscribers });
      });

      const channel = `${server.namespace}:ev:publicFeed:`;
      const before = { ...live };
      const verityEvents: EventFigures[] = [];
      const rawEvents: EventFigures[] = [];
      let frame = '';
      // BENCH_PROFILE: a CPU profile of each event's delivery.
      const profiler = await createProfiler();
      for (let round = 0; round < rounds; round++) {
        const event = feedEvents[round % feedEvents.length];
        await profiler.start();
        const verity = await measureDeliveries(
          load,
          () => redis.publish(channel, JSON.stringify(event)),
          ownCpuMs,
        );
        await profiler.stop();
        frame = verity.sampleFrame;
        await sleep(100);
        const baseline = await raw.measure(frame);
        await sleep(100);
        if (round > 0) {
          verityEvents.push(verity);
          rawEvents.push(baseline);
        }
      }
      await profiler.save();
      const executionsPerEvent = (live.executions - before.executions) / rounds;
      await Promise.all([load.close(), raw.close()]);

      const verity = summarise(verityEvents);
      const baseline = summarise(rawEvents);
      const what = `plain ws, one pre-serialized ${Buffer.byteLength(frame)}-byte frame`;
      rows.push(
        {
          metric: `delivery p50, ${subscribers} subscribers`,
          value: verity.p50,
          unit: 'ms',
          baseline: what,
          baselineValue: baseline.p50,
        },
        {
          metric: `delivery p99, ${subscribers} subscribers`,
          value: verity.p99,
          unit: 'ms',
          baseline: what,
          baselineValue: baseline.p99,
          note: 'target: ≤ 1.25× the baseline',
        },
        {
          metric: 'server CPU per delivery',
          value: verity.cpuUsPerDelivery,
          unit: 'µs',
          baseline: what,
          baselineValue: baseline.cpuUsPerDelivery,
          note: 'the serving process over an event, divided by deliveries',
        },
        {
          metric: 'deliveries per second',
          value: verity.perSecond,
          unit: '/s',
          baseline: what,
          baselineValue: baseline.perSecond,
        },
        {
          metric: 'executions per event (one shared operation)',
          value: executionsPerEvent,
          unit: '',
          note: 'graphql-ws alone: one per subscriber',
        },
        {
          metric: `heap per idle subscription, ${subscribers} on as many sockets`,
          value: heapPerSubscription / 1024,
          unit: 'KB',
          baseline: 'idle plain ws socket',
          baselineValue: heapPerSocket / 1024,
          note: 'target: ≤ 10 KB; includes the socket and graphql-ws connection state',
        },
        {
          metric: `heap per idle subscription, ${subscribers} on ${subscribers / 10} sockets`,
          value: heapPerSubscriptionShared / 1024,
          unit: 'KB',
          note: 'ten subscriptions per connection, as a client with several feeds open',
        },
      );
    } finally {
      await stack.stop();
    }
    return rows;
  },
};
