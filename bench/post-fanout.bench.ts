import { Types } from 'mongoose';
import { expectGlobalId } from '../src/graphql/global-id.js';
import { buildBackgroundNetwork, bulk, createAccount, databaseRows } from './lib/network.js';
import type { Row, Scenario } from './lib/report.js';
import { startStack, type BenchServer } from './lib/stack.js';
import { median, nowMs, sizeFromEnv } from './lib/stats.js';

/** Inserts `count` followers straight into MongoDB (they never sign in) and returns their ids. */
async function seedUsers(server: BenchServer, count: number): Promise<Types.ObjectId[]> {
  const { User } = server.app.internals.models;
  const ids: Types.ObjectId[] = [];
  for (let start = 0; start < count; start += 5_000) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + 5_000); i++) {
      const _id = new Types.ObjectId();
      ids.push(_id);
      const now = new Date();
      batch.push({
        _id,
        username: `f${i}`,
        usernameKey: `f${i}`,
        email: `f${i}@bench.example`,
        passwordHash: 'not-a-real-hash',
        displayName: `Follower ${i}`,
        bio: '',
        avatarUrl: null,
        role: 'user',
        createdAt: now,
        updatedAt: now,
      });
    }
    await User.collection.insertMany(batch, { ordered: false });
  }
  return ids;
}

async function seedFollows(
  server: BenchServer,
  followers: readonly Types.ObjectId[],
  userId: string,
): Promise<void> {
  const { RelationEvent } = server.app.internals.models;
  const toId = new Types.ObjectId(userId);
  for (let start = 0; start < followers.length; start += 5_000) {
    const batch = followers.slice(start, start + 5_000).map((fromId) => ({
      _id: new Types.ObjectId(),
      fromId,
      toId,
      kind: 'follow' as const,
      on: true,
      version: 0,
      at: new Date(),
    }));
    await RelationEvent.collection.insertMany(batch, { ordered: false });
  }
}

/**
 * (c) A post by an author with N followers reaches all N home timelines before the mutation
 * returns (fan-out on write), timed against a post by an author with no followers; and a post by
 * a whale costs the same with 10,000 or with 100,000 followers (no fan-out: merged on read).
 * On a background network (bench/lib/network.ts): the followers and their follows are inserted
 * into MongoDB on top of it, and the read model is rebuilt from every collection (timed, not
 * measured); the size in the table. The author's followers have each read their home feed
 * once, so that every one of them has a timeline for the post to be written into.
 */
export const postFanoutScenario: Scenario = {
  name: 'post-fanout',
  description: 'a post reaching 10,000 home timelines; a whale post at 10,000 vs 100,000 followers',
  async run() {
    const fanout = sizeFromEnv('BENCH_FANOUT_FOLLOWERS', 10_000);
    const whaleFollowers = sizeFromEnv('BENCH_WHALE_FOLLOWERS', 100_000);
    const posts = sizeFromEnv('BENCH_POSTS', 7);
    const stack = await startStack();
    const rows: Row[] = [];
    try {
      const network = await buildBackgroundNetwork(stack);
      const server = await stack.startVerity({ WHALE_FOLLOWER_THRESHOLD: String(fanout * 2) });
      const loner = await createAccount(server, 'loner');
      const author = await createAccount(server, 'author_with_followers');
      const smallWhale = await createAccount(server, 'whale_small');
      const bigWhale = await createAccount(server, 'whale_big');
      const idOf = (user: { id: string }) => expectGlobalId(user.id, 'User', 'id');

      const seededAt = nowMs();
      const followers = await seedUsers(server, Math.max(fanout, whaleFollowers));
      await seedFollows(server, followers.slice(0, fanout), idOf(author));
      await seedFollows(server, followers.slice(0, fanout), idOf(smallWhale));
      await seedFollows(server, followers.slice(0, whaleFollowers), idOf(bigWhale));
      // Whales are accounts that crossed the threshold earlier; the flag is how Verity knows.
      await server.app.internals.models.WhaleFlag.collection.insertMany(
        [idOf(smallWhale), idOf(bigWhale)].map((id) => ({
          _id: new Types.ObjectId(id),
          at: new Date(),
        })),
      );
      const seedSeconds = (nowMs() - seededAt) / 1000;
      // Written behind Verity's back: the read model is rebuilt from MongoDB, every collection
      // of the background network included.
      const rebuiltAt = nowMs();
      await server.app.internals.model.rebuild();
      await server.app.internals.services.whales.among([]);
      const rebuildSeconds = (nowMs() - rebuiltAt) / 1000;
      // The author's followers are active: each has read its home feed, so its timeline exists
      // (a post is written only into timelines that exist; a missing one is rebuilt on read).
      const readAt = nowMs();
      await bulk('followers read their home feeds', fanout, 64, (i) =>
        server.app.internals.services.feeds.home(followers[i]!.toHexString(), {
          first: 1,
          after: null,
        }),
      );
      const readSeconds = (nowMs() - readAt) / 1000;
      rows.push(...(await databaseRows(stack, server, network)));

      const timePosts = async (token: string, label: string) => {
        const times: number[] = [];
        let lastId = '';
        for (let i = 0; i < posts; i++) {
          const started = nowMs();
          const result = await server.gql<{ postTruth: { truth: { id: string } } }>(
            'mutation($t: String!) { postTruth(input: { text: $t }) { truth { id } } }',
            { t: `${label} post ${i}` },
            token,
          );
          if (!result.data) throw new Error(JSON.stringify(result.errors));
          times.push(nowMs() - started);
          lastId = result.data.postTruth.truth.id;
        }
        // The first post of each author warms its counters; the medians leave it out.
        return { ms: median(times.slice(1)), lastId };
      };

      const alone = await timePosts(loner.token, 'loner');
      const fannedOut = await timePosts(author.token, 'author');
      // The two whales post in alternation, so that drift in the machine hits both alike.
      const smallTimes: number[] = [];
      const bigTimes: number[] = [];
      for (let round = 0; round < 3; round++) {
        smallTimes.push((await timePosts(smallWhale.token, 'small whale')).ms);
        bigTimes.push((await timePosts(bigWhale.token, 'big whale')).ms);
      }
      const small = { ms: median(smallTimes) };
      const big = { ms: median(bigTimes) };

      // Every follower's timeline holds the author's last post when the mutation has returned.
      const { redis } = server.app.internals;
      const truthHex = expectGlobalId(fannedOut.lastId, 'Truth', 'id');
      const batch = redis.batch();
      for (const follower of followers.slice(0, fanout))
        batch.zscore(`${redis.namespace}:m:tl:{${follower.toHexString()}}`, truthHex);
      const reached = ((await batch.exec()) ?? []).filter(([, score]) => score !== null).length;

      rows.push(
        {
          metric: `post by an author with ${fanout} followers (fan-out to every home timeline)`,
          value: fannedOut.ms,
          unit: 'ms',
          baseline: 'author with no followers',
          baselineValue: alone.ms,
        },
        {
          metric: 'home timelines holding it when the mutation returned',
          value: reached,
          unit: `of ${fanout}`,
        },
        {
          metric: `post by a whale with ${whaleFollowers} followers`,
          value: big.ms,
          unit: 'ms',
          baseline: `whale with ${fanout} followers`,
          baselineValue: small.ms,
          note: 'target: the same (no fan-out)',
        },
        {
          metric: 'seeding followers and follows (setup, not measured)',
          value: seedSeconds,
          unit: 's',
          note: `${Math.max(fanout, whaleFollowers)} accounts and ${2 * fanout + whaleFollowers} follows inserted into MongoDB`,
        },
        {
          metric: 'read model rebuilt from MongoDB after seeding (setup)',
          value: rebuildSeconds,
          unit: 's',
          note: 'one scan of every collection, the background network included',
        },
        {
          metric: `${fanout} followers reading their home feed once (setup)`,
          value: readSeconds,
          unit: 's',
          note: 'so that their timelines exist: a post is written only into existing ones',
        },
      );
    } finally {
      await stack.stop();
    }
    return rows;
  },
};
