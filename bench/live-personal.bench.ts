import { hashPassword } from '../src/modules/auth/index.js';
import {
  measureDeliveries as measure,
  ownCpuMs,
  openRawBaseline,
  summarise,
  type EventFigures,
} from './lib/live-events.js';
import type { Row, Scenario } from './lib/report.js';
import { buildBackgroundNetwork, databaseRows } from './lib/network.js';
import { createProfiler } from './lib/profile.js';
import { startStack, type BenchServer } from './lib/stack.js';
import { sizeFromEnv, sleep } from './lib/stats.js';
import { openWsLoad } from './lib/ws-load.js';

/** A live timeline card with the viewer's own state: reaction, retruth, both follow flags. */
const personalCard = /* GraphQL */ `
  subscription {
    homeFeedUpdated {
      ... on TruthPosted {
        cursor
        truth {
          id
          text
          createdAt
          hashtags
          viewerReaction
          viewerHasRetruthed
          author {
            id
            username
            displayName
            avatarUrl
            viewerIsFollowing
            followsViewer
          }
          counts {
            reactions
            replies
            retruths
            quotes
          }
        }
      }
    }
  }
`;

/** The same card without the viewer's state: every subscriber's result is the same. */
const sharedCard = /* GraphQL */ `
  subscription {
    homeFeedUpdated {
      ... on TruthPosted {
        cursor
        truth {
          id
          text
          createdAt
          hashtags
          author {
            id
            username
            displayName
            avatarUrl
          }
          counts {
            reactions
            replies
            retruths
            quotes
          }
        }
      }
    }
  }
`;

const password = 'live personal benchmark passphrase';
const text = (round: number) =>
  `Live personal benchmark truth ${round}: a card of about the size a timeline shows, ` +
  'with a sentence or two of text, a #launch hashtag and nothing else remarkable. '.repeat(3);

/**
 * Live delivery of personal results. N distinct signed-in viewers, each with its own socket and
 * session, all following one author; some have reacted to or retruthed the author's earlier
 * truths, the author follows some of them, and some follow each other. Each event is a real
 * post by the author (over HTTP), timed from the mutation's start to each subscriber's frame:
 * it includes writing the truth into N home timelines and publishing N home-feed events.
 * Against: plain `ws` broadcasting one pre-serialized frame of the same size to N sockets (in
 * its own process, from a Redis PUBLISH), alternating event by event. Reported for the card
 * with the viewer's own state (`personal`) and without it (`shared`); the first event after
 * everyone subscribed is reported on its own. CPU per delivery: the server process's CPU time
 * over an event divided by deliveries (the bench process hosts the server; the load clients
 * and the baseline run in their own processes). On a background network (bench/lib/network.ts),
 * its size in the table.
 */
export const livePersonalScenario: Scenario = {
  name: 'live-personal',
  description: 'a post to N followers, each with their own per-viewer fields, vs a raw broadcast',
  async run() {
    const viewers = sizeFromEnv('BENCH_PERSONAL_VIEWERS', 10_000);
    const rounds = sizeFromEnv('BENCH_FANOUT_EVENTS', 12);
    const processes = sizeFromEnv('BENCH_CLIENT_PROCESSES', 2);
    const stack = await startStack();
    const rows: Row[] = [];
    try {
      const network = await buildBackgroundNetwork(stack);
      const server = await stack.startVerity({ WS_KEEPALIVE_MS: '600000' });
      const { services } = server.app.internals;
      const passwordHash = await hashPassword(password);
      const account = (name: string) =>
        services.users.createAccount(
          { username: name, email: `${name}@personal.example`, password },
          { passwordHash },
        );
      console.log(`  ${viewers} viewers following one author...`);
      const author = await account('personal_author');
      const authorId = author.user._id.toHexString();
      const asViewer = (id: string) => ({ id, role: 'user' as const });
      const sessions: { id: string; token: string }[] = new Array(viewers);
      const inBatches = async (task: (i: number) => Promise<unknown>) => {
        for (let start = 0; start < viewers; start += 64) {
          const batch = [];
          for (let i = start; i < Math.min(viewers, start + 64); i++) batch.push(task(i));
          await Promise.all(batch);
        }
      };
      await inBatches(async (i) => {
        const session = await account(`personal_${i}`);
        sessions[i] = { id: session.user._id.toHexString(), token: session.token };
      });
      await inBatches((i) => services.relations.follow(asViewer(sessions[i]!.id), authorId));
      // Earlier truths that some viewers reacted to or retruthed; the author follows every
      // fourth viewer, every third follows the next one.
      const earlier: { _id: { toHexString(): string } }[] = [];
      for (let k = 0; k < 5; k++) {
        earlier.push(
          (await services.truths.post(asViewer(authorId), { text: `earlier truth ${k}` })).truth,
        );
      }
      await inBatches(async (i) => {
        const viewer = asViewer(sessions[i]!.id);
        const truthId = earlier[i % earlier.length]!._id.toHexString();
        if (i % 5 === 0) await services.reactions.react(viewer, truthId, 'LIKE');
        if (i % 7 === 0) await services.truths.retruth(viewer, truthId);
        if (i % 4 === 0) await services.relations.follow(asViewer(authorId), viewer.id);
        if (i % 3 === 0 && i + 1 < viewers)
          await services.relations.follow(viewer, sessions[i + 1]!.id);
      });
      await services.effects.settled();
      rows.push(...(await databaseRows(stack, server, network)));

      // The baseline, with its own clients, connected for the whole run.
      const raw = await openRawBaseline({
        redisUrl: stack.redisUrl,
        namespace: server.namespace,
        count: viewers,
        processes,
      });

      let round = 0;
      const post = () =>
        server.gql(
          'mutation($t: String!) { postTruth(input: { text: $t }) { truth { id } } }',
          { t: text(round++) },
          author.token,
        );
      // The bench's own HTTP client loads on its first request: not part of any event.
      await server.gql('{ __typename }');
      const variants = [
        { name: 'personal', query: personalCard },
        { name: 'shared', query: sharedCard },
      ];
      for (const variant of variants) {
        const load = await openWsLoad({
          url: server.wsUrl,
          protocol: 'graphql-ws',
          count: viewers,
          processes,
          query: variant.query,
          items: sessions.map(({ token }) => ({
            connectionParams: { authorization: `Bearer ${token}` },
            variables: {},
          })),
        });
        await waitForSubscribers(
          server,
          sessions.map((session) => session.id),
        );
        const executionsBefore = server.app.internals.live.executions;
        // Profiles (BENCH_PROFILE): the first event is stretch 0, then one per measured event.
        const profiler = await createProfiler(`.${variant.name}`);
        await profiler.start();
        const first = await measure(load, post, ownCpuMs);
        await profiler.stop();
        const runs = {
          first,
          verity: [] as (EventFigures & { sampleFrame: string })[],
          raw: [] as EventFigures[],
        };
        for (let event = 0; event < rounds; event++) {
          await sleep(200);
          await profiler.start();
          const event = await measure(load, post, ownCpuMs);
          runs.verity.push(event);
          await profiler.stop();
          await sleep(200);
          const frame = event.sampleFrame;
          runs.raw.push(await raw.measure(frame));
        }
        await profiler.save();
        const executions = server.app.internals.live.executions - executionsBefore;
        await load.close();
        while (server.app.internals.live.subscribers > 0) await sleep(50);
        rows.push(...variantRows(variant.name, viewers, runs, executions / (rounds + 1)));
      }
      await raw.close();
    } finally {
      await stack.stop();
    }
    return rows;
  },
};

/**
 * Until every viewer's subscription is set up: attached to the live hub, listening on its home
 * feed's channel, and done with its set-up reads (each viewer's blocks, mutes and whales, read
 * when the feed starts): Redis has run next to no commands for half a second. An event that
 * arrives before a feed has read them waits for them, which would time the set-up, not the
 * event.
 */
async function waitForSubscribers(server: BenchServer, viewerIds: string[]): Promise<void> {
  const { live, bus, redis } = server.app.internals;
  while (live.subscribers < viewerIds.length) await sleep(50);
  while (!viewerIds.every((id) => bus.hasListener('homeFeed', id))) await sleep(100);
  const processed = async () =>
    Number(/total_commands_processed:(\d+)/.exec(await redis.command.info('stats'))?.[1] ?? 0);
  let before = await processed();
  for (;;) {
    await sleep(500);
    const now = await processed();
    // Background upkeep (admission ticks, the journal's sweeper, trends) runs a few.
    if (now - before < 100) return;
    before = now;
  }
}

function variantRows(
  name: string,
  viewers: number,
  runs: {
    first: EventFigures;
    verity: (EventFigures & { sampleFrame: string })[];
    raw: EventFigures[];
  },
  executionsPerEvent: number,
): Row[] {
  const what = `plain ws, one pre-serialized ${Buffer.byteLength(runs.verity[0]!.sampleFrame)}-byte frame`;
  const verity = summarise(runs.verity);
  const raw = summarise(runs.raw);
  const label = name === 'personal' ? 'with viewer fields' : 'no viewer fields';
  return [
    {
      metric: `${name}: first delivery, ${viewers} viewers (${label})`,
      value: verity.first,
      unit: 'ms',
      baseline: what,
      baselineValue: raw.first,
      note: `the post's answer came after ${verity.trigger.toFixed(1)} ms`,
    },
    {
      metric: `${name}: delivery p50`,
      value: verity.p50,
      unit: 'ms',
      baseline: what,
      baselineValue: raw.p50,
    },
    {
      metric: `${name}: delivery p99`,
      value: verity.p99,
      unit: 'ms',
      baseline: what,
      baselineValue: raw.p99,
      // The shared selection's target (≤ 1.25×) is for a ready event (`fanout`); here the
      // post's own writes come first.
      note: name === 'personal' ? 'target ≤ 2×' : 'includes the post; see fanout for a ready event',
    },
    {
      metric: `${name}: first event after all subscribed, p99`,
      value: runs.first.p99,
      unit: 'ms',
      baseline: what,
      baselineValue: raw.p99,
      note: name === 'personal' ? 'target ≤ 3×' : '',
    },
    {
      metric: `${name}: deliveries per second`,
      value: verity.perSecond,
      unit: '/s',
      baseline: what,
      baselineValue: raw.perSecond,
    },
    {
      metric: `${name}: server CPU per delivery`,
      value: verity.cpuUsPerDelivery,
      unit: 'µs',
      baseline: what,
      baselineValue: raw.cpuUsPerDelivery,
      note: 'includes writing the truth and its N timelines',
    },
    {
      metric: `${name}: executions per event`,
      value: executionsPerEvent,
      unit: '',
      note: 'graphql-ws alone: one per subscriber',
    },
  ];
}
