import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type EmbeddedRedis } from '../src/infra/embedded/redis-server.js';
import { scanKeys } from '../src/infra/redis.js';
import { createLogger } from '../src/infra/logger.js';
import { errorCodes, uniqueUsername, type TestUser } from './helpers/graphql.js';
import { describeOnOwnRedis } from './helpers/redis.js';
import { countRoundTrips } from './helpers/round-trips.js';
import { startVerity, useVerity, type TestServer } from './helpers/server.js';
import { act, loseRedisKeys, post, react } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

const token = () => randomBytes(3).toString('hex');

const searchUsers = `query($q: String!, $first: Int) { searchUsers(query: $q, first: $first) { username displayName } }`;
const searchHashtags = `query($p: String!, $first: Int) { searchHashtags(prefix: $p, first: $first) { tag truthCount } }`;
const trendsQuery = `{ trends { computedAt hashtags { tag score } truths { score truth { id text } } } }`;
const suggested = `query($first: Int) { suggestedAccounts(first: $first) { id username } }`;

describe('search and suggestions', () => {
  const verity = useVerity();

  const data = async (query: string, variables: Record<string, unknown>, userToken?: string) => {
    const result = await verity.gql(query, variables, { token: userToken });
    expect(result.errors).toBeUndefined();
    return result.data!;
  };
  const names = async (q: string, first?: number) =>
    ((await data(searchUsers, { q, first }))['searchUsers'] as { username: string }[]).map(
      (user) => user.username,
    );
  const setDisplayName = (user: TestUser, displayName: string) =>
    data(
      'mutation($d: String!) { updateProfile(input: { displayName: $d }) { displayName } }',
      { d: displayName },
      user.token,
    );

  it('finds people by username prefix in any case, in alphabetical order', async () => {
    const stem = `Srch${token()}`;
    const ada = await verity.signUp({ username: `${stem}_Ada` });
    const bob = await verity.signUp({ username: `${stem}_bob` });
    await verity.signUp({ username: `Other${token()}` });

    expect(await names(stem.toLowerCase())).toEqual([ada.username, bob.username]);
    expect(await names(stem.toUpperCase())).toEqual([ada.username, bob.username]);
    expect(await names(`@${stem}_a`)).toEqual([ada.username]);
    expect(await names(stem, 1)).toEqual([ada.username]);
    expect(await names(`${stem}_z`)).toEqual([]);
  });

  it('finds people by display name and by a later word of it, also after it changed', async () => {
    const tag = token();
    const grace = await verity.signUp();
    await setDisplayName(grace, `Grace${tag} Hopper${tag}`);
    expect(await names(`GRACE${tag}`)).toEqual([grace.username]);
    expect(await names(`hopper${tag}`)).toEqual([grace.username]);

    await setDisplayName(grace, `Amazing${tag} Grace`);
    expect(await names(`amazing${tag}`)).toEqual([grace.username]);
    // The old display name is no longer found, and a user matched twice shows once.
    expect(await names(`grace${tag}`)).toEqual([]);
    expect(await names(`hopper${tag}`)).toEqual([]);
  });

  it('finds hashtags by prefix with how many truths carry them, without deleted ones', async () => {
    const author = await verity.signUp();
    const stem = `ht${token()}`;
    await post(verity, author.token, `#${stem}day one`);
    const second = await post(verity, author.token, `#${stem}DAY two #${stem}pad`);
    await post(verity, author.token, `#${stem}day three`);
    await post(verity, author.token, `#x${stem} elsewhere`);

    expect((await data(searchHashtags, { p: `#${stem.toUpperCase()}` }))['searchHashtags']).toEqual(
      [
        { tag: `${stem}day`, truthCount: 3 },
        { tag: `${stem}pad`, truthCount: 1 },
      ],
    );

    const deleted = await verity.gql(
      'mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }',
      { id: second.id },
      { token: author.token },
    );
    expect(deleted.errors).toBeUndefined();
    expect((await data(searchHashtags, { p: stem }))['searchHashtags']).toEqual([
      { tag: `${stem}day`, truthCount: 2 },
    ]);
    // The truths themselves come from hashtagFeed, as before.
    const feed = await data(
      'query($t: String!) { hashtagFeed(tag: $t) { edges { node { id } } } }',
      {
        t: `${stem}day`,
      },
    );
    expect(feed['hashtagFeed'].edges).toHaveLength(2);
  });

  it('suggests the followees of followees, most shared first, then popular accounts', async () => {
    const [viewer, a, b, s1, s2, popular, muted, blocked] = await Promise.all(
      Array.from({ length: 8 }, () => verity.signUp()),
    );
    const fans = await Promise.all(Array.from({ length: 3 }, () => verity.signUp()));
    await act(verity, viewer!.token, 'follow', a!.id);
    await act(verity, viewer!.token, 'follow', b!.id);
    await act(verity, a!.token, 'follow', s1!.id);
    await act(verity, b!.token, 'follow', s1!.id);
    await act(verity, a!.token, 'follow', s2!.id);
    await act(verity, a!.token, 'follow', muted!.id);
    await act(verity, b!.token, 'follow', blocked!.id);
    for (const fan of fans) await act(verity, fan.token, 'follow', popular!.id);
    for (const fan of fans) await act(verity, fan.token, 'follow', blocked!.id);
    await act(verity, viewer!.token, 'mute', muted!.id);
    await act(verity, blocked!.token, 'block', viewer!.id);

    const ids = async (first: number) =>
      (
        (await data(suggested, { first }, viewer!.token))['suggestedAccounts'] as { id: string }[]
      ).map((user) => user.id);
    expect(await ids(3)).toEqual([s1!.id, s2!.id, popular!.id]);
    const many = await ids(20);
    for (const left of [viewer, a, b, muted, blocked]) expect(many).not.toContain(left!.id);

    // Following a suggestion takes it off the list.
    await act(verity, viewer!.token, 'follow', s1!.id);
    expect((await ids(2))[0]).toBe(s2!.id);
  });

  it('answers bad input with BAD_USER_INPUT and suggestions without a session with UNAUTHENTICATED', async () => {
    for (const [query, variables] of [
      [searchUsers, { q: '  ' }],
      [searchUsers, { q: '@' }],
      [searchUsers, { q: 'x'.repeat(51) }],
      [searchUsers, { q: 'ada', first: 0 }],
      [searchUsers, { q: 'ada', first: 21 }],
      [searchHashtags, { p: '#' }],
      [searchHashtags, { p: 'no spaces' }],
    ] as const) {
      const result = await verity.gql(query, variables);
      expect(errorCodes(result), JSON.stringify(variables)).toEqual(['BAD_USER_INPUT']);
    }
    expect(errorCodes(await verity.gql(suggested, {}))).toEqual(['UNAUTHENTICATED']);
  });

  it('rebuilds people, hashtags, suggestions and trends from MongoDB after Redis lost them', async () => {
    const stem = `Rb${token()}`;
    const ada = await verity.signUp({ username: `${stem}_ada` });
    await setDisplayName(ada, `Lovelace${stem}`);
    const fan = await verity.signUp();
    const followee = await verity.signUp();
    const friend = await verity.signUp();
    await act(verity, fan.token, 'follow', followee.id);
    await act(verity, followee.token, 'follow', friend.id);
    const tagged = await post(verity, ada.token, `#${stem}tag hello`);
    await react(verity, fan.token, tagged.id, 'LIKE');
    await post(verity, fan.token, `#${stem}tag too`, { replyToId: tagged.id });

    const snapshot = async () => ({
      byName: await names(stem),
      byDisplay: await names(`lovelace${stem}`),
      tags: (await data(searchHashtags, { p: stem }))['searchHashtags'],
      suggestions: (await data(suggested, { first: 5 }, fan.token))['suggestedAccounts'],
      trends: (({ hashtags, truths }) => ({ hashtags, truths }))(
        (await data(trendsQuery, {}))['trends'],
      ),
    });
    const before = await snapshot();
    expect(before.byName).toEqual([ada.username]);
    expect(before.byDisplay).toEqual([ada.username]);
    expect(before.tags).toEqual([{ tag: `${stem.toLowerCase()}tag`, truthCount: 2 }]);
    expect(before.suggestions[0].id).toBe(friend.id);
    expect(before.trends.hashtags.map((entry: { tag: string }) => entry.tag)).toContain(
      `${stem.toLowerCase()}tag`,
    );
    expect(before.trends.truths[0].truth.id).toBe(tagged.id);

    expect(await loseRedisKeys(verity, 'm:*')).toBeGreaterThan(0);
    // Trends' scores relative to the first: a bucket boundary between the two snapshots decays
    // every score alike (the real clock runs here), and the rebuild must keep their proportions.
    const relative = (entries: { score: number }[]) =>
      entries.map((entry) => ({
        ...entry,
        score: Math.round((entry.score / entries[0]!.score) * 1e6) / 1e6,
      }));
    const comparable = ({ trends, ...rest }: Awaited<ReturnType<typeof snapshot>>) => ({
      ...rest,
      trends: { hashtags: relative(trends.hashtags), truths: relative(trends.truths) },
    });
    expect(comparable(await snapshot())).toEqual(comparable(before));
  });
});

describe('trends', () => {
  const bucketMs = 60_000;
  // Aligned to a bucket, so the test decides which bucket each use falls in.
  const start = Math.floor(Date.now() / bucketMs) * bucketMs;
  let clock = start;
  const verity = useVerity({
    now: () => clock,
    env: {
      TRENDS_BUCKET_MS: String(bucketMs),
      TRENDS_WINDOW_MS: String(5 * bucketMs),
      TRENDS_DECAY_PERCENT: '50',
      TRENDS_REFRESH_MS: '1000',
    },
  });

  it('ranks by accounts, each counted once per window at its latest use, older use weighing less', async () => {
    const [alice, bob, carol, dave, eve] = await Promise.all(
      Array.from({ length: 5 }, () => verity.signUp()),
    );
    const x = await post(verity, eve!.token, 'truth x');
    const y = await post(verity, eve!.token, 'truth y');

    // Bucket 0: three accounts use #old, one account uses #spam five times.
    for (const user of [alice, bob, carol]) await post(verity, user!.token, '#old news');
    for (let i = 0; i < 5; i++) await post(verity, dave!.token, `#spam ${i}`);
    await react(verity, alice!.token, x.id, 'LIKE');
    await react(verity, bob!.token, x.id, 'LIKE');

    // Two buckets later (weight 1, bucket 0 now weighs 0.5² = 0.25).
    clock = start + 2 * bucketMs;
    for (const user of [alice, bob]) await post(verity, user!.token, '#fresh news');
    await post(verity, alice!.token, '#old again'); // alice moves to this bucket: once
    await post(verity, carol!.token, 'a reply', { replyToId: y.id });
    await react(verity, carol!.token, y.id, 'LOVE'); // carol again: once
    const retruth = await verity.gql(
      'mutation($id: ID!) { retruth(input: { truthId: $id }) { retruth { id } } }',
      { id: y.id },
      { token: bob!.token },
    );
    expect(retruth.errors).toBeUndefined();
    await post(verity, alice!.token, 'another reply', { replyToId: x.id }); // alice moves

    clock += 1_000;
    const trends = (await verity.gql(trendsQuery)).data!['trends'];
    expect(trends.computedAt).toBe(new Date(clock).toISOString());
    expect(trends.hashtags).toEqual([
      { tag: 'fresh', score: 2 },
      { tag: 'old', score: 1.5 },
      { tag: 'spam', score: 0.25 },
    ]);
    expect(
      trends.truths.map((entry: { score: number; truth: { id: string } }) => [
        entry.truth.id,
        entry.score,
      ]),
    ).toEqual([
      [y.id, 2],
      [x.id, 1.25],
    ]);

    // Until the refresh is due, the same trends; bucket 0 leaves the window after bucket 4.
    await post(verity, dave!.token, '#late');
    expect((await verity.gql(trendsQuery)).data!['trends']).toEqual(trends);
    clock = start + 6 * bucketMs;
    const later = (await verity.gql(trendsQuery)).data!['trends'];
    expect(later.hashtags).toEqual([
      { tag: 'fresh', score: 0.125 },
      { tag: 'late', score: 0.0625 },
      { tag: 'old', score: 0.0625 },
    ]);
    expect(
      later.truths.map((entry: { score: number; truth: { id: string } }) => [
        entry.truth.id,
        entry.score,
      ]),
    ).toEqual([
      [y.id, 0.125],
      [x.id, 0.0625],
    ]);

    // A deleted truth is left out of what is shown.
    const deleted = await verity.gql(
      'mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }',
      { id: y.id },
      { token: eve!.token },
    );
    expect(deleted.errors).toBeUndefined();
    clock += 1_000;
    const shown = (await verity.gql(trendsQuery)).data!['trends'];
    expect(shown.truths.map((entry: { truth: { id: string } }) => entry.truth.id)).toEqual([x.id]);
  });
});

describe('trends over many buckets', () => {
  const bucketMs = 60_000;
  const windowBuckets = 3;
  const decay = 0.01;
  const start = Math.floor(Date.now() / bucketMs) * bucketMs;
  let clock = start;
  const verity = useVerity({
    now: () => clock,
    env: {
      TRENDS_BUCKET_MS: String(bucketMs),
      TRENDS_WINDOW_MS: String(windowBuckets * bucketMs),
      TRENDS_DECAY_PERCENT: String(decay * 100),
      TRENDS_REFRESH_MS: '100',
    },
  });

  /** The trend window's keys in Redis, on every master. */
  const windowKeys = async () => {
    const { redis } = verity.app.internals;
    const found: string[] = [];
    for await (const { keys } of scanKeys(redis, `${redis.namespace}:m:disc:tr:*`)) {
      found.push(...keys);
    }
    return found;
  };

  it('scores exactly what the window holds as it slides a hundred buckets, past a jump and new epochs, and drops drained buckets', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => verity.signUp()));
    const stem = `w${token()}`;
    const tags = ['a', 'b', 'c', 'd', 'e'].map((letter) => `${stem}${letter}`);
    // What the window should hold: per tag, each account's latest bucket.
    const latest = new Map<string, Map<string, number>>(tags.map((tag) => [tag, new Map()]));
    const expected = (bucket: number) =>
      tags
        .map((tag) => {
          let score = 0;
          for (const at of latest.get(tag)!.values()) {
            if (bucket - at < windowBuckets) score += decay ** (bucket - at);
          }
          return { tag, score: Math.round(score * 1e6) / 1e6 };
        })
        .filter((entry) => entry.score > 0)
        .sort((a, b) => b.score - a.score || (a.tag < b.tag ? -1 : 1));
    const trendsAt = async (bucket: number) => {
      const at = new Date(clock).toISOString();
      // The refresh is one at a time: another may hold it for a moment.
      const trends = await waitFor(async () => {
        const result = await verity.gql(trendsQuery);
        expect(result.errors).toBeUndefined();
        const view = result.data!['trends'];
        return view.computedAt === at ? view : null;
      });
      const shown = (trends.hashtags as { tag: string; score: number }[]).filter((entry) =>
        entry.tag.startsWith(stem),
      );
      expect(shown, `bucket ${bucket}`).toEqual(expected(bucket));
    };

    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return Math.floor(seed / 65_536) % n;
    };
    const jumpAt = 20;
    let bucket = 0;
    let afterJump = 0;
    // Per kept state, the epochs it went through.
    const epochs = new Map<string, Set<string>>();
    for (let step = 0; step < 90; step++) {
      // Once, a jump past the window and the time its keys are sure to be kept.
      bucket += step === jumpAt ? windowBuckets + 5 : 1;
      if (step === jumpAt) afterJump = bucket;
      clock = start + bucket * bucketMs;
      for (let i = random(4); i > 0; i--) {
        const user = users[random(users.length)]!;
        const tag = tags[random(tags.length)]!;
        await post(verity, user.token, `#${tag} at ${bucket}`);
        latest.get(tag)!.set(user.id, bucket);
      }
      clock += 1_000;
      await trendsAt(bucket);
      const { redis } = verity.app.internals;
      for (const key of (await windowKeys()).filter((name) => name.endsWith(':h:state'))) {
        const seen = epochs.get(key) ?? new Set<string>();
        seen.add((await redis.command.hget(key, 'e'))!);
        epochs.set(key, seen);
      }
    }
    // The first epoch, the one after the jump, and at least one after its factors grew large.
    expect(Math.max(...[...epochs.values()].map((seen) => seen.size))).toBeGreaterThanOrEqual(3);

    // The window slides past every use: nothing is left of the buckets after the jump (those
    // before it, left behind by the jump, expire).
    for (let i = 0; i < windowBuckets + 1; i++) {
      bucket += 1;
      clock = start + bucket * bucketMs + 1_000;
      await trendsAt(bucket);
    }
    expect(expected(bucket)).toEqual([]);
    const left = (await windowKeys()).filter((name) => {
      const found = /:h:(\d+)/.exec(name);
      return found && Number(found[1]) - Math.floor(start / bucketMs) >= afterJump;
    });
    expect(left).toEqual([]);
  });
});

describe('trendsUpdated', () => {
  // No decay: a trends bucket that ends between the two posts would otherwise change the score
  // (1 -> 0.8) and rightly send a second event.
  const verity = useVerity({ env: { TRENDS_REFRESH_MS: '200', TRENDS_DECAY_PERCENT: '100' } });

  it('delivers the trends now, then live when they change', async () => {
    const author = await verity.signUp();
    const client = verity.connect(null);
    const live = verity.subscribe(
      client,
      'subscription { trendsUpdated { hashtags { tag score } } }',
    );
    const first = await live.next();
    expect(first.data).toEqual({ trendsUpdated: { hashtags: [] } });

    const tag = `live${token()}`;
    await post(verity, author.token, `#${tag} now`);
    const next = await live.next(5_000);
    expect(next.data).toEqual({ trendsUpdated: { hashtags: [{ tag, score: 1 }] } });
    // Nothing changed since: no second event for the same trends.
    await post(verity, author.token, `#${tag} again`);
    await expect(live.next(1_000)).rejects.toThrow();
    live.close();
  });
});

describeOnOwnRedis('round trips of search and discovery', () => {
  let redis: EmbeddedRedis;
  let verity: TestServer;

  beforeAll(async () => {
    redis = await startRedisServer({ logger: createLogger({ level: 'silent' }) });
    // No admission ticks: their background commands would land among the work's.
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

  it('costs the same MongoDB-free round trips for a few results and for many', async () => {
    const stem = `Rt${token()}`;
    const people = [];
    for (let i = 0; i < 24; i++) {
      people.push(await verity.signUp({ username: `${stem}_${String(i).padStart(2, '0')}` }));
    }
    const [few, many] = [people[0]!, people[1]!];
    // `few` follows two people, `many` twenty; each of those follows three.
    for (const [viewer, count] of [
      [few, 2],
      [many, 20],
    ] as const) {
      for (const followee of people.slice(2, 2 + count)) {
        await act(verity, viewer.token, 'follow', followee.id);
      }
    }
    for (let i = 2; i < 22; i++) {
      for (let j = 1; j <= 3; j++) {
        await act(verity, people[i]!.token, 'follow', people[(i + j) % people.length]!.id);
      }
    }
    for (let i = 0; i < 20; i++) await post(verity, people[i]!.token, `#${stem}${i} #${stem}`);

    const work = {
      search: (first: number) =>
        verity.gql(
          'query($q: String!, $f: Int) { searchUsers(query: $q, first: $f) { username } }',
          {
            q: stem,
            f: first,
          },
        ),
      tags: (first: number) =>
        verity.gql(
          'query($p: String!, $f: Int) { searchHashtags(prefix: $p, first: $f) { tag } }',
          {
            p: stem,
            f: first,
          },
        ),
      suggest: (viewer: TestUser) =>
        verity.gql('{ suggestedAccounts(first: 20) { username } }', {}, { token: viewer.token }),
      trends: () => verity.gql('{ trends { hashtags { tag score } truths { truth { id } } } }'),
    };
    const pairs: [() => Promise<unknown>, () => Promise<unknown>][] = [
      [() => work.search(2), () => work.search(20)],
      [() => work.tags(2), () => work.tags(20)],
      [() => work.suggest(few), () => work.suggest(many)],
      [work.trends, work.trends],
    ];
    for (const [small, large] of pairs) {
      // Warm: users and truths read once are kept in the process.
      await small();
      await large();
      const a = await countRoundTrips(verity.app, redis.url, small);
      const b = await countRoundTrips(verity.app, redis.url, large);
      expect(a.mongo).toBe(0);
      expect(b.mongo).toBe(0);
      expect(b.redisCommands).toEqual(a.redisCommands);
      expect(a.redis).toBeLessThanOrEqual(4);
    }
  });

  it('reads a page of people, their counts and the viewer’s relations in one round trip on an instance that has seen none of them', async () => {
    const stem = `Wave${token()}`;
    const viewer = await verity.signUp();
    const people: TestUser[] = [];
    for (let i = 0; i < 3; i++) people.push(await verity.signUp({ username: `${stem}_${i}` }));
    await act(verity, viewer.token, 'follow', people[1]!.id);
    const plain = `query($q: String!) { searchUsers(query: $q) { username } }`;
    const full = `query($q: String!) { searchUsers(query: $q) { username followerCount truthCount viewerIsFollowing followsViewer } }`;

    /**
     * Redis round trips one after another: a command sent once a reply has arrived since the
     * last one was sent starts a new one (commands sent together share one).
     */
    const sequentialTrips = async (query: string) => {
      const fresh = await startVerity({
        dbName: verity.dbName,
        keepDatabase: true,
        redisUrl: redis.url,
        env: { WAITLIST_TICK_MS: '600000' },
      });
      try {
        const client = fresh.app.internals.redis.command;
        const send = client.sendCommand.bind(client);
        let trips = 0;
        let replied = true;
        client.sendCommand = (...args: Parameters<typeof send>) => {
          if (replied) trips++;
          replied = false;
          const done = () => {
            replied = true;
          };
          args[0].promise.then(done, done);
          return send(...args);
        };
        const result = await fresh.gql(query, { q: stem }, { token: viewer.token });
        client.sendCommand = send;
        expect(result.errors).toBeUndefined();
        return { trips, data: result.data! };
      } finally {
        await fresh.stop();
      }
    };

    // Once on a fresh instance first, so that Redis holds every script the measured ones run.
    await sequentialTrips(full);
    const a = await sequentialTrips(plain);
    const b = await sequentialTrips(full);
    expect(b.data['searchUsers']).toEqual([
      {
        username: `${stem}_0`,
        followerCount: 0,
        truthCount: 0,
        viewerIsFollowing: false,
        followsViewer: false,
      },
      {
        username: `${stem}_1`,
        followerCount: 1,
        truthCount: 0,
        viewerIsFollowing: true,
        followsViewer: false,
      },
      {
        username: `${stem}_2`,
        followerCount: 0,
        truthCount: 0,
        viewerIsFollowing: false,
        followsViewer: false,
      },
    ]);
    // The session, the search, then the hidden check with everything the page shows.
    expect(a.trips).toBe(3);
    expect(b.trips).toBe(3);
  });

  it('joins the reads that requests in flight make in one turn into one command, each read getting its own values', async () => {
    const people: TestUser[] = [];
    for (let i = 0; i < 3; i++) people.push(await verity.signUp());
    const { model, redis: clients } = verity.app.internals;
    const recordOf = (user: TestUser) => `${model.prefix}user:{${userIdHex(user.id)}}`;
    const [a, b, c] = people.map(recordOf) as [string, string, string];
    const absent = `${model.prefix}user:{${'0'.repeat(24)}}`;
    // Item-wise reads: a joined call may carry other callers' items after a caller's own.
    const lengths = model.script(
      `local out = {}
for i, key in ipairs(KEYS) do out[i] = ARGV[1] .. ':' .. redis.call('STRLEN', key) end
return out`,
      { joined: true },
    );
    const spread = (shared: string, keys: string[]) =>
      lengths.runSpread(
        clients.command,
        keys.map((key) => ({ keys: [key] })),
        { shared: [shared] },
      );
    await spread('load', [a]);
    const lengthOf = async (key: string) => (await clients.command.strlen(key)).toString();

    let values: (string | null)[][] = [];
    let spreads: unknown[][] = [];
    const joined = await countRoundTrips(verity.app, redis.url, async () => {
      values = await Promise.all([
        model.values(clients.command, [a, b]),
        model.values(clients.command, [b]),
        model.values(clients.command, [c, absent]),
      ]);
      spreads = await Promise.all([spread('x', [a, b]), spread('x', [c]), spread('y', [b])]);
    });
    expect(joined.mongo).toBe(0);
    // One MGET for the three reads; one call per shared argument for the four spreads.
    expect(joined.redisCommands).toEqual(['mget', 'evalsha', 'evalsha']);
    expect(values.map((texts) => texts.map((text) => text && JSON.parse(text).username))).toEqual([
      [people[0]!.username, people[1]!.username],
      [people[1]!.username],
      [people[2]!.username, null],
    ]);
    expect(spreads).toEqual([
      [`x:${await lengthOf(a)}`, `x:${await lengthOf(b)}`],
      [`x:${await lengthOf(c)}`],
      [`y:${await lengthOf(b)}`],
    ]);

    // Reads one after another each go out on their own.
    const apart = await countRoundTrips(verity.app, redis.url, async () => {
      await model.values(clients.command, [a]);
      await model.values(clients.command, [b]);
    });
    expect(apart.redisCommands).toEqual(['mget', 'mget']);
  });
});

/** On a database of their own: edits and suspensions change what the rebuild test compares. */
describe('search after edits and suspensions', () => {
  const moderatorName = uniqueUsername('mod');
  const verity = useVerity({ env: { MODERATOR_USERNAMES: moderatorName } });
  const data = async (query: string, variables: Record<string, unknown>, userToken?: string) => {
    const result = await verity.gql(query, variables, { token: userToken });
    expect(result.errors).toBeUndefined();
    return result.data!;
  };

  it('counts an edited truth under the hashtags its text has now', async () => {
    const author = await verity.signUp();
    const stem = `ed${token()}`;
    const truth = await post(verity, author.token, `#${stem}old and #${stem}kept`);
    await post(verity, author.token, `#${stem}kept again`);
    const edit = (text: string) =>
      data(
        'mutation($i: EditTruthInput!) { editTruth(input: $i) { truth { id } } }',
        { i: { id: truth.id, text } },
        author.token,
      );
    await edit(`#${stem}new and #${stem}kept`);
    const counts = async () => (await data(searchHashtags, { p: stem }))['searchHashtags'];
    expect(await counts()).toEqual([
      { tag: `${stem}kept`, truthCount: 2 },
      { tag: `${stem}new`, truthCount: 1 },
    ]);
    await edit(`no tags now, #${stem}new gone too`.replace(`#${stem}new`, 'it'));
    expect(await counts()).toEqual([{ tag: `${stem}kept`, truthCount: 1 }]);
    // Deleting it afterwards uncounts what it carries now: nothing.
    const deleted = await verity.gql(
      'mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }',
      { id: truth.id },
      { token: author.token },
    );
    expect(deleted.errors).toBeUndefined();
    expect(await counts()).toEqual([{ tag: `${stem}kept`, truthCount: 1 }]);
  });

  it('leaves a suspended account out of people search and suggestions, and brings it back', async () => {
    const moderator = await verity.signUp({ username: moderatorName });
    const stem = `Susp${token()}`;
    const spammer = await verity.signUp({ username: `${stem}_spam` });
    const honest = await verity.signUp({ username: `${stem}_honest` });
    const third = await verity.signUp({ username: `${stem}_zulu` });
    const viewer = await verity.signUp();
    const friend = await verity.signUp();
    await act(verity, viewer.token, 'follow', friend.id);
    await act(verity, friend.token, 'follow', spammer.id);
    await act(verity, friend.token, 'follow', honest.id);

    const search = async (first?: number) =>
      (
        (await verity.gql(searchUsers, { q: stem, first })).data!['searchUsers'] as {
          username: string;
        }[]
      ).map((user) => user.username);
    const suggestions = async () =>
      (
        (await verity.gql(suggested, { first: 20 }, { token: viewer.token })).data![
          'suggestedAccounts'
        ] as { username: string }[]
      ).map((user) => user.username);
    expect(await search()).toEqual([honest.username, spammer.username, third.username]);
    expect(await search(2)).toEqual([honest.username, spammer.username]);
    expect(await suggestions()).toEqual(
      expect.arrayContaining([honest.username, spammer.username]),
    );

    const suspend = (mutation: 'suspendUser' | 'unsuspendUser') =>
      verity.gql(
        `mutation($i: SuspendUserInput!) { ${mutation}(input: $i) { suspended } }`,
        { i: { id: spammer.id } },
        { token: moderator.token },
      );
    expect((await suspend('suspendUser')).errors).toBeUndefined();
    expect(await search()).toEqual([honest.username, third.username]);
    // The next match takes a hidden one's place on a full page.
    expect(await search(2)).toEqual([honest.username, third.username]);
    expect(await suggestions()).not.toContain(spammer.username);
    expect(await suggestions()).toContain(honest.username);

    expect((await suspend('unsuspendUser')).errors).toBeUndefined();
    expect(await search()).toEqual([honest.username, spammer.username, third.username]);
  });
});
