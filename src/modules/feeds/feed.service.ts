import { LRUCache } from 'lru-cache';
import type { QueryFilter } from 'mongoose';
import type { Page, PageRequest } from '../../graphql/pagination.js';
import type { Logger } from '../../infra/logger.js';
import type { EventBus } from '../../infra/pubsub.js';
import { objectId } from '../../lib/ids.js';
import type { RelationTopics } from '../follows/relation.events.js';
import type { RelationService } from '../follows/relation.service.js';
import type { TruthModel, TruthRecord } from '../truths/truth.model.js';
import { fromTruthWire, toTruthWire } from '../truths/truth.wire.js';
import type { UserCountStore } from '../users/user.counts.js';
import type { UserModel, UserRecord } from '../users/user.model.js';
import { fromUserWire, toUserWire } from '../users/user.wire.js';
import type { FeedEvent, FeedTopics } from './feed.events.js';
import { FeedWatcher, createVisibilityCache } from './feed.watch.js';
import type { TimelineStore } from './timeline.store.js';
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

const byIdDescending = (a: TruthRecord, b: TruthRecord) =>
  a._id.toHexString() < b._id.toHexString() ? 1 : -1;

/** The union of two lists, without duplicates, in `order` by id, at most `limit`. */
function mergeById(
  a: TruthRecord[],
  b: TruthRecord[],
  order: 1 | -1,
  limit: number,
): TruthRecord[] {
  if (b.length === 0) return a.slice(0, limit);
  const seen = new Set<string>();
  const merged: TruthRecord[] = [];
  const sorted = [...a, ...b].sort(byIdDescending);
  for (const truth of order === -1 ? sorted : sorted.reverse()) {
    const id = truth._id.toHexString();
    if (!seen.has(id)) {
      seen.add(id);
      merged.push(truth);
    }
  }
  return merged.slice(0, limit);
}

/**
 * The feeds: home (fan-out on write into Redis timelines, see timeline.store.ts), public,
 * hashtag, account and thread replies (keyset pages over MongoDB), and their live versions.
 *
 * Whales. Fanning a truth out costs one timeline write and one event per follower, which is
 * fine for most authors and impossible for one with tens of millions of followers. An author
 * whose followers reach `whaleThreshold` becomes a whale (a flag on the user, kept for good so
 * that their truths never move between the two paths): their truths go to their own timeline
 * and one `authorPosted` event only. A home page merges the followed whales' truths from
 * MongoDB (one indexed query) with the timeline page (one Redis read), so a page still costs a
 * constant number of round trips; a live home feed listens on each followed whale's channel.
 * A post costs the same for a whale with 10,000 or 100,000,000 followers.
 *
 * Every page is filled to exactly `first` visible truths when that many exist, so
 * `hasNextPage` is exact: hidden or deleted items are skipped and the page is topped up from
 * the same source. In the normal case that takes one read of the source.
 */
export function createFeedService(deps: {
  Truth: TruthModel;
  User: UserModel;
  relations: RelationService;
  timelines: TimelineStore;
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
    timelines,
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

  const whaleTruths = (whales: readonly string[], order: 1 | -1) =>
    keysetFetch({ authorId: { $in: whales.map(objectId) }, deletedAt: null }, order);

  /** Rebuilds a home timeline from MongoDB: the newest truths of the user and their non-whale followees. */
  const rebuildTimeline = async (userId: string): Promise<void> => {
    const { followees } = await relations.snapshot(userId);
    const followedWhales = new Set(await whales.among(followees));
    const authors = [userId, ...followees.filter((id) => !followedWhales.has(id))];
    const rows = await Truth.find(
      { authorId: { $in: authors.map(objectId) }, deletedAt: null },
      { _id: 1 },
    )
      .sort({ _id: -1 })
      .limit(timelines.capacity)
      .lean<Pick<TruthRecord, '_id'>[]>()
      .exec();
    await timelines.store(
      userId,
      rows.map((row) => row._id.toHexString()),
    );
    logger.debug({ userId, truths: rows.length }, 'home timeline rebuilt');
  };

  const timelinePage = async (userId: string, beforeId: string | null, limit: number) => {
    const ids = await timelines.page(userId, beforeId, limit);
    if (ids) return ids;
    await rebuildTimeline(userId);
    return (await timelines.page(userId, beforeId, limit)) ?? [];
  };

  const timelineSince = async (userId: string, afterId: string) => {
    const ids = await timelines.since(userId, afterId, maxCatchUp);
    if (ids) return ids;
    await rebuildTimeline(userId);
    return (await timelines.since(userId, afterId, maxCatchUp)) ?? [];
  };

  const publicFilter: QueryFilter<TruthRecord> = {
    kind: { $in: [...publicKinds] },
    deletedAt: null,
  };
  const hashtagFilter = (tag: string): QueryFilter<TruthRecord> => ({
    hashtags: tag,
    deletedAt: null,
  });

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
     * event; plus the public feed (unless it is a reply) and each of its hashtags.
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
      if (await takesWhalePath(author)) {
        await timelines.add([authorId], truthId);
        await bus.publish('homeFeed', authorId, event);
        await bus.publish('authorPosted', authorId, event);
      } else {
        const audience = [authorId, ...(await relations.followerIds(authorId))];
        await timelines.add(audience, truthId);
        await bus.publishMany('homeFeed', audience, event);
      }
      if (truth.kind !== 'REPLY') await bus.publish('publicFeed', '', event);
      await Promise.all(truth.hashtags.map((tag) => bus.publish('hashtagFeed', tag, event)));
    },

    /** Takes a deleted truth out of the timelines it was fanned into and announces it. */
    async retract(truth: TruthRecord): Promise<void> {
      const authorId = truth.authorId.toHexString();
      const truthId = truth._id.toHexString();
      const event: FeedEvent = { type: 'deleted', truthId, authorId };
      const author = await User.findById(truth.authorId, { isWhale: 1 })
        .lean<Pick<UserRecord, 'isWhale'>>()
        .exec();
      if (author?.isWhale) {
        // Followers' timelines never had it (or the read filters it out, if it predates the flag).
        await timelines.remove([authorId], truthId);
        await bus.publish('homeFeed', authorId, event);
        await bus.publish('authorPosted', authorId, event);
      } else {
        const audience = [authorId, ...(await relations.followerIds(authorId))];
        await timelines.remove(audience, truthId);
        await bus.publishMany('homeFeed', audience, event);
      }
      if (truth.kind !== 'REPLY') await bus.publish('publicFeed', '', event);
      await Promise.all(truth.hashtags.map((tag) => bus.publish('hashtagFeed', tag, event)));
    },

    /**
     * The viewer's home feed: one Redis read for the timeline page and, when they follow
     * whales, one MongoDB query for the whales' truths below the same cursor, merged.
     */
    async home(viewerId: string, page: PageRequest): Promise<Page<TruthRecord>> {
      // The timeline does not depend on the viewer's relations: read both at once.
      const visibility = visibilityFor(viewerId, true);
      const whaleTruthsBelow = async (afterId: string | null, limit: number) => {
        const whales = (await visibility).whales ?? [];
        return whales.length > 0 ? whaleTruths(whales, -1)(afterId, limit) : [];
      };
      return fillPage(
        page,
        async (afterId, limit) => {
          const [fannedOut, merged] = await Promise.all([
            timelinePage(viewerId, afterId, limit).then(truthsInOrder),
            whaleTruthsBelow(afterId, limit),
          ]);
          return mergeById(fannedOut, merged, -1, limit);
        },
        visibility,
      );
    },

    async public(viewerId: string | null, page: PageRequest): Promise<Page<TruthRecord>> {
      return fillPage(page, keysetFetch(publicFilter), visibilityFor(viewerId));
    },

    async hashtag(
      viewerId: string | null,
      tag: string,
      page: PageRequest,
    ): Promise<Page<TruthRecord>> {
      return fillPage(page, keysetFetch(hashtagFilter(tag)), visibilityFor(viewerId));
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
        catchUp: async (afterId) => {
          const page = await visibilityFor(viewerId, true);
          const whales = page.whales ?? [];
          const [fannedOut, merged] = await Promise.all([
            timelineSince(viewerId, afterId).then(truthsInOrder),
            whales.length > 0 ? whaleTruths(whales, 1)(afterId, maxCatchUp) : Promise.resolve([]),
          ]);
          return visibleOnly(mergeById(fannedOut, merged, 1, maxCatchUp), page);
        },
      }),

    watchPublic: (viewerId: string | null, after: string | null) =>
      watch({
        topic: 'publicFeed',
        key: '',
        viewerId,
        home: false,
        after,
        catchUp: async (afterId) =>
          visibleOnly(
            await keysetFetch(publicFilter, 1)(afterId, maxCatchUp),
            await visibilityFor(viewerId),
          ),
      }),

    watchHashtag: (viewerId: string | null, tag: string, after: string | null) =>
      watch({
        topic: 'hashtagFeed',
        key: tag,
        viewerId,
        home: false,
        after,
        catchUp: async (afterId) =>
          visibleOnly(
            await keysetFetch(hashtagFilter(tag), 1)(afterId, maxCatchUp),
            await visibilityFor(viewerId),
          ),
      }),
  };
}

export type FeedService = ReturnType<typeof createFeedService>;
