import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { countRoundTrips } from '../test/helpers/round-trips.js';
import type { Row, Scenario } from './lib/report.js';
import { startMemoryFeedServer } from './lib/memory-feed-server.js';
import { buildBackgroundNetwork, createAccount, databaseRows } from './lib/network.js';
import { startStack } from './lib/stack.js';
import { median, sizeFromEnv } from './lib/stats.js';

const homeFeed = (first: number) => `{ homeFeed(first: ${first}) { edges { cursor node {
  id text createdAt hashtags author { id username displayName avatarUrl }
  counts { reactions replies retruths byKind { kind count } } viewerReaction viewerHasRetruthed
} } pageInfo { hasNextPage endCursor } } }`;

interface LoadFigures {
  requestsPerSecond: number;
  requests: number;
  /** CPU time of this process (the server's) per request, over the run. */
  cpuMicrosPerRequest: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** Runs autocannon in a child process against `url` with one GraphQL query. */
function load(
  url: string,
  token: string,
  query: string,
  durationSeconds: number,
  connections: number,
): Promise<LoadFigures> {
  const child = fork(fileURLToPath(new URL('./lib/http-load-client.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve) => {
    const cpuBefore = process.cpuUsage();
    child.once('message', (figures: Omit<LoadFigures, 'cpuMicrosPerRequest'>) => {
      const cpu = process.cpuUsage(cpuBefore);
      child.kill();
      resolve({ ...figures, cpuMicrosPerRequest: (cpu.user + cpu.system) / figures.requests });
    });
    child.send({ url, token, body: JSON.stringify({ query }), durationSeconds, connections });
  });
}

/**
 * (b) `homeFeed(first: 20)` with authors, counts and the viewer's reaction, warm, under
 * autocannon (its own process), against `{ __typename }` on the same server, runs alternating.
 * Then the same page from a server whose resolvers answer from memory (the execution ceiling).
 * Plus the MongoDB and Redis round trips of one page at first: 20 and first: 100.
 * On a background network (bench/lib/network.ts), its size in the table.
 */
export const homeFeedScenario: Scenario = {
  name: 'home-feed',
  description: 'homeFeed(first: 20) under load vs { __typename }; round trips per page size',
  async run() {
    const durationSeconds = sizeFromEnv('BENCH_HTTP_SECONDS', 8);
    const rounds = sizeFromEnv('BENCH_HTTP_ROUNDS', 2);
    const connections = sizeFromEnv('BENCH_HTTP_CONNECTIONS', 16);
    const stack = await startStack();
    const rows: Row[] = [];
    try {
      const network = await buildBackgroundNetwork(stack);
      const server = await stack.startVerity();
      const viewer = await createAccount(server, 'home_viewer');
      const authors = [];
      for (let i = 0; i < 20; i++) authors.push(await createAccount(server, `home_author_${i}`));
      for (const author of authors) {
        await server.gql(
          'mutation($id: ID!) { follow(input: { userId: $id }) { user { id } } }',
          { id: author.id },
          viewer.token,
        );
      }
      for (let i = 0; i < 150; i++) {
        const author = authors[i % authors.length]!;
        const posted = await server.gql<{ postTruth: { truth: { id: string } } }>(
          'mutation($t: String!) { postTruth(input: { text: $t }) { truth { id } } }',
          { t: `Home feed truth ${i} #bench${i % 5}` },
          author.token,
        );
        if (i % 5 === 0) {
          await server.gql(
            'mutation($id: ID!) { react(input: { truthId: $id, kind: LIKE }) { truth { id } } }',
            { id: posted.data!.postTruth.truth.id },
            viewer.token,
          );
        }
      }
      const warm = await server.gql(homeFeed(100), {}, viewer.token);
      if (warm.errors) throw new Error(JSON.stringify(warm.errors));
      rows.push(...(await databaseRows(stack, server, network)));

      /** `{ __typename }` then the page against `url`, `rounds` times in alternation. */
      const alternate = async (url: string) => {
        const runs = { feed: [] as LoadFigures[], trivial: [] as LoadFigures[] };
        for (let round = 0; round < rounds; round++) {
          const run = (query: string) =>
            load(url, viewer.token, query, durationSeconds, connections);
          runs.trivial.push(await run('{ __typename }'));
          runs.feed.push(await run(homeFeed(20)));
        }
        return runs;
      };
      const { feed, trivial } = await alternate(server.url);

      // The same page from resolvers answering from memory: how far execution alone goes.
      const memory = await startMemoryFeedServer();
      const { feed: memoryFeed, trivial: memoryTrivial } = await alternate(memory.url).finally(() =>
        memory.stop(),
      );
      const failures = [...feed, ...trivial, ...memoryFeed, ...memoryTrivial].reduce(
        (sum, f) => sum + f.non2xx + f.errors + f.timeouts,
        0,
      );

      // Round trips, on a second instance of the same deployment that monitors its commands.
      // No admission ticks: their background commands would land among a page's.
      const monitored = await stack.startVerity(
        { WAITLIST_TICK_MS: '600000' },
        { monitorCommands: true },
      );
      const page = (first: number) => monitored.gql(homeFeed(first), {}, viewer.token);
      await page(100);
      const trips20 = await countRoundTrips(monitored.app, stack.redisUrl, () => page(20));
      const trips100 = await countRoundTrips(monitored.app, stack.redisUrl, () => page(100));

      const baseline = '{ __typename }, same server';
      rows.push(
        {
          metric: 'homeFeed(first: 20) requests per second',
          value: median(feed.map((f) => f.requestsPerSecond)),
          unit: 'req/s',
          baseline,
          baselineValue: median(trivial.map((f) => f.requestsPerSecond)),
          note: 'target: ≥ 0.5× the baseline',
        },
        {
          metric: 'server CPU time per request',
          value: median(feed.map((f) => f.cpuMicrosPerRequest)),
          unit: 'µs',
          baseline,
          baselineValue: median(trivial.map((f) => f.cpuMicrosPerRequest)),
          note: 'steadier than req/s on a noisy machine',
        },
        {
          metric: 'homeFeed(first: 20) latency p50',
          value: median(feed.map((f) => f.p50)),
          unit: 'ms',
          baseline,
          baselineValue: median(trivial.map((f) => f.p50)),
        },
        {
          metric: 'homeFeed(first: 20) latency p99',
          value: median(feed.map((f) => f.p99)),
          unit: 'ms',
          baseline,
          baselineValue: median(trivial.map((f) => f.p99)),
        },
        {
          metric: 'same page, resolvers answering from memory',
          value: median(memoryFeed.map((f) => f.requestsPerSecond)),
          unit: 'req/s',
          baseline: '{ __typename }, that server',
          baselineValue: median(memoryTrivial.map((f) => f.requestsPerSecond)),
          note: 'the ceiling: no session, Redis or loaders',
        },
        {
          metric: 'server CPU time per request, from memory',
          value: median(memoryFeed.map((f) => f.cpuMicrosPerRequest)),
          unit: 'µs',
          baseline: '{ __typename }, that server',
          baselineValue: median(memoryTrivial.map((f) => f.cpuMicrosPerRequest)),
        },
        { metric: 'failed requests (non-2xx, errors, timeouts)', value: failures, unit: '' },
        {
          metric: 'MongoDB round trips, first: 100',
          value: trips100.mongo,
          unit: '',
          baseline: 'first: 20',
          baselineValue: trips20.mongo,
          note: 'must be equal',
        },
        {
          metric: 'Redis round trips, first: 100',
          value: trips100.redis,
          unit: '',
          baseline: 'first: 20',
          baselineValue: trips20.redis,
          note: 'must be equal',
        },
      );
    } finally {
      await stack.stop();
    }
    return rows;
  },
};
