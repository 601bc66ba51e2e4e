import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startVerity,
  uniqueDbName,
  useVerities,
  useVerity,
  type TestServer,
} from './helpers/server.js';
import { act, channelReady, feedTexts, homeChannel, post, react } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';

const homeUpdates = /* GraphQL */ `
  subscription ($after: String) {
    homeFeedUpdated(after: $after) {
      __typename
      ... on TruthPosted {
        cursor
        truth {
          id
          text
          author {
            username
            displayName
          }
          counts {
            reactions
          }
          viewerReaction
        }
      }
      ... on TruthDeleted {
        truthId
      }
    }
  }
`;

const publicUpdates = /* GraphQL */ `
  subscription ($after: String) {
    publicFeedUpdated(after: $after) {
      __typename
      ... on TruthPosted {
        cursor
        truth {
          text
          author {
            username
          }
        }
      }
      ... on TruthDeleted {
        truthId
      }
    }
  }
`;

const countUpdates = /* GraphQL */ `
  subscription ($id: ID!) {
    truthCountsChanged(truthId: $id) {
      truthId
      reactions
      byKind {
        kind
        count
      }
    }
  }
`;

describe('live updates', () => {
  const verity = useVerity();

  it('the story: a follower sees a truth arrive, its reactions change and its deletion, live', async () => {
    const a = await verity.signUp();
    const b = await verity.signUp();
    const c = await verity.signUp();
    await act(verity, a.token, 'follow', b.id);

    const client = verity.connect(a.token);
    const home = verity.subscribe(client, homeUpdates);
    await channelReady(verity, homeChannel(a.id));

    const truth = await post(verity, b.token, 'Hello from B');
    const posted = (await home.next()).data!['homeFeedUpdated'];
    expect(posted).toMatchObject({
      __typename: 'TruthPosted',
      truth: {
        id: truth.id,
        text: 'Hello from B',
        author: { username: b.username },
        counts: { reactions: 0 },
        viewerReaction: null,
      },
    });

    const homeFeed = await verity.gql(
      `{ homeFeed(first: 5) { edges { node { id text author { username displayName } counts { reactions byKind { kind count } } viewerReaction } } } }`,
      {},
      { token: a.token },
    );
    expect(homeFeed.data!['homeFeed'].edges[0].node).toEqual({
      id: truth.id,
      text: 'Hello from B',
      author: { username: b.username, displayName: b.username },
      counts: { reactions: 0, byKind: [] },
      viewerReaction: null,
    });

    const counts = verity.subscribe(client, countUpdates, { id: truth.id });
    expect((await counts.next()).data!['truthCountsChanged']).toEqual({
      truthId: truth.id,
      reactions: 0,
      byKind: [],
    });
    await react(verity, c.token, truth.id, 'LIKE');
    expect((await counts.next()).data!['truthCountsChanged']).toEqual({
      truthId: truth.id,
      reactions: 1,
      byKind: [{ kind: 'LIKE', count: 1 }],
    });

    await verity.gql(
      `mutation($id: ID!) { deleteTruth(input: { id: $id }) { deletedTruthId } }`,
      { id: truth.id },
      { token: b.token },
    );
    expect((await home.next()).data!['homeFeedUpdated']).toEqual({
      __typename: 'TruthDeleted',
      truthId: truth.id,
    });
    expect(await feedTexts(verity, 'homeFeed', { token: a.token })).not.toContain('Hello from B');
    expect(await feedTexts(verity, 'publicFeed', { first: 100 })).not.toContain('Hello from B');
    expect(await feedTexts(verity, 'homeFeed', { token: b.token })).not.toContain('Hello from B');
  });

  it('catches up a resubscriber from its cursor: missed truths in order, once, then live', async () => {
    const a = await verity.signUp();
    const b = await verity.signUp();
    await act(verity, a.token, 'follow', b.id);
    const first = verity.subscribe(verity.connect(a.token), homeUpdates);
    await channelReady(verity, homeChannel(a.id));
    await post(verity, b.token, 'seen live');
    const seen = (await first.next()).data!['homeFeedUpdated'];
    first.close();
    await verity.closeAll();

    for (const text of ['missed 1', 'missed 2', 'missed 3']) await post(verity, b.token, text);

    const again = verity.subscribe(verity.connect(a.token), homeUpdates, { after: seen.cursor });
    const texts: string[] = [];
    for (let i = 0; i < 3; i++)
      texts.push((await again.next()).data!['homeFeedUpdated'].truth.text);
    expect(texts).toEqual(['missed 1', 'missed 2', 'missed 3']);

    await channelReady(verity, homeChannel(a.id));
    await post(verity, b.token, 'live again');
    expect((await again.next()).data!['homeFeedUpdated'].truth.text).toBe('live again');
    expect(again.pending).toBe(0);
  });

  it('does not deliver the truths of someone the subscriber blocks or mutes', async () => {
    const viewer = await verity.signUp();
    const blocked = await verity.signUp();
    const muted = await verity.signUp();
    const friend = await verity.signUp();
    await act(verity, viewer.token, 'block', blocked.id);
    await act(verity, viewer.token, 'mute', muted.id);
    const live = verity.subscribe(verity.connect(viewer.token), publicUpdates);
    await channelReady(verity, 'publicFeed:');
    await post(verity, blocked.token, 'from the blocked');
    await post(verity, muted.token, 'from the muted');
    await post(verity, friend.token, 'from a friend');
    // The first event that arrives is the friend's: the other two were filtered out.
    const first = (await live.next()).data!['publicFeedUpdated'];
    expect(first.truth.text).toBe('from a friend');
  });

  it('stops delivering an author’s truths as soon as the subscriber blocks them', async () => {
    const viewer = await verity.signUp();
    const author = await verity.signUp();
    await act(verity, viewer.token, 'follow', author.id);
    const live = verity.subscribe(verity.connect(viewer.token), homeUpdates);
    await channelReady(verity, homeChannel(viewer.id));
    await post(verity, author.token, 'before');
    expect((await live.next()).data!['homeFeedUpdated'].truth.text).toBe('before');
    await act(verity, viewer.token, 'mute', author.id);
    await post(verity, author.token, 'after the mute');
    await post(verity, viewer.token, 'my own, after');
    expect((await live.next()).data!['homeFeedUpdated'].truth.text).toBe('my own, after');
  });

  it('delivers notifications live and keeps them, read and unread', async () => {
    const a = await verity.signUp();
    const b = await verity.signUp();
    const live = verity.subscribe(
      verity.connect(a.token),
      `subscription { notificationReceived { id kind actor { username } truth { text } read } }`,
    );
    await channelReady(verity, `notificationReceived:${userIdHex(a.id)}`);
    await act(verity, b.token, 'follow', a.id);
    const truth = await post(verity, a.token, 'notice me');
    await react(verity, b.token, truth.id, 'LOVE');
    await post(verity, b.token, `@${a.username} replying`, { replyToId: truth.id });
    await post(verity, b.token, `hey @${a.username}`);

    const received = [];
    for (let i = 0; i < 4; i++) received.push((await live.next()).data!['notificationReceived']);
    expect(received.map((n) => n.kind)).toEqual(['FOLLOWED', 'REACTED', 'REPLIED', 'MENTIONED']);
    expect(received.every((n) => n.actor.username === b.username && n.read === false)).toBe(true);
    expect(received[1].truth.text).toBe('notice me');

    const list = `{ notifications(first: 10) { unreadCount edges { node { id kind } } } }`;
    const stored = (await verity.gql(list, {}, { token: a.token })).data!['notifications'];
    expect(stored.unreadCount).toBe(4);
    expect(stored.edges.map((e: any) => e.node.kind)).toEqual([
      'MENTIONED',
      'REPLIED',
      'REACTED',
      'FOLLOWED',
    ]);

    const mark = await verity.gql(
      `mutation($ids: [ID!]) { markNotificationsRead(input: { ids: $ids }) { unreadCount } }`,
      { ids: [stored.edges[0].node.id] },
      { token: a.token },
    );
    expect(mark.data).toEqual({ markNotificationsRead: { unreadCount: 3 } });
    const all = await verity.gql(
      `mutation { markNotificationsRead(input: { all: true }) { unreadCount } }`,
      {},
      { token: a.token },
    );
    expect(all.data).toEqual({ markNotificationsRead: { unreadCount: 0 } });
    const unread = await verity.gql(
      `{ notifications(unreadOnly: true) { edges { node { id } } } }`,
      {},
      { token: a.token },
    );
    expect(unread.data!['notifications'].edges).toEqual([]);

    // Another user cannot read them, even by id.
    const stranger = await verity.gql(
      `query($id: ID!) { node(id: $id) { id } }`,
      { id: stored.edges[0].node.id },
      { token: b.token },
    );
    expect(stranger.data).toEqual({ node: null });
  });

  it('does not notify someone of the actions of a user they muted, nor of their own', async () => {
    const a = await verity.signUp();
    const muted = await verity.signUp();
    await act(verity, a.token, 'mute', muted.id);
    const truth = await post(verity, a.token, `self mention @${a.username}`);
    await react(verity, muted.token, truth.id, 'LIKE');
    await act(verity, muted.token, 'follow', a.id);
    const stored = await verity.gql(
      `{ notifications { edges { node { kind } } } }`,
      {},
      { token: a.token },
    );
    expect(stored.data!['notifications'].edges).toEqual([]);
  });
});

describe('many instances', () => {
  const dbName = uniqueDbName('multi');
  const instances: TestServer[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) instances.push(await startVerity({ dbName, keepDatabase: i > 0 }));
  });

  afterAll(async () => {
    for (const instance of instances.reverse()) await instance.stop();
  });

  it('delivers a truth posted through one instance, exactly once, to a subscriber on another', async () => {
    const [one, two, three] = instances as [TestServer, TestServer, TestServer];
    const a = await one.signUp();
    const b = await two.signUp();
    await act(three, a.token, 'follow', b.id);

    const home = one.subscribe(one.connect(a.token), homeUpdates);
    const publicFeed = one.subscribe(one.connect(a.token), publicUpdates);
    await channelReady(one, homeChannel(a.id));
    await channelReady(one, 'publicFeed:');

    await post(two, b.token, 'through instance two');
    await post(three, b.token, 'through instance three');
    expect((await home.next()).data!['homeFeedUpdated'].truth.text).toBe('through instance two');
    expect((await home.next()).data!['homeFeedUpdated'].truth.text).toBe('through instance three');
    expect((await publicFeed.next()).data!['publicFeedUpdated'].truth.text).toBe(
      'through instance two',
    );
    expect((await publicFeed.next()).data!['publicFeedUpdated'].truth.text).toBe(
      'through instance three',
    );
    // A sentinel posted last arrives next: nothing was delivered twice in between.
    await post(two, a.token, 'sentinel');
    expect((await home.next()).data!['homeFeedUpdated'].truth.text).toBe('sentinel');
    expect(home.pending).toBe(0);

    // All three instances serve the same feed.
    for (const instance of instances) {
      expect(await feedTexts(instance, 'homeFeed', { token: a.token })).toEqual([
        'sentinel',
        'through instance three',
        'through instance two',
      ]);
    }
  });
});

describe('catching up while truths are being posted', () => {
  const instances = useVerities(2);

  it('delivers every truth published after the cursor exactly once, in publish order, across reconnects', async () => {
    const [one, two] = instances as [TestServer, TestServer];
    const reader = await one.signUp();
    const authors = [await one.signUp(), await two.signUp(), await one.signUp()];
    for (const author of authors) await act(two, reader.token, 'follow', author.id);
    const perAuthor = 25;
    const total = authors.length * perAuthor;

    type Field = 'homeFeedUpdated' | 'publicFeedUpdated';
    const received: Record<Field, string[]> = { homeFeedUpdated: [], publicFeedUpdated: [] };
    const firstSessions = {
      homeFeedUpdated: one.subscribe(one.connect(reader.token), homeUpdates),
      publicFeedUpdated: one.subscribe(one.connect(reader.token), publicUpdates),
    };
    await channelReady(one, homeChannel(reader.id));
    await channelReady(one, 'publicFeed:');

    // Three authors post at once through both instances. Their truths take different paths
    // between being created and being published (hashtags, mentions, idempotency keys,
    // replies), so they are not published in the order they were created.
    const posting = Promise.all(
      authors.map(async (author, a) => {
        let parent: string | undefined;
        for (let i = 0; i < perAuthor; i++) {
          const server = instances[(a + i) % 2]!;
          const text = `catch-up ${a}.${i}${i % 3 === 0 ? ` #catchup @${reader.username}` : ''}`;
          const truth = await post(server, author.token, text, {
            ...(i % 4 === 0 ? { idempotencyKey: `key-${a}-${i}` } : {}),
            ...(i % 5 === 4 && parent ? { replyToId: parent } : {}),
          });
          parent ??= truth.id;
        }
      }),
    );

    // Each feed is dropped and resumed from its last cursor, on either instance, several
    // times while the posting goes on.
    const follow = async (field: Field, query: string, expected: number) => {
      let live = firstSessions[field];
      let cursor: string | undefined;
      for (let session = 0; received[field].length < expected; session++) {
        const take = session < 5 ? 6 + 3 * session : expected;
        for (let n = 0; n < take && received[field].length < expected; n++) {
          const update = (await live.next(20_000)).data![field];
          received[field].push(update.truth.text);
          cursor = update.cursor;
        }
        live.close();
        const server = instances[(session + 1) % 2]!;
        live = server.subscribe(server.connect(reader.token), query, { after: cursor });
      }
      return live;
    };
    const replies = authors.length * Math.floor(perAuthor / 5);
    const [, home, publicFeed] = await Promise.all([
      posting,
      follow('homeFeedUpdated', homeUpdates, total),
      follow('publicFeedUpdated', publicUpdates, total - replies),
    ]);
    // Nothing more arrives: a sentinel posted last is the next update of both.
    await Promise.all([
      channelReady([one, two], homeChannel(reader.id)),
      channelReady([one, two], 'publicFeed:'),
    ]);
    await post(one, authors[0]!.token, 'sentinel');
    expect((await home.next(20_000)).data!['homeFeedUpdated'].truth.text).toBe('sentinel');
    expect((await publicFeed.next(20_000)).data!['publicFeedUpdated'].truth.text).toBe('sentinel');

    // Each truth once, in the order it was published: the order of the feed itself.
    for (const [field, feedField] of [
      ['homeFeedUpdated', 'homeFeed'],
      ['publicFeedUpdated', 'publicFeed'],
    ] as const) {
      const page = await feedTexts(one, feedField, { token: reader.token, first: 100 });
      const published = page.filter((text) => text.startsWith('catch-up')).reverse();
      expect(published).toHaveLength(field === 'homeFeedUpdated' ? total : total - replies);
      expect(received[field]).toEqual(published);
    }
  });

  it('loses nothing when an instance’s Redis subscriber connection drops: its live feeds catch up by themselves', async () => {
    const [one, two] = instances as [TestServer, TestServer];
    const reader = await one.signUp();
    const author = await two.signUp();
    await act(one, reader.token, 'follow', author.id);
    const live = one.subscribe(one.connect(reader.token), homeUpdates);
    await channelReady(one, homeChannel(reader.id));
    const texts = Array.from({ length: 12 }, (_, i) => `through the drop ${i}`);
    for (const text of texts.slice(0, 3)) await post(two, author.token, text);

    // Redis drops instance one's subscriber connection; it reconnects on its own, and what is
    // published meanwhile never reaches it over pub/sub.
    const subscriber = one.app.internals.redis.subscriber;
    const closed = new Promise((resolve) => subscriber.once('close', resolve));
    subscriber.disconnect(true);
    await closed;
    for (const text of texts.slice(3)) await post(two, author.token, text);

    const got: string[] = [];
    for (const _ of texts) got.push((await live.next(20_000)).data!['homeFeedUpdated'].truth.text);
    expect(got).toEqual(texts);
    await post(two, author.token, 'after the drop');
    expect((await live.next(20_000)).data!['homeFeedUpdated'].truth.text).toBe('after the drop');
    expect(live.pending).toBe(0);
  });
});
