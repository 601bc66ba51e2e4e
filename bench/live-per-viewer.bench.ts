import { Redis } from 'ioredis';
import { announcements, measureOne, summarise, type EventFigures } from './lib/live-events.js';
import { buildBackgroundNetwork, createAccount, databaseRows } from './lib/network.js';
import type { Row, Scenario } from './lib/report.js';
import { startStack } from './lib/stack.js';
import { nowMs, sizeFromEnv, sleep } from './lib/stats.js';
import { openWsLoad } from './lib/ws-load.js';

/** Selects per-viewer leaves: every subscriber's result has values of its own. */
const subscription = `subscription { publicFeedUpdated { ... on TruthPosted { cursor truth {
  id text createdAt hashtags author { id username displayName avatarUrl viewerIsFollowing }
  counts { reactions replies retruths } viewerReaction viewerHasRetruthed
} } } }`;

/**
 * One event to N subscribers of an operation with per-viewer leaves (spliced: one template
 * execution per event, each subscriber's values read in batches and put in its frame), executed
 * compiled (graphql-jit) on one instance, through graphql-js on another
 * (GRAPHQL_COMPILE_AFTER=0). Both instances serve the same database in this process,
 * under their own Redis namespaces so that each event reaches one of them; events alternate.
 * On a background network (bench/lib/network.ts): each instance rebuilds the read model of it
 * all in its own namespace when it starts (timed, not measured); the size in the table.
 */
export const livePerViewerScenario: Scenario = {
  name: 'live-per-viewer',
  description: 'one event to N subscribers of a per-viewer operation: compiled vs graphql-js',
  async run() {
    const subscribers = sizeFromEnv('BENCH_PER_VIEWER_SUBSCRIBERS', 2_000);
    const rounds = sizeFromEnv('BENCH_FANOUT_EVENTS', 12);
    const processes = sizeFromEnv('BENCH_CLIENT_PROCESSES', 2);
    const stack = await startStack();
    const rows: Row[] = [];
    try {
      const network = await buildBackgroundNetwork(stack);
      const setup = await stack.startVerity();
      const viewer = await createAccount(setup, 'per_viewer_viewer');
      const author = await createAccount(setup, 'per_viewer_author');
      await setup.gql(
        'mutation($id: ID!) { follow(input: { userId: $id }) { user { id } } }',
        { id: author.id },
        viewer.token,
      );
      const feedEvents = await announcements(setup, author, rounds);
      await setup.stop();

      // Compiled first, then graphql-js.
      const variants: { namespace: string; env: Record<string, string> }[] = [
        { namespace: `${setup.namespace}_jit`, env: {} },
        { namespace: `${setup.namespace}_js`, env: { GRAPHQL_COMPILE_AFTER: '0' } },
      ];
      const running = [];
      const rebuilds: number[] = [];
      for (const variant of variants) {
        // A new namespace: the instance rebuilds the read model from MongoDB before it answers.
        const startedAt = nowMs();
        const server = await stack.startVerity({
          WS_KEEPALIVE_MS: '600000',
          REDIS_NAMESPACE: variant.namespace,
          ...variant.env,
        });
        rebuilds.push((nowMs() - startedAt) / 1000);
        const load = await openWsLoad({
          url: server.wsUrl,
          protocol: 'graphql-ws',
          count: subscribers,
          processes,
          token: viewer.token,
          query: subscription,
        });
        const { live } = server.app.internals;
        while (live.subscribers < subscribers) await sleep(50);
        running.push({
          ...variant,
          server,
          load,
          live,
          events: [] as EventFigures[],
          executions: 0,
        });
      }
      // Redis holds the model three times now: the setup's namespace and each instance's.
      rows.push(...(await databaseRows(stack, running[0]!.server, network)));
      rows.push({
        metric: 'read model rebuilt from MongoDB at each instance start (setup)',
        value: Math.max(...rebuilds),
        unit: 's',
        note: `slowest of the two; ${rebuilds.map((s) => s.toFixed(1)).join(' s, ')} s`,
      });

      const publisher = new Redis(stack.redisUrl);
      for (let round = 0; round < rounds; round++) {
        const event = JSON.stringify(feedEvents[round % feedEvents.length]);
        for (const variant of running) {
          const executionsBefore = variant.live.executions;
          const figures = await measureOne(variant.load, () =>
            publisher.publish(`${variant.namespace}:ev:publicFeed:`, event),
          );
          if (round > 0) {
            variant.events.push(figures);
            variant.executions += variant.live.executions - executionsBefore;
          }
          await sleep(100);
        }
      }
      publisher.disconnect();
      await Promise.all(running.map((variant) => variant.load.close()));

      const [compiled, interpreted] = running.map((variant) => ({
        ...summarise(variant.events),
        executionsPerEvent: variant.executions / variant.events.length,
      }));
      const baseline = 'graphql-js, same operation and subscribers';
      rows.push(
        {
          metric: `delivery p50, ${subscribers} per-viewer subscribers`,
          value: compiled!.p50,
          unit: 'ms',
          baseline,
          baselineValue: interpreted!.p50,
        },
        {
          metric: `delivery p99, ${subscribers} per-viewer subscribers`,
          value: compiled!.p99,
          unit: 'ms',
          baseline,
          baselineValue: interpreted!.p99,
        },
        {
          metric: 'deliveries per second',
          value: compiled!.perSecond,
          unit: '/s',
          baseline,
          baselineValue: interpreted!.perSecond,
        },
        {
          metric: 'executions per event',
          value: compiled!.executionsPerEvent,
          unit: '',
          baseline,
          baselineValue: interpreted!.executionsPerEvent,
          note: 'one per subscriber: per-viewer fields cannot share',
        },
      );
    } finally {
      await stack.stop();
    }
    return rows;
  },
};
