import { LRUCache } from 'lru-cache';
import { Types } from 'mongoose';
import type { Page, PageRequest } from '../../graphql/pagination.js';
import type { HookEffect } from '../../lib/hooks.js';
import type { Logger } from '../../infra/logger.js';
import { insertResolved, scanCollection } from '../../infra/mongo.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { RelationService, RelationTopics } from '../follows/index.js';
import {
  fromTruthWire,
  toTruthWire,
  type TruthRecord,
  type TruthService,
} from '../truths/index.js';
import { fromUserWire, toUserWire, type UserRecord } from '../users/index.js';
import type { FeedEvent, FeedTopics, SuspendedTruth } from './feed.events.js';
import type { FeedLists, ListCursor, ListTarget } from './feed.lists.js';
import { FeedWatcher, createVisibilityCache } from './feed.watch.js';
import type { WhaleFlagModel, WhaleFlagRecord } from './feed.model.js';
import type { WhaleRegistry } from './whale.registry.js';

/** A truth as feeds hand it to the GraphQL layer: with its author when the event carried it. */
export type FeedTruth = TruthRecord & { readonly author?: UserRecord };

/** One item of a live feed. */
export type FeedUpdate =
  | { kind: 'posted'; truth: FeedTruth }
  | { kind: 'deleted'; truthId: string }
  | { kind: 'edited'; truth: TruthRecord };

/** What a viewer may see, loaded once per page (or per live subscription, and on changes). */
interface Visibility {
  /** Authors the viewer blocks or mutes, or who block the viewer. */
  hidden: ReadonlySet<string>;
  /** For the home feed: the viewer and whom they follow. */
  members?: ReadonlySet<string>;
  /** For the home feed: the followed whales, whose truths are merged in when read. */
  whales?: readonly string[];
}

const maxCatchUp = 500;
const maxFillRounds = 5;

/**
 * How many of a suspended author's newest truths live feeds are told to drop (`TruthDeleted`).
 * Pages leave out every truth of a suspended author at once; a live feed only needs what its
 * client may be showing, and telling each live subscriber about the author's whole history
 * would cost an instance (subscribers × truths) deliveries. A client that shows an older one
 * drops it on its next page read.
 */
export const suspendedTruthsAnnounced = 100;

/**
 * How many of a suspended author's newest truths leave the public and hashtag lists (and come
 * back when the suspension is lifted). Pages filter suspended authors out anyway; taking their
 * truths out of the shared lists keeps a spam wave from filling pages with what is filtered.
 */
export const suspendedTruthsWithdrawn = 10_000;

/**
 * Home timelines, and why: capped at the newest 800 truths like Twitter's (older pages of the
 * home feed are not served; account feeds reach back forever), and expiring two weeks after
 * their last read or write, so timelines of people who stopped coming back hold no memory. A
 * missing one is rebuilt from the author lists of its owner and whom they follow, in Redis.
 * Unfollows, blocks and mutes are applied when a page is read (the viewer's current relations
 * filter it), so they take effect at once without rewriting timelines; a follow adds the new
 * followee's newest truths.
 */
export const timelineCapacity = 800;
export const timelineTtlSeconds = 14 * 24 * 3_600;

/**
 * The feeds: home (fan-out on write into Redis timelines), public, hashtag and account (Redis
 * lists of the read model), thread replies, and their live versions. Every list orders truths
 * by the position they were published at (feed.lists.ts), which is also the order live
 * subscribers receive them in, so catching up from a cursor is exact. Feeds follow the truths
 * and follows modules through their hooks (`truthStored`, `truthDeleted`, `followed`).
 *
 * Whales. Fanning a truth out costs one timeline write and one event per follower, which is
 * fine for most authors and impossible for one with tens of millions of followers. An author
 * whose followers reach `whaleThreshold` becomes a whale (for good, so that their truths never
 * move between the two paths; a flag in `whale_flags`): their truths go to their own lists and
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
  model: ReadModel;
  WhaleFlag: WhaleFlagModel;
  relations: RelationService;
  truths: TruthService;
  lists: FeedLists;
  whales: WhaleRegistry;
  bus: EventBus<FeedTopics & RelationTopics>;
  whaleThreshold: number;
  /** Which of these authors are suspended (their truths are left out of every feed). */
  suspendedAmong?: (authorIds: Iterable<string>) => Promise<ReadonlySet<string>>;
  logger: Logger;
}) {
  const { model, WhaleFlag, relations, truths, lists, whales, bus, logger } = deps;
  const noneSuspended: ReadonlySet<string> = new Set();
  const suspendedAmong = (authorIds: Iterable<string>) =>
    deps.suspendedAmong ? deps.suspendedAmong(authorIds) : Promise.resolve(noneSuspended);

  // One event reaches many subscribers through many channels (each follower's home feed, the
  // public feed, hashtags). Converting it once per truth, not once per subscriber, is what lets
  // the live hub execute it once per operation: the hub recognises an event by its object.
  const updates = new LRUCache<string, FeedUpdate>({ max: 10_000, ttl: 60_000 });
  const updateOf = (event: FeedEvent): FeedUpdate => {
    const key =
      event.type === 'posted'
        ? `p:${event.truth.id}`
        : event.type === 'edited'
          ? `e:${event.truth.id}:${event.truth.revision ?? 0}`
          : `d:${event.truthId}`;
    let update = updates.get(key);
    if (!update) {
      update =
        event.type === 'posted'
          ? {
              kind: 'posted',
              truth: { ...fromTruthWire(event.truth), author: fromUserWire(event.author) },
            }
          : event.type === 'edited'
            ? { kind: 'edited', truth: fromTruthWire(event.truth) }
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
    candidates: TruthRecord[],
    visibility: Visibility,
  ): Promise<TruthRecord[]> => {
    const originalIds = candidates.flatMap((t) => (t.retruthOfId ? [t.retruthOfId] : []));
    const originals = await truths.getMany(originalIds.map((id) => id.toHexString()));
    // Suspended authors: one read for the batch's authors and originals' authors (none when
    // this process holds the answers).
    const suspended = await suspendedAmong([
      ...candidates.map((t) => t.authorId.toHexString()),
      ...[...originals.values()].map((t) => t.authorId.toHexString()),
    ]);
    return candidates.filter((truth) => {
      const authorId = truth.authorId.toHexString();
      if (truth.deletedAt || visibility.hidden.has(authorId)) return false;
      if (suspended.has(authorId)) return false;
      if (visibility.members && !visibility.members.has(authorId)) return false;
      if (truth.retruthOfId) {
        const original = originals.get(truth.retruthOfId.toHexString());
        if (
          !original ||
          original.deletedAt ||
          visibility.hidden.has(original.authorId.toHexString()) ||
          suspended.has(original.authorId.toHexString())
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
    const byId = await truths.getMany(ids);
    return ids.flatMap((id) => byId.get(id) ?? []);
  };

  /**
   * Reads lists merged by position (see feed.lists.ts). A home timeline, always first, is
   * rebuilt from the author lists when Redis does not hold it whole.
   */
  const readLists = async (
    keys: readonly string[],
    after: ListCursor | null,
    limit: number,
    order: 'asc' | 'desc',
    timelineOf?: string,
  ): Promise<string[]> => {
    for (let attempt = 0; ; attempt++) {
      const result = await lists.read(keys, after, limit, order, { timeline: !!timelineOf });
      if ('ids' in result) return result.ids;
      if (attempt >= 3 || !timelineOf) throw new Error(`feed list ${result.missing} is missing`);
      await rebuildTimeline(timelineOf);
    }
  };

  /** A timeline from the author lists of its owner and the non-whales they follow. */
  const rebuildTimeline = async (userId: string) => {
    const { followees } = await relations.snapshot(userId);
    const followedWhales = new Set(await whales.among(followees));
    const authors = [userId, ...followees.filter((id) => !followedWhales.has(id))];
    await lists.rebuildTimeline(lists.keys.timeline(userId), authors.map(lists.keys.author));
    logger.debug({ userId, authors: authors.length }, 'home timeline rebuilt');
  };

  /** A keyset fetch over lists, as `fillPage` wants it. */
  const listFetch =
    (keys: readonly string[] | Promise<readonly string[]>, timelineOf?: string) =>
    async (afterId: string | null, limit: number) =>
      truthsInOrder(
        await readLists(
          await keys,
          afterId ? { truthId: afterId } : null,
          limit,
          'desc',
          timelineOf,
        ),
      );

  /** A home feed's lists: the viewer's timeline and the lists of the whales they follow. */
  const homeLists = (viewerId: string, followedWhales: readonly string[]) => [
    lists.keys.timeline(viewerId),
    ...followedWhales.map(lists.keys.author),
  ];

  /**
   * Whether an author's truths take the whale path. The post that makes an author a whale still
   * fans out: live home feeds only start listening on the whale's channel when they hear of the
   * new whale, which the flag's event tells them, in time for the next post.
   */
  const takesWhalePath = async (authorId: string): Promise<boolean> => {
    if (await whales.isWhale(authorId)) return true;
    const counts = (await relations.counts([authorId])).get(authorId);
    if (counts && counts.followers >= deps.whaleThreshold) {
      const flag: WhaleFlagRecord = { _id: new Types.ObjectId(authorId), at: new Date() };
      await insertResolved(() => WhaleFlag.collection.insertOne(flag), { unknown: {} });
      await whales.flag(authorId);
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

  /** This process's live feeds, for suspensions. */
  const watchers = new Set<FeedWatcher>();
  const closed = (watcher: FeedWatcher) => watchers.delete(watcher);
  const watch = (options: ConstructorParameters<typeof FeedWatcher>[1]) => {
    const watcher = new FeedWatcher({ bus, visibility, updateOf, closed, logger }, options);
    if (!watcher.stream.closed) watchers.add(watcher);
    return watcher.stream;
  };

  /**
   * A suspension, on every instance: each live feed here that may show the author's truths gets
   * a `TruthDeleted` for those it may show: home feeds of the author and of their followers
   * (one Redis read for all of this process's home viewers), the public feed for the truths
   * that are not replies, a hashtag feed for the truths carrying its tag. Blocks and mutes are
   * not consulted: a deletion of a truth a client never showed is one it ignores.
   */
  const retractSuspended = async (event: FeedTopics['authorSuspended']) => {
    if (watchers.size === 0 || event.truths.length === 0) return;
    const homeViewers = [
      ...new Set(
        [...watchers].flatMap((w) => (w.feed.home && w.feed.viewerId ? [w.feed.viewerId] : [])),
      ),
    ];
    const followers = new Set(
      homeViewers.length > 0 ? await relations.followersAmong(event.authorId, homeViewers) : [],
    );
    followers.add(event.authorId);
    const all = event.truths.map((truth) => truth.id);
    const posts = event.truths.filter((truth) => !truth.reply).map((truth) => truth.id);
    for (const watcher of watchers) {
      const { topic, key, viewerId } = watcher.feed;
      if (topic === 'homeFeed') {
        if (viewerId && followers.has(viewerId)) watcher.retract(event.authorId, all);
      } else if (topic === 'publicFeed') {
        watcher.retract(event.authorId, posts);
      } else {
        const tagged = event.truths.filter((truth) => truth.hashtags.includes(key));
        watcher.retract(
          event.authorId,
          tagged.map((truth) => truth.id),
        );
      }
    }
  };
  bus.subscribe('authorSuspended', '', (event) => {
    retractSuspended(event).catch((error: unknown) =>
      logger.warn({ err: error }, 'could not retract a suspended author from live feeds'),
    );
  });

  /** The shared lists (public, hashtags) holding a truth. */
  const sharedListsOf = (truth: TruthRecord) => [
    ...truth.hashtags.map(lists.keys.hashtag),
    ...(truth.kind === 'REPLY' ? [] : [lists.keys.public]),
  ];

  /** Calls `onBatch` with the author's newest live truths, up to `suspendedTruthsWithdrawn`. */
  const eachAuthoredTruth = async (
    authorId: string,
    onBatch: (batch: TruthRecord[]) => Promise<void>,
  ) => {
    const read = await lists.read(
      [lists.keys.author(authorId)],
      null,
      suspendedTruthsWithdrawn,
      'desc',
    );
    if (!('ids' in read)) return;
    for (let i = 0; i < read.ids.length; i += 500) {
      const batch = await truthsInOrder(read.ids.slice(i, i + 500));
      await onBatch(batch.filter((truth) => !truth.deletedAt));
    }
  };

  /** Takes a suspended author's truths out of the public and hashtag lists. */
  const withdrawSuspended = (authorId: string) =>
    eachAuthoredTruth(authorId, async (batch) => {
      const members = new Map<string, string[]>();
      for (const truth of batch) {
        for (const list of sharedListsOf(truth)) {
          members.set(list, [...(members.get(list) ?? []), truth._id.toHexString()]);
        }
      }
      await lists.withdraw(members);
    });

  /** Puts an author's truths back into the public and hashtag lists (a suspension lifted). */
  const restoreUnsuspended = (authorId: string) =>
    eachAuthoredTruth(authorId, (batch) =>
      lists.restore(
        batch.flatMap((truth) =>
          sharedListsOf(truth).map((list) => ({
            list,
            entry: { truthId: truth._id.toHexString(), createdAt: truth.createdAt },
          })),
        ),
      ),
    );

  /** Tells every instance's live feeds that an author was suspended (see `retractSuspended`). */
  const announceSuspended = async (authorId: string): Promise<void> => {
    const ids = await lists.read(
      [lists.keys.author(authorId)],
      null,
      suspendedTruthsAnnounced,
      'desc',
    );
    if (!('ids' in ids) || ids.ids.length === 0) return;
    const records = await truths.getMany(ids.ids);
    const suspendedTruths: SuspendedTruth[] = ids.ids.flatMap((id) => {
      const truth = records.get(id);
      return truth ? [{ id, reply: truth.kind === 'REPLY', hashtags: truth.hashtags }] : [];
    });
    await bus.publish('authorSuspended', '', { authorId, truths: suspendedTruths });
  };

  /**
   * Publishes a new truth: into the home timelines of its author and their followers with
   * one event per home feed, or, for a whale, into their own timeline and one `authorPosted`
   * event; plus the public feed (unless it is a reply), each of its hashtags, and its author's
   * lists. Each list's event is published by the step that adds the truth to it (see
   * feed.lists.ts). Idempotent: publishing a truth again adds and announces nothing.
   */
  const distribute = async (
    truth: TruthRecord,
    author: UserRecord,
    original: TruthRecord | null,
  ): Promise<void> => {
    const authorId = truth.authorId.toHexString();
    const truthId = truth._id.toHexString();
    const event: FeedEvent = {
      type: 'posted',
      truth: toTruthWire(truth),
      author: toUserWire(author),
      originalAuthorId: original ? original.authorId.toHexString() : null,
    };
    const payload = JSON.stringify(event);
    const whale = await takesWhalePath(authorId);
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
      targets.push({ key: lists.keys.authorPosts(authorId) });
      targets.push({ key: lists.keys.public, channel: bus.channel('publicFeed', '') });
    }
    const homeRoute = bus.routeChannel('homeFeed');
    await lists.publish(truthId, payload, { lists: targets, timelines: [authorId] }, homeRoute);
    if (!whale) {
      const followers = await relations.followerIds(authorId);
      await lists.publish(truthId, payload, { timelines: followers }, homeRoute);
    }
  };

  /** Takes a deleted truth out of its lists and the timelines it was fanned into; announces it. */
  const retract = async (truth: TruthRecord): Promise<void> => {
    const authorId = truth.authorId.toHexString();
    const truthId = truth._id.toHexString();
    const event: FeedEvent = { type: 'deleted', truthId, authorId };
    const whale = await whales.isWhale(authorId);
    // A whale's followers' timelines never had it (or the read filters it out, if it
    // predates the flag).
    const audience = [authorId, ...(whale ? [] : await relations.followerIds(authorId))];
    await lists.remove(truthId, [
      lists.keys.author(authorId),
      lists.keys.authorPosts(authorId),
      lists.keys.public,
      ...truth.hashtags.map(lists.keys.hashtag),
      ...audience.map(lists.keys.timeline),
    ]);
    await bus.publishMany('homeFeed', audience, event);
    if (whale) await bus.publish('authorPosted', authorId, event);
    if (truth.kind !== 'REPLY') await bus.publish('publicFeed', '', event);
    await Promise.all(truth.hashtags.map((tag) => bus.publish('hashtagFeed', tag, event)));
  };

  /**
   * An edited truth's hashtag lists follow its new text: it leaves the lists of the tags it
   * dropped, and enters those of its new tags at the position of its creation (where a rebuild
   * puts it too), not as news: hashtag pages are ordered by when truths were posted. Then
   * every feed that may show it hears `edited`: its audience's home feeds (or its whale
   * channel), the public feed, and the hashtags it carried before or carries now.
   */
  const revise = async (truth: TruthRecord, previous: TruthRecord): Promise<void> => {
    const authorId = truth.authorId.toHexString();
    const truthId = truth._id.toHexString();
    const dropped = previous.hashtags.filter((tag) => !truth.hashtags.includes(tag));
    const added = truth.hashtags.filter((tag) => !previous.hashtags.includes(tag));
    if (dropped.length > 0) await lists.remove(truthId, dropped.map(lists.keys.hashtag));
    if (added.length > 0) {
      const entry = { truthId, createdAt: truth.createdAt };
      await lists.replay(added.map((tag) => ({ list: lists.keys.hashtag(tag), entry })));
    }
    const event: FeedEvent = { type: 'edited', truth: toTruthWire(truth) };
    const whale = await whales.isWhale(authorId);
    const audience = [authorId, ...(whale ? [] : await relations.followerIds(authorId))];
    await bus.publishMany('homeFeed', audience, event);
    if (whale) await bus.publish('authorPosted', authorId, event);
    if (truth.kind !== 'REPLY') await bus.publish('publicFeed', '', event);
    const tags = new Set([...previous.hashtags, ...truth.hashtags]);
    await Promise.all([...tags].map((tag) => bus.publish('hashtagFeed', tag, event)));
  };

  // The lists are part of the read model: rebuilt from every truth the truths' rebuild reads.
  truths.onReplay(async (batch) => {
    const entries = batch.flatMap((truth) => {
      if (truth.deletedAt) return [];
      const authorId = truth.authorId.toHexString();
      const entry = { truthId: truth._id.toHexString(), createdAt: truth.createdAt };
      return [
        lists.keys.author(authorId),
        ...truth.hashtags.map(lists.keys.hashtag),
        ...(truth.kind === 'REPLY' ? [] : [lists.keys.authorPosts(authorId), lists.keys.public]),
      ].map((list) => ({ list, entry }));
    });
    await lists.replay(entries);
  });
  model.family('whales', async (client) => {
    await scanCollection<WhaleFlagRecord>(WhaleFlag, async (batch) => {
      await client.sadd(lists.keys.whales, ...batch.map((flag) => flag._id.toHexString()));
    });
  });

  return {
    /** What feeds do after a truth is stored (registered on the truths' hooks). */
    afterTruthStored: (stored: {
      truth: TruthRecord;
      author: UserRecord;
      original: TruthRecord | null;
    }): HookEffect[] => [() => distribute(stored.truth, stored.author, stored.original)],

    /** What feeds do after a truth's text is edited. */
    afterTruthEdited: ({
      truth,
      previous,
    }: {
      truth: TruthRecord;
      previous: TruthRecord;
    }): HookEffect[] => [() => revise(truth, previous)],
    /**
     * What feeds do after an account is suspended (registered on the moderation hooks): pages
     * leave its truths out at once (`suspendedAmong`); live feeds are told here.
     */
    afterAuthorSuspended: ({ userId }: { userId: string }): HookEffect[] => [
      () => announceSuspended(userId),
      () => withdrawSuspended(userId),
    ],

    /** What feeds do after a suspension is lifted: the truths return to the shared lists. */
    afterAuthorUnsuspended: ({ userId }: { userId: string }): HookEffect[] => [
      () => restoreUnsuspended(userId),
    ],

    /** What feeds do after a truth is deleted. */
    afterTruthDeleted: ({ truth }: { truth: TruthRecord }): HookEffect[] => [() => retract(truth)],

    /** What feeds do after a follow: the new followee's newest truths join the timeline. */
    afterFollowed: ({
      followerId,
      followeeId,
    }: {
      followerId: string;
      followeeId: string;
    }): HookEffect[] => [
      async () => {
        if (await whales.isWhale(followeeId)) return;
        await lists.mergeIntoTimeline(
          lists.keys.timeline(followerId),
          lists.keys.author(followeeId),
        );
      },
    ],

    /**
     * The viewer's home feed: one Redis read for the timeline page merged with the lists of the
     * whales the viewer follows.
     */
    async home(viewerId: string, page: PageRequest): Promise<Page<TruthRecord>> {
      const visible = visibilityFor(viewerId, true);
      const keys = visible.then((loaded) => homeLists(viewerId, loaded.whales ?? []));
      return fillPage(page, listFetch(keys, viewerId), visible);
    },

    async public(viewerId: string | null, page: PageRequest): Promise<Page<TruthRecord>> {
      return fillPage(page, listFetch([lists.keys.public]), visibilityFor(viewerId));
    },

    async hashtag(
      viewerId: string | null,
      tag: string,
      page: PageRequest,
    ): Promise<Page<TruthRecord>> {
      return fillPage(page, listFetch([lists.keys.hashtag(tag)]), visibilityFor(viewerId));
    },

    /** A user's truths, newest first; empty when either blocks the other. */
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
      // A profile shows its owner's truths even to someone who muted them.
      const visible = await visibilityFor(viewerId);
      const hidden = new Set(visible.hidden);
      hidden.delete(authorId);
      const list = includeReplies ? lists.keys.author(authorId) : lists.keys.authorPosts(authorId);
      return fillPage(page, listFetch([list]), { hidden });
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
      const visible = await visibilityFor(viewerId);
      const want = page.first + 1;
      const items: TruthRecord[] = [];
      let cursor = page.after;
      for (let round = 0; round < maxFillRounds && items.length < want; round++) {
        const batch = await truths.replies(truthId, cursor, want);
        const suspended = await suspendedAmong(batch.map((t) => t.authorId.toHexString()));
        items.push(
          ...batch.filter((t) => {
            const authorId = t.authorId.toHexString();
            return !visible.hidden.has(authorId) && !suspended.has(authorId);
          }),
        );
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
          const ids = await readLists(
            homeLists(viewerId, visible.whales ?? []),
            cursor,
            maxCatchUp,
            'asc',
            viewerId,
          );
          return visibleOnly(await truthsInOrder(ids), visible);
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
          visibleOnly(
            await truthsInOrder(await readLists([lists.keys.public], cursor, maxCatchUp, 'asc')),
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
        catchUp: async (cursor) =>
          visibleOnly(
            await truthsInOrder(
              await readLists([lists.keys.hashtag(tag)], cursor, maxCatchUp, 'asc'),
            ),
            await visibilityFor(viewerId),
          ),
      }),
  };
}

export type FeedService = ReturnType<typeof createFeedService>;
