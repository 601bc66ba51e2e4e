import { LRUCache } from 'lru-cache';
import type { QueryFilter } from 'mongoose';
import type { Page, PageRequest } from '../../graphql/pagination.js';
import { withLock } from '../../infra/lock.js';
import type { Logger } from '../../infra/logger.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { RedisClients } from '../../infra/redis.js';
import { objectId } from '../../lib/ids.js';
import type { RelationTopics } from '../follows/relation.events.js';
import type { RelationService } from '../follows/relation.service.js';
import type { TruthModel, TruthRecord } from '../truths/truth.model.js';
import { fromTruthWire, toTruthWire } from '../truths/truth.wire.js';
import type { UserCountStore } from '../users/user.counts.js';
import type { UserModel, UserRecord } from '../users/user.model.js';
import { fromUserWire, toUserWire } from '../users/user.wire.js';
import type { FeedEvent, FeedTopics } from './feed.events.js';
import type { FeedLists, ListCursor, ListTarget, RebuiltEntry } from './feed.lists.js';
import { FeedWatcher, createVisibilityCache } from './feed.watch.js';
import type { WhaleRegistry } from './whale.registry.js';
import type { RecordCache } from '../../infra/record-cache.js';

/** A truth as feeds hand it to the GraphQL layer: with its author when the event carried it. */
export type FeedTruth = TruthRecord & { readonly author?: UserRecord };

/** One item of a live feed. */
export type FeedUpdate =
  { kind: 'posted'; truth: FeedTruth } | { kind: 'deleted'; truthId: string };

/** What a viewer may see, loaded once per page (or per live subscription, and on changes). */
interface Visibility {
  /** Authors the viewer blocks or mutes, or who block the viewer. */
  hidden: ReadonlySet<string>;
  /** For the home feed: the viewer and whom they follow. */
  members?: ReadonlySet<string>;
  /** For the home feed: the followed whales, whose truths are merged in when read. */
  whales?: readonly string[];
}

const publicKinds = ['POST', 'RETRUTH', 'QUOTE'] as const;
const maxCatchUp = 500;
const maxFillRounds = 5;

/**
 * Home timelines, and why: capped at the newest 800 truths like Twitter's (older pages of the
 * home feed are not served; account feeds reach back forever), and expiring two weeks after
 * their last read or write, so timelines of people who stopped coming back hold no memory.
 * Unfollows, blocks and mutes are applied when a page is read (the viewer's current relations
 * filter it), so they take effect at once without rewriting timelines. A follow drops the
 * follower's timeline, rebuilt with the new followee's truths on the next read.
 */
const timelineCapacity = 800;
const timelineTtlSeconds = 14 * 24 * 3_600;

/**
 * The feeds: home (fan-out on write into Redis timelines), public and hashtag (Redis lists),
 * account and thread replies (keyset pages over MongoDB), and their live versions. Every list
 * orders truths by the position they were published at (feed.lists.ts), which is also the
 * order live subscribers receive them in, so catching up from a cursor is exact.
 *
 * Whales. Fanning a truth out costs one timeline write and one event per follower, which is
 * fine for most authors and impossible for one with tens of millions of followers. An author
 * whose followers reach `whaleThreshold` becomes a whale (a flag on the user, kept for good so
 * that their truths never move between the two paths): their truths go to their own list and
 * timeline with one `authorPosted` event only. A home page merges the followed whales' lists
 * with the timeline in the same Redis read, so a page still costs a constant number of round
 * trips; a live home feed listens on each followed whale's channel. A post costs the same for
 * a whale with 10,000 or 100,000,000 followers.
 *
 * Every page is filled to exactly `first` visible truths when that many exist, so
 * `hasNextPage` is exact: hidden or deleted items are skipped and the page is topped up from
 * the same source. In the normal case that takes one read of the source.
 */
export function createFeedService(deps: {
  Truth: TruthModel;
  User: UserModel;
  relations: RelationService;
  lists: FeedLists;
  redis: RedisClients;
  userCounts: UserCountStore;
  truthRecords: RecordCache<TruthRecord>;
  userRecords: RecordCache<UserRecord>;
  whales: WhaleRegistry;
  bus: EventBus<FeedTopics & RelationTopics>;
  whaleThreshold: number;
  logger: Logger;
}) {
  const {
    Truth,
    User,
    relations,
    lists,
    redis,
    userCounts,
    truthRecords,
    userRecords,
    whales,
    bus,
    logger,
  } = deps;

  // One event reaches many subscribers through many channels (each follower's home feed, the
  // public feed, hashtags). Converting it once per truth, not once per subscriber, is what lets
  // the live hub execute it once per operation: the hub recognises an event by its object.
  const updates = new LRUCache<string, FeedUpdate>({ max: 10_000, ttl: 60_000 });
  const updateOf = (event: FeedEvent): FeedUpdate => {
    const key = event.type === 'posted' ? `p:${event.truth.id}` : `d:${event.truthId}`;
    let update = updates.get(key);
    if (!update) {
      update =
        event.type === 'posted'
          ? {
              kind: 'posted',
              truth: { ...fromTruthWire(event.truth), author: fromUserWire(event.author) },
            }
          : { kind: 'deleted', truthId: event.truthId };
      updates.set(key, update);
    }
    return update;
  };

  /** One Redis read for the viewer's relations; whales are known in process. */
  const visibilityFor = async (viewerId: string | null, home = false): Promise<Visibility> => {
    if (!viewerId) return { hidden: new Set() };
    const { hidden, followees } = await relations.snapshot(viewerId);
    if (!home) return { hidden };
    return {
      hidden,
      members: new Set([viewerId, ...followees]),
      whales: await whales.among(followees),
    };
  };

  /**
   * Drops what the viewer must not see: deleted truths, hidden authors, non-members of a home
   * feed, and retruths whose original is deleted or by a hidden author. One query for the
   * originals of the batch's retruths.
   */
  const visibleOnly = async (
    truths: TruthRecord[],
    visibility: Visibility,
  ): Promise<TruthRecord[]> => {
    const originalIds = truths.flatMap((t) => (t.retruthOfId ? [t.retruthOfId] : []));
    const originals = await truthRecords.getMany(originalIds.map((id) => id.toHexString()));
    return truths.filter((truth) => {
      const authorId = truth.authorId.toHexString();
      if (truth.deletedAt || visibility.hidden.has(authorId)) return false;
      if (visibility.members && !visibility.members.has(authorId)) return false;
      if (truth.retruthOfId) {
        const original = originals.get(truth.retruthOfId.toHexString());
        if (
          !original ||
          original.deletedAt ||
          visibility.hidden.has(original.authorId.toHexString())
        ) {
          return false;
        }
      }
      return true;
    });
  };

  /**
   * Fills a page from a keyset source, topping it up when filtering removed items. The
   * visibility may still be loading: the first fetch overlaps it.
   */
  const fillPage = async (
    page: PageRequest,
    fetch: (afterId: string | null, limit: number) => Promise<TruthRecord[]>,
    loading: Visibility | Promise<Visibility>,
  ): Promise<Page<TruthRecord>> => {
    // Handled below, after the first fetch; a fetch that fails first must not leave it unhandled.
    const pending = Promise.resolve(loading);
    pending.catch(() => undefined);
    const want = page.first + 1;
    const visible: TruthRecord[] = [];
    let cursor = page.after;
    for (let round = 0; round < maxFillRounds && visible.length < want; round++) {
      const limit = want - visible.length + (round === 0 ? 0 : 10);
      const batch = await fetch(cursor, limit);
      visible.push(...(await visibleOnly(batch, await pending)));
      if (batch.length < limit) break;
      cursor = batch.at(-1)!._id.toHexString();
    }
    return { items: visible.slice(0, page.first), hasNextPage: visible.length > page.first };
  };

  /** Truths by id, in the order of `ids` (missing ones left out). */
  const truthsInOrder = async (ids: readonly string[]): Promise<TruthRecord[]> => {
    const byId = await truthRecords.getMany(ids);
    return ids.flatMap((id) => byId.get(id) ?? []);
  };

  const keysetFetch =
    (filter: QueryFilter<TruthRecord>, order: 1 | -1 = -1) =>
    (afterId: string | null, limit: number) =>
      Truth.find({
        ...filter,
        ...(afterId ? { _id: { [order === -1 ? '$lt' : '$gt']: objectId(afterId) } } : {}),
      })
        .sort({ _id: order })
        .limit(limit)
        .lean<TruthRecord[]>()
        .exec();

  const publicFilter: QueryFilter<TruthRecord> = {
    kind: { $in: [...publicKinds] },
    deletedAt: null,
  };
  const hashtagFilter = (tag: string): QueryFilter<TruthRecord> => ({
    hashtags: tag,
    deletedAt: null,
  });

  /** Truths of `filter` as a rebuild of a list needs them: ids and creation times. */
  const entriesOf = async (
    filter: QueryFilter<TruthRecord>,
    limit = 0,
  ): Promise<RebuiltEntry[]> => {
    const rows = await Truth.find(filter, { _id: 1, createdAt: 1 })
      .sort({ _id: -1 })
      .limit(limit)
      .lean<Pick<TruthRecord, '_id' | 'createdAt'>[]>()
      .exec();
    return rows.map((row) => ({ truthId: row._id.toHexString(), createdAt: row.createdAt }));
  };

  /** A list and how to rebuild it from MongoDB when Redis does not hold it whole. */
  interface Source {
    key: string;
    rebuild(): Promise<void>;
  }

  const publicSource: Source = {
    key: lists.keys.public,
    rebuild: async () => lists.store(lists.keys.public, await entriesOf(publicFilter)),
  };
  const hashtagSource = (tag: string): Source => ({
    key: lists.keys.hashtag(tag),
    rebuild: async () => lists.store(lists.keys.hashtag(tag), await entriesOf(hashtagFilter(tag))),
  });
  const authorSource = (authorId: string): Source => ({
    key: lists.keys.author(authorId),
    rebuild: async () =>
      lists.store(
        lists.keys.author(authorId),
        await entriesOf({ authorId: objectId(authorId), deletedAt: null }),
      ),
  });
  /** The newest truths of the user and of the non-whales they follow. */
  const timelineSource = (userId: string): Source => ({
    key: lists.keys.timeline(userId),
    async rebuild() {
      const { followees } = await relations.snapshot(userId);
      const followedWhales = new Set(await whales.among(followees));
      const authors = [userId, ...followees.filter((id) => !followedWhales.has(id))];
      const entries = await entriesOf(
        { authorId: { $in: authors.map(objectId) }, deletedAt: null },
        timelineCapacity,
      );
      await lists.store(lists.keys.timeline(userId), entries, {
        capacity: timelineCapacity,
        ttlSeconds: timelineTtlSeconds,
      });
      logger.debug({ userId, truths: entries.length }, 'home timeline rebuilt');
    },
  });

  /**
   * Reads `sources` merged by position (see feed.lists.ts); a list Redis does not hold whole is
   * rebuilt first, by one instance at a time.
   */
  const readLists = async (
    sources: readonly Source[],
    after: ListCursor | null,
    limit: number,
    order: 'asc' | 'desc',
  ): Promise<string[]> => {
    const timeline = sources[0]!.key.startsWith(lists.keys.timeline(''));
    for (let attempt = 0; ; attempt++) {
      const result = await lists.read(
        sources.map((source) => source.key),
        after,
        limit,
        order,
        timeline ? { refreshTtlSeconds: timelineTtlSeconds } : {},
      );
      if ('ids' in result) return result.ids;
      if (attempt >= 3) throw new Error(`feed list ${result.missing} keeps disappearing`);
      const source = sources.find((candidate) => candidate.key === result.missing)!;
      await withLock(
        redis,
        `feed:rebuild:${source.key}`,
        async () => {
          // Another instance may have rebuilt it while this one waited for the lock.
          const again = await lists.read([source.key], null, 1, 'desc');
          if ('missing' in again) await source.rebuild();
        },
        { ttlMs: 60_000, waitMs: 60_000 },
      );
    }
  };

  /** A keyset fetch over lists, as `fillPage` wants it. */
  const listFetch =
    (sources: readonly Source[] | Promise<readonly Source[]>) =>
    async (afterId: string | null, limit: number) =>
      truthsInOrder(
        await readLists(await sources, afterId ? { truthId: afterId } : null, limit, 'desc'),
      );

  /** What a live feed missed after `after`, oldest first. */
  const listCatchUp = async (sources: readonly Source[], after: ListCursor) =>
    truthsInOrder(await readLists(sources, after, maxCatchUp, 'asc'));

  /** A home feed's lists: the viewer's timeline and the lists of the whales they follow. */
  const homeSources = (viewerId: string, followedWhales: readonly string[]) => [
    timelineSource(viewerId),
    ...followedWhales.map(authorSource),
  ];

  /**
   * Whether an author's truths take the whale path. The post that makes an author a whale still
   * fans out: live home feeds only start listening on the whale's channel when they hear of the
   * new whale, which the flag's event tells them, in time for the next post.
   */
  const takesWhalePath = async (author: UserRecord): Promise<boolean> => {
    if (author.isWhale) return true;
    const authorId = author._id.toHexString();
    const counts = (await userCounts.get([authorId])).get(authorId);
    if (counts && counts.followers >= deps.whaleThreshold) {
      await User.updateOne({ _id: author._id }, { $set: { isWhale: true } }).exec();
      whales.add(authorId);
      await userRecords.put({ ...author, isWhale: true });
      await bus.publish('whaleFlagged', '', { userId: authorId });
      logger.info({ userId: authorId, followers: counts.followers }, 'an account became a whale');
    }
    return false;
  };

  const visibility = createVisibilityCache({
    load: async (viewerId) => {
      const { hidden, followees } = await relations.snapshot(viewerId);
      return { hidden, whales: await whales.among(followees) };
    },
    bus,
    logger,
  });
  // One listener per process: live home feeds of the new whale's followers start listening on
  // its channel before its next truth.
  bus.subscribe('whaleFlagged', '', ({ userId }) => {
    relations
      .followersAmong(userId, visibility.homeViewers())
      .then((followers) => visibility.refresh(followers))
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'could not refresh live home feeds for a new whale'),
      );
  });

  const watch = (options: ConstructorParameters<typeof FeedWatcher>[1]) =>
    new FeedWatcher({ bus, visibility, updateOf, logger }, options).stream;

  return {
    /**
     * Publishes a new truth: into the home timelines of its author and their followers with
     * one event per home feed, or, for a whale, into their own timeline and one `authorPosted`
     * event; plus the public feed (unless it is a reply), each of its hashtags, and its
     * author's list. Each list's event is published by the step that adds the truth to it (see
     * feed.lists.ts). Idempotent: publishing a truth again adds and announces nothing.
     */
    async distribute(
      truth: TruthRecord,
      author: UserRecord,
      original: TruthRecord | null,
    ): Promise<void> {
      const authorId = truth.authorId.toHexString();
      const truthId = truth._id.toHexString();
      const event: FeedEvent = {
        type: 'posted',
        truth: toTruthWire(truth),
        author: toUserWire(author),
        originalAuthorId: original ? original.authorId.toHexString() : null,
      };
      const payload = JSON.stringify(event);
      const timeline = (userId: string): ListTarget => ({
        key: lists.keys.timeline(userId),
        channel: bus.channel('homeFeed', userId),
        capacity: timelineCapacity,
        ttlSeconds: timelineTtlSeconds,
      });
      const whale = await takesWhalePath(author);
      const targets: ListTarget[] = [
        {
          key: lists.keys.author(authorId),
          ...(whale ? { channel: bus.channel('authorPosted', authorId) } : {}),
        },
        ...truth.hashtags.map((tag) => ({
          key: lists.keys.hashtag(tag),
          channel: bus.channel('hashtagFeed', tag),
        })),
      ];
      if (truth.kind !== 'REPLY') {
        targets.push({ key: lists.keys.public, channel: bus.channel('publicFeed', '') });
      }
      targets.push(timeline(authorId));
      await lists.publish(truthId, payload, targets);
      if (!whale) {
        const followers = await relations.followerIds(authorId);
        await lists.publish(truthId, payload, followers.map(timeline));
      }
    },

    /** Takes a deleted truth out of its lists and the timelines it was fanned into; announces it. */
    async retract(truth: TruthRecord): Promise<void> {
      const authorId = truth.authorId.toHexString();
      const truthId = truth._id.toHexString();
      const event: FeedEvent = { type: 'deleted', truthId, authorId };
      const author = (await userRecords.getMany([authorId])).get(authorId);
      // A whale's followers' timelines never had it (or the read filters it out, if it
      // predates the flag).
      const audience = [
        authorId,
        ...(author?.isWhale ? [] : await relations.followerIds(authorId)),
      ];
      await lists.remove(truthId, [
        lists.keys.author(authorId),
        lists.keys.public,
        ...truth.hashtags.map(lists.keys.hashtag),
        ...audience.map(lists.keys.timeline),
      ]);
      await bus.publishMany('homeFeed', audience, event);
      if (author?.isWhale) await bus.publish('authorPosted', authorId, event);
      if (truth.kind !== 'REPLY') await bus.publish('publicFeed', '', event);
      await Promise.all(truth.hashtags.map((tag) => bus.publish('hashtagFeed', tag, event)));
    },

    /**
     * The viewer's home feed: one Redis read for the timeline page merged with the lists of the
     * whales the viewer follows.
     */
    async home(viewerId: string, page: PageRequest): Promise<Page<TruthRecord>> {
      const visibility = visibilityFor(viewerId, true);
      const sources = visibility.then((loaded) => homeSources(viewerId, loaded.whales ?? []));
      return fillPage(page, listFetch(sources), visibility);
    },

    async public(viewerId: string | null, page: PageRequest): Promise<Page<TruthRecord>> {
      return fillPage(page, listFetch([publicSource]), visibilityFor(viewerId));
    },

    async hashtag(
      viewerId: string | null,
      tag: string,
      page: PageRequest,
    ): Promise<Page<TruthRecord>> {
      return fillPage(page, listFetch([hashtagSource(tag)]), visibilityFor(viewerId));
    },

    /** A user's truths; empty when either blocks the other. */
    async account(
      viewerId: string | null,
      authorId: string,
      page: PageRequest,
      includeReplies: boolean,
    ): Promise<Page<TruthRecord>> {
      if (
        viewerId &&
        viewerId !== authorId &&
        (await relations.isBlockedBetween(viewerId, authorId))
      ) {
        return { items: [], hasNextPage: false };
      }
      const filter: QueryFilter<TruthRecord> = {
        authorId: objectId(authorId),
        deletedAt: null,
        ...(includeReplies ? {} : { kind: { $ne: 'REPLY' } }),
      };
      // A profile shows its owner's truths even to someone who muted them.
      const visibility = await visibilityFor(viewerId);
      const hidden = new Set(visibility.hidden);
      hidden.delete(authorId);
      return fillPage(page, keysetFetch(filter), { hidden });
    },

    /**
     * Direct replies, oldest first. Deleted replies stay as placeholders so that the thread
     * under them stays whole; hidden authors' replies are left out.
     */
    async replies(
      viewerId: string | null,
      truthId: string,
      page: PageRequest,
    ): Promise<Page<TruthRecord>> {
      const visibility = await visibilityFor(viewerId);
      const fetch = keysetFetch({ replyToId: objectId(truthId) }, 1);
      const want = page.first + 1;
      const items: TruthRecord[] = [];
      let cursor = page.after;
      for (let round = 0; round < maxFillRounds && items.length < want; round++) {
        const batch = await fetch(cursor, want);
        items.push(...batch.filter((t) => !visibility.hidden.has(t.authorId.toHexString())));
        if (batch.length < want) break;
        cursor = batch.at(-1)!._id.toHexString();
      }
      return { items: items.slice(0, page.first), hasNextPage: items.length > page.first };
    },

    watchHome: (viewerId: string, after: string | null) =>
      watch({
        topic: 'homeFeed',
        key: viewerId,
        viewerId,
        home: true,
        after,
        catchUp: async (cursor) => {
          const visible = await visibilityFor(viewerId, true);
          const missed = await listCatchUp(homeSources(viewerId, visible.whales ?? []), cursor);
          return visibleOnly(missed, visible);
        },
      }),

    watchPublic: (viewerId: string | null, after: string | null) =>
      watch({
        topic: 'publicFeed',
        key: '',
        viewerId,
        home: false,
        after,
        catchUp: async (cursor) =>
          visibleOnly(await listCatchUp([publicSource], cursor), await visibilityFor(viewerId)),
      }),

    watchHashtag: (viewerId: string | null, tag: string, after: string | null) =>
      watch({
        topic: 'hashtagFeed',
        key: tag,
        viewerId,
        home: false,
        after,
        catchUp: async (cursor) =>
          visibleOnly(
            await listCatchUp([hashtagSource(tag)], cursor),
            await visibilityFor(viewerId),
          ),
      }),
  };
}

export type FeedService = ReturnType<typeof createFeedService>;
