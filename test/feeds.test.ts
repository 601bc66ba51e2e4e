import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromGlobalId } from '../src/graphql/global-id.js';
import { startRedisServer, type EmbeddedRedis } from '../src/infra/embedded/redis-server.js';
import { createLogger } from '../src/infra/logger.js';
import { deleteKeys } from '../src/infra/redis.js';
import { errorCodes } from './helpers/graphql.js';
import { describeOnOwnRedis } from './helpers/redis.js';
import { countRoundTrips } from './helpers/round-trips.js';
import { userIdHex } from './helpers/tokens.js';
import { startVerity, useVerity, type TestServer } from './helpers/server.js';
import { act, channelReady, feed, feedTexts, homeChannel, post } from './helpers/social.js';

describe('feeds', () => {
  const verity = useVerity();

  it('builds the home feed from the people I follow and me, newest first', async () => {
    const me = await verity.signUp();
    const followed = await verity.signUp();
    const stranger = await verity.signUp();
    await act(verity, me.token, 'follow', followed.id);
    await post(verity, followed.token, 'followed 1');
    await post(verity, stranger.token, 'stranger 1');
    await post(verity, me.token, 'mine 1');
    await post(verity, followed.token, 'followed 2');
    expect(await feedTexts(verity, 'homeFeed', { token: me.token })).toEqual([
      'followed 2',
      'mine 1',
      'followed 1',
    ]);
  });

  it('brings a new followee’s earlier truths into the home feed, and drops them on unfollow', async () => {
    const me = await verity.signUp();
    const later = await verity.signUp();
    await post(verity, me.token, 'my first');
    await post(verity, later.token, 'posted before I followed');
    expect(await feedTexts(verity, 'homeFeed', { token: me.token })).toEqual(['my first']);
    await act(verity, me.token, 'follow', later.id);
    expect(await feedTexts(verity, 'homeFeed', { token: me.token })).toEqual([
      'posted before I followed',
      'my first',
    ]);
    await act(verity, me.token, 'unfollow', later.id);
    expect(await feedTexts(verity, 'homeFeed', { token: me.token })).toEqual(['my first']);
  });

  it('shows retruths in followers’ home feeds, and drops them with the original', async () => {
    const me = await verity.signUp();
    const friend = await verity.signUp();
    const author = await verity.signUp();
    await act(verity, me.token, 'follow', friend.id);
    const original = await post(verity, author.token, 'worth sharing');
    await verity.gql(
      `mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }`,
      { id: original.id },
      { token: friend.token },
    );
    const home = await verity.gql(
      `{ homeFeed { edges { node { kind author { username } retruthOf { text author { username } } } } } }`,
      {},
      { token: me.token },
    );
    expect(home.data!['homeFeed'].edges).toEqual([
      {
        node: {
          kind: 'RETRUTH',
          author: { username: friend.username },
          retruthOf: { text: 'worth sharing', author: { username: author.username } },
        },
      },
    ]);
    await verity.gql(
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      { id: original.id },
      { token: author.token },
    );
    expect(await feedTexts(verity, 'homeFeed', { token: me.token })).toEqual([]);
  });

  it('pages with exact hasNextPage and cursors that stay valid while new truths arrive', async () => {
    const me = await verity.signUp();
    for (let i = 1; i <= 7; i++) await post(verity, me.token, `truth ${i}`);
    const first = await feed(verity, 'homeFeed', { token: me.token, first: 3 });
    const page1 = first.data!['homeFeed'];
    expect(page1.edges.map((e: any) => e.node.text)).toEqual(['truth 7', 'truth 6', 'truth 5']);
    expect(page1.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });

    await post(verity, me.token, 'arrived meanwhile');
    const second = (
      await feed(verity, 'homeFeed', { token: me.token, first: 3, after: page1.pageInfo.endCursor })
    ).data!['homeFeed'];
    expect(second.edges.map((e: any) => e.node.text)).toEqual(['truth 4', 'truth 3', 'truth 2']);
    expect(second.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    const third = (
      await feed(verity, 'homeFeed', {
        token: me.token,
        first: 3,
        after: second.pageInfo.endCursor,
      })
    ).data!['homeFeed'];
    expect(third.edges.map((e: any) => e.node.text)).toEqual(['truth 1']);
    expect(third.pageInfo.hasNextPage).toBe(false);

    const exact = (await feed(verity, 'homeFeed', { token: me.token, first: 8 })).data!['homeFeed'];
    expect(exact.edges).toHaveLength(8);
    expect(exact.pageInfo.hasNextPage).toBe(false);
  });

  it('fills a page to `first` even when some truths in the timeline were deleted', async () => {
    const me = await verity.signUp();
    await feedTexts(verity, 'homeFeed', { token: me.token });
    const ids = [];
    for (let i = 1; i <= 6; i++) ids.push((await post(verity, me.token, `keep ${i}`)).id);
    // Deleted truths are taken out of timelines; this one is still in it (as it is while the
    // deletion's effects are on their way).
    const { redis } = verity.app.internals;
    const timeline = `${redis.namespace}:m:tl:{${userIdHex(me.id)}}`;
    const position = await redis.command.zscore(timeline, fromGlobalId(ids[4]!)!.id);
    const deleted = await verity.gql(
      'mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }',
      { id: ids[4] },
      { token: me.token },
    );
    expect(deleted.errors).toBeUndefined();
    await redis.command.zadd(timeline, position!, fromGlobalId(ids[4]!)!.id);
    const page = (await feed(verity, 'homeFeed', { token: me.token, first: 3 })).data!['homeFeed'];
    expect(page.edges.map((e: any) => e.node.text)).toEqual(['keep 6', 'keep 4', 'keep 3']);
    expect(page.pageInfo.hasNextPage).toBe(true);
  });

  it('gives a follower who has not read an incomplete, expiring timeline that keeps the position they heard of a truth at', async () => {
    const reader = await verity.signUp();
    const author = await verity.signUp();
    await act(verity, reader.token, 'follow', author.id);
    const live = verity.subscribe(
      verity.connect(reader.token),
      'subscription { homeFeedUpdated { ... on TruthPosted { truth { id text } } } }',
    );
    await channelReady(verity, homeChannel(reader.id));
    await post(verity, author.token, 'while you were away');
    const heard = (await live.next()).data!['homeFeedUpdated'];
    expect(heard.truth.text).toBe('while you were away');
    const { redis } = verity.app.internals;
    const timeline = `${redis.namespace}:m:tl:{${userIdHex(reader.id)}}`;
    // Made by the post, without the sentinel of a complete timeline: the next read rebuilds it
    // around what it holds, which keeps its position (the order live subscribers saw).
    expect(await redis.command.zscore(timeline, '')).toBeNull();
    expect(await redis.command.zrange(timeline, '0', '-1')).toEqual([
      fromGlobalId(heard.truth.id)!.id,
    ]);
    expect(await redis.command.ttl(timeline)).toBeGreaterThan(0);
    expect(await feedTexts(verity, 'homeFeed', { token: reader.token })).toEqual([
      'while you were away',
    ]);
    expect(await redis.command.zscore(timeline, '')).toBe('-inf');
    live.close();
  });

  it('rebuilds a lost home timeline from MongoDB', async () => {
    const me = await verity.signUp();
    const friend = await verity.signUp();
    await act(verity, me.token, 'follow', friend.id);
    await post(verity, friend.token, 'remember me');
    await post(verity, me.token, 'and me');
    const before = await feedTexts(verity, 'homeFeed', { token: me.token });
    const { redis } = verity.app.internals;
    await deleteKeys(redis, `${redis.namespace}:m:tl:*`);
    expect(await feedTexts(verity, 'homeFeed', { token: me.token })).toEqual(before);
    await post(verity, friend.token, 'after the loss');
    expect(await feedTexts(verity, 'homeFeed', { token: me.token })).toEqual([
      'after the loss',
      ...before,
    ]);
  });

  it('keeps a home timeline of hundreds of truths in Redis’s compact encoding (the embedded redis-server’s setting)', async () => {
    const me = await verity.signUp();
    const friend = await verity.signUp();
    await act(verity, me.token, 'follow', friend.id);
    // Past Redis's default of 128 members a sorted set would turn into a skiplist.
    for (let i = 0; i < 150; i += 10)
      await Promise.all(
        Array.from({ length: 10 }, (_, k) => post(verity, friend.token, `many ${i + k}`)),
      );
    const { redis } = verity.app.internals;
    const timeline = `${redis.namespace}:m:tl:{${userIdHex(me.id)}}`;
    expect(await redis.command.zcard(timeline)).toBeGreaterThanOrEqual(150);
    expect(await redis.command.object('ENCODING', timeline)).toBe('listpack');
  });

  it('serves the public feed without replies, and hashtag feeds in any case', async () => {
    const a = await verity.signUp();
    const tag = `tag${Date.now()}`;
    const root = await post(verity, a.token, `public #${tag.toUpperCase()}`);
    await post(verity, a.token, `a reply #${tag}`, { replyToId: root.id });
    const publicTexts = await feedTexts(verity, 'publicFeed', { first: 100 });
    expect(publicTexts).toContain(`public #${tag.toUpperCase()}`);
    expect(publicTexts).not.toContain(`a reply #${tag}`);
    expect(await feedTexts(verity, 'hashtagFeed', { tag: `#${tag.toUpperCase()}` })).toEqual([
      `a reply #${tag}`,
      `public #${tag.toUpperCase()}`,
    ]);
  });

  it('serves an account’s truths, with replies only on request', async () => {
    const a = await verity.signUp();
    const root = await post(verity, a.token, 'top level');
    await post(verity, a.token, 'my reply', { replyToId: root.id });
    const query = `query($u: String!, $r: Boolean) { user(username: $u) { truthCount truths(includeReplies: $r) { edges { node { text } } } } }`;
    const without = await verity.gql(query, { u: a.username, r: false });
    expect(without.data!['user']).toEqual({
      truthCount: 2,
      truths: { edges: [{ node: { text: 'top level' } }] },
    });
    const withReplies = await verity.gql(query, { u: a.username, r: true });
    expect(withReplies.data!['user'].truths.edges.map((e: any) => e.node.text)).toEqual([
      'my reply',
      'top level',
    ]);
  });

  describe('rejects bad page arguments with BAD_USER_INPUT', () => {
    it.each([
      ['first: 0', { first: 0 }],
      ['first: 101', { first: 101 }],
      ['a forged cursor', { after: 'Zm9yZ2Vk' }],
      ['a cursor of another shape', { after: Buffer.from('v1:not-an-id').toString('base64url') }],
    ])('%s', async (_label, args) => {
      const me = await verity.signUp();
      for (const field of ['homeFeed', 'publicFeed'] as const) {
        const result = await feed(verity, field, { token: me.token, ...args });
        expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
      }
    });

    it('a home feed without a session', async () => {
      expect(errorCodes(await feed(verity, 'homeFeed'))).toEqual(['UNAUTHENTICATED']);
    });

    it('a hashtag that is not one', async () => {
      expect(errorCodes(await feed(verity, 'hashtagFeed', { tag: 'no spaces allowed' }))).toEqual([
        'BAD_USER_INPUT',
      ]);
    });
  });
});

describeOnOwnRedis('round trips per feed page', () => {
  let redis: EmbeddedRedis;
  let verity: TestServer;

  beforeAll(async () => {
    redis = await startRedisServer({ logger: createLogger({ level: 'silent' }) });
    // No admission ticks: their background commands would land among a page's.
    verity = await startVerity({
      redisUrl: redis.url,
      monitorCommands: true,
      env: { WAITLIST_TICK_MS: '600000' },
    });
  });

  afterAll(async () => {
    await verity?.stop();
    await redis?.stop();
  });

  it('costs the same number of MongoDB and Redis round trips for first: 5 and first: 50', async () => {
    const me = await verity.signUp();
    const authors = await Promise.all(Array.from({ length: 5 }, () => verity.signUp()));
    for (const author of authors) await act(verity, me.token, 'follow', author.id);
    for (let i = 0; i < 60; i++) {
      const truth = await post(
        verity,
        authors[i % authors.length]!.token,
        `truth ${i} #tag${i % 3}`,
      );
      if (i % 4 === 0) {
        await verity.gql(
          `mutation($id: ID!) { react(input: { truthId: $id, kind: LIKE }) { truth { id } } }`,
          { id: truth.id },
          { token: me.token },
        );
      }
    }
    const query = `query($first: Int) { homeFeed(first: $first) { edges { cursor node {
      id text createdAt hashtags author { id username displayName avatarUrl }
      counts { reactions replies retruths byKind { kind count } } viewerReaction viewerHasRetruthed
    } } pageInfo { hasNextPage endCursor } } }`;
    const page = (first: number) => verity.gql(query, { first }, { token: me.token });

    // Warm: the timeline and the counters are built on first use, and what a page reads from
    // Redis is kept in the process from the next read on.
    expect((await page(50)).data!['homeFeed'].edges).toHaveLength(50);
    await page(50);

    const small = await countRoundTrips(verity.app, redis.url, () => page(5));
    const large = await countRoundTrips(verity.app, redis.url, () => page(50));
    expect(large.mongo).toBe(small.mongo);
    expect(large.redis).toBe(small.redis);
    expect(large.mongoCommands).toEqual(small.mongoCommands);
    // Warm, a page needs no MongoDB at all, and one Redis command: the timeline script. The
    // session's user, the viewer's relations, truths, authors, counts, the viewer's reactions
    // and retruths are this process's copies (src/infra/near-cache.ts).
    expect(small.mongo).toBe(0);
    expect(small.redisCommands).toEqual(['evalsha']);
  });
});
