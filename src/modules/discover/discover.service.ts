import type { Logger } from '../../infra/logger.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { RedisClients } from '../../infra/redis.js';
import { SlowConsumerError } from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import type { HookEffect } from '../../lib/hooks.js';
import type { RelationHooks, RelationService } from '../follows/index.js';
import type { ReactionEventRecord, ReactionHooks, ReactionService } from '../reactions/index.js';
import type { TruthEditHooks, TruthHooks, TruthRecord, TruthService } from '../truths/index.js';
import type { UserHooks, UserService } from '../users/index.js';
import type { DiscoverTopics, TrendsView } from './discover.events.js';
import type { DiscoverStore, TrendKind } from './discover.store.js';

/** How many trending hashtags and truths are shown. */
export const trendsShown = 10;
/** Trending truths kept per computation: more than are shown, for the deleted ones. */
const truthsKept = 2 * trendsShown;
/** Followees whose own followees are considered for a viewer's suggestions. */
const suggestionSources = 25;
/** Followees read of each of them. */
const suggestionsPerSource = 50;
/** Popular accounts read for suggestions, before the viewer's own exclusions. */
const popularRead = 100;

/** A use that trends count: an account used a hashtag, or engaged with a truth. */
interface Use {
  kind: TrendKind;
  member: string;
  account: string;
  atMs: number;
}

/** What a stored truth counts for: its hashtags, and an engagement with what it relates to. */
function usesOf(truth: TruthRecord): Use[] {
  const account = truth.authorId.toHexString();
  const atMs = truth.createdAt.getTime();
  const uses: Use[] = truth.hashtags.map((tag) => ({
    kind: 'hashtag',
    member: tag,
    account,
    atMs,
  }));
  const related = truth.replyToId ?? truth.quoteOfId ?? truth.retruthOfId;
  if (related) uses.push({ kind: 'truth', member: related.toHexString(), account, atMs });
  return uses;
}

/** The part of the trends that decides whether they changed (not when they were computed). */
const contentOf = (view: TrendsView) => JSON.stringify([view.hashtags, view.truths]);

const rounded = (score: number) => Math.round(score * 1e6) / 1e6;

/**
 * Search and discovery: people and hashtags by prefix, trends, suggested accounts. Everything
 * is read from discover's own Redis keys (discover.store.ts), kept by after-write hooks on the
 * modules it follows (users, truths, reactions, follows; registered in modules/index.ts) and
 * rebuilt from what they replay while the read model is rebuilt. No request reads MongoDB.
 *
 * Trends: each use lands in the time bucket of the clock (`now`) when its effect runs (the
 * rebuild places it by the fact's own time); the trends are the top of the running scores
 * (discover.store.ts), computed by one instance at a time at most every `refreshMs` and
 * published on the bus when they changed, so every instance's `trendsUpdated` subscribers get
 * them. Computing them reads each shard's top, whatever the window holds.
 */
export function createDiscoverService(deps: {
  store: DiscoverStore;
  redis: RedisClients;
  users: UserService;
  truths: TruthService;
  reactions: ReactionService;
  relations: RelationService;
  bus: EventBus<DiscoverTopics>;
  refreshMs: number;
  /** The trend window's bucket size (ms). */
  bucketMs: number;
  /** The clock trends read (ms); tests move it. */
  now: () => number;
  /**
   * Which of these accounts nobody may be shown (suspended by moderators): left out of
   * searches, suggestions and trending truths.
   */
  hiddenAmong: (userIds: readonly string[]) => Promise<ReadonlySet<string>>;
  logger: Logger;
}) {
  const { store, redis, relations, bus, refreshMs, now, logger } = deps;

  const recordUses = async (uses: readonly Use[]) => {
    const at = now();
    for (const use of uses) await store.recordUse(use.kind, use.member, use.account, at, at);
  };

  const parse = (text: string | null): TrendsView | null =>
    text ? (JSON.parse(text) as TrendsView) : null;

  /** Computes the trends now, saves them, and announces them when they changed. */
  const compute = async (previous: TrendsView | null): Promise<TrendsView> => {
    const computedAt = now();
    const scores = await store.computeScores(computedAt, truthsKept);
    const order = (a: { score: number; key: string }, b: { score: number; key: string }) =>
      b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    const view: TrendsView = {
      computedAt,
      hashtags: scores.hashtags
        .map(({ member, score }) => ({ tag: member, score: rounded(score), key: member }))
        .sort(order)
        .slice(0, trendsShown)
        .map(({ tag, score }) => ({ tag, score })),
      truths: scores.truths
        // Newer truths first among equals: ids grow with time.
        .map(({ member, score }) => ({ truthId: member, score: rounded(score), key: '' }))
        .sort((a, b) => order(a, b) || (a.truthId < b.truthId ? 1 : -1))
        .map(({ truthId, score }) => ({ truthId, score })),
    };
    await store.saveSnapshot(JSON.stringify(view));
    if (!previous || contentOf(previous) !== contentOf(view)) {
      await bus.publish('trendsUpdated', 'all', view);
    }
    return view;
  };

  /**
   * The trends: the saved ones while fresh, else computed again (by one instance at a time);
   * the saved ones, stale, when computing them failed.
   */
  const trends = async (): Promise<TrendsView> => {
    const saved = parse(await store.snapshot());
    if (saved && saved.computedAt + refreshMs > now()) return saved;
    if (saved && !(await store.claimRefresh(refreshMs))) return saved;
    try {
      return await compute(saved);
    } catch (error) {
      if (!saved) throw error;
      logger.warn({ err: error }, 'trends not computed; answering the last ones');
      return saved;
    }
  };

  // Live trends: one bus listener per subscriber (the bus shares the channel), and while this
  // instance has any, a timer that refreshes the trends every `refreshMs`; whichever instance
  // computes them publishes, and every instance delivers.
  let watchers = 0;
  let timer: NodeJS.Timeout | undefined;
  let upkeep: NodeJS.Timeout | undefined;
  const tick = () => {
    trends().catch((error: unknown) => logger.debug({ err: error }, 'trends not refreshed'));
  };

  // Rebuilds: what the modules this one follows replay while the read model is rebuilt.
  deps.users.onReplay((batch) => store.rebuild.indexUsers(redis.command, batch));
  deps.truths.onReplay(async (batch) => {
    await store.rebuild.tags(
      redis.command,
      batch.map((truth) => ({
        id: truth._id.toHexString(),
        hashtags: truth.hashtags,
        deleted: truth.deletedAt !== null,
        revision: truth.revision ?? 0,
      })),
    );
    await store.rebuild.uses(redis.command, batch.flatMap(usesOf), now());
  });
  deps.reactions.onReplay((events: readonly ReactionEventRecord[]) =>
    store.rebuild.uses(
      redis.command,
      events
        .filter((event) => event.kind !== null)
        .map((event) => ({
          kind: 'truth' as const,
          member: event.truthId.toHexString(),
          account: event.userId.toHexString(),
          atMs: event.at.getTime(),
        })),
      now(),
    ),
  );
  relations.onReplayFollowerCounts((counts) => store.rebuild.followerCounts(redis.command, counts));

  return {
    /**
     * Drains the buckets that left the trend window, off any request, on one instance at a time,
     * ten times a bucket (every second to every 30 seconds): computing the trends then finds
     * little or nothing left to drain.
     */
    start(): void {
      if (upkeep) return;
      const everyMs = Math.min(30_000, Math.max(1_000, Math.floor(deps.bucketMs / 10)));
      upkeep = setInterval(() => {
        void (async () => {
          if (await store.claimUpkeep(everyMs)) await store.drain(now());
        })().catch((error: unknown) => {
          logger.warn({ err: error }, 'draining the trend window failed; retried later');
        });
      }, everyMs);
      upkeep.unref();
    },
    stop(): void {
      clearInterval(upkeep);
      upkeep = undefined;
    },

    // After-write hooks (modules/index.ts). Each effect is idempotent: names are replaced,
    // tags counted once per truth, an account's use counted once per window.
    afterAccountCreated: ({ user }: UserHooks['accountCreated']): HookEffect[] => [
      () => store.indexUser(user),
    ],
    afterProfileChanged: ({ user }: UserHooks['profileChanged']): HookEffect[] => [
      () => store.indexUser(user),
    ],
    afterTruthStored: ({ truth }: TruthHooks['truthStored']): HookEffect[] => [
      async () => {
        if (truth.hashtags.length > 0) {
          await store.truthTagged(truth._id.toHexString(), truth.hashtags);
        }
      },
      () => recordUses(usesOf(truth)),
    ],
    afterTruthDeleted: ({ truth }: TruthHooks['truthDeleted']): HookEffect[] =>
      truth.hashtags.length > 0
        ? [() => store.truthUntagged(truth._id.toHexString(), truth.hashtags)]
        : [],
    /** An edit's hashtags: the dropped ones uncounted, the added ones counted and used. */
    afterTruthEdited: ({ truth, previous }: TruthEditHooks['truthEdited']): HookEffect[] => {
      const dropped = previous.hashtags.filter((tag) => !truth.hashtags.includes(tag));
      const added = truth.hashtags.filter((tag) => !previous.hashtags.includes(tag));
      if (dropped.length === 0 && added.length === 0) return [];
      const account = truth.authorId.toHexString();
      return [
        () => store.truthRetagged(truth._id.toHexString(), truth.revision ?? 0, dropped, added),
        () =>
          recordUses(
            added.map((tag) => ({ kind: 'hashtag' as const, member: tag, account, atMs: now() })),
          ),
      ];
    },
    afterReacted: ({ userId, truth }: ReactionHooks['reacted']): HookEffect[] => [
      () =>
        recordUses([
          { kind: 'truth', member: truth._id.toHexString(), account: userId, atMs: now() },
        ]),
    ],
    afterFollowed: ({ followeeId }: RelationHooks['followed']): HookEffect[] => [
      async () => {
        const counts = await relations.counts([followeeId]);
        await store.setFollowerCount(followeeId, counts.get(followeeId)?.followers ?? 0);
      },
    ],

    /**
     * Up to `limit` user ids whose names start with `prefix` (normalised), none hidden. `alongside` is
     * started with the check of which are hidden, on the first `limit` found: the reads the
     * caller will make of them, so that both take one round trip.
     */
    async searchUsers(
      prefix: string,
      limit: number,
      alongside?: (ids: readonly string[]) => Promise<unknown>,
    ): Promise<string[]> {
      // Read twice as many, and check the page first: hidden accounts are few, so a page is
      // nearly always one round trip, and the rest are checked only to fill a hidden one's place.
      const ids = await store.searchUsers(prefix, limit * 2);
      const page = ids.slice(0, limit);
      const [hidden] = await Promise.all([deps.hiddenAmong(page), alongside?.(page)]);
      if (hidden.size === 0) return page;
      const rest = ids.slice(limit);
      const hiddenRest = await deps.hiddenAmong(rest);
      return ids.filter((id) => !hidden.has(id) && !hiddenRest.has(id)).slice(0, limit);
    },

    /** Which of these accounts must not be shown (see `hiddenAmong`). */
    hiddenAmong: (userIds: readonly string[]) => deps.hiddenAmong(userIds),

    /** Up to `limit` hashtags starting with `prefix` (normalised), with their counts. */
    searchHashtags: (prefix: string, limit: number) => store.hashtagsByPrefix(prefix, limit),

    trends,

    /**
     * Up to `limit` accounts for the viewer to follow: followees of the viewer's newest
     * followees (most shared first), then the most followed; never the viewer, a followee,
     * or a user hidden from or hiding the viewer. Three reads whatever the network's size.
     */
    async suggestedAccounts(viewerId: string, limit: number): Promise<string[]> {
      const [snapshot, popular] = await Promise.all([
        relations.snapshot(viewerId),
        store.popular(popularRead),
      ]);
      const excluded = new Set([viewerId, ...snapshot.followees, ...snapshot.hidden]);
      const sources = snapshot.followees.slice(-suggestionSources);
      const lists = await relations.newestFolloweesOfMany(sources, suggestionsPerSource);
      const shared = new Map<string, number>();
      for (const list of lists) {
        for (const id of list) if (!excluded.has(id)) shared.set(id, (shared.get(id) ?? 0) + 1);
      }
      const rank = new Map(popular.map((id, i) => [id, i]));
      const byRank = (id: string) => rank.get(id) ?? popular.length;
      const friends = [...shared.keys()].sort(
        (a, b) => shared.get(b)! - shared.get(a)! || byRank(a) - byRank(b) || (a < b ? -1 : 1),
      );
      const candidates = [
        ...friends,
        ...popular.filter((id) => !excluded.has(id) && !shared.has(id)),
      ];
      const hidden = await deps.hiddenAmong(candidates);
      return candidates.filter((id) => !hidden.has(id)).slice(0, limit);
    },

    /** The trends now, then each time they change (checked every `refreshMs`). */
    watchTrends(): EventStream<TrendsView> {
      let last = '';
      const deliver = (view: TrendsView) => {
        const content = contentOf(view);
        if (content === last) return;
        last = content;
        stream.push(view);
      };
      const subscription = bus.subscribe('trendsUpdated', 'all', deliver);
      const stream = createEventStream<TrendsView>({
        maxQueued: 20,
        overflowError: () => new SlowConsumerError(),
        onClose: () => {
          subscription.unsubscribe();
          if (--watchers === 0) {
            clearInterval(timer);
            timer = undefined;
          }
        },
      });
      if (++watchers === 1) {
        timer = setInterval(tick, refreshMs);
        timer.unref();
      }
      void subscription.ready
        .then(() => trends())
        .then(deliver)
        .catch((error: unknown) => stream.fail(error as Error));
      return stream;
    },
  };
}

export type DiscoverService = ReturnType<typeof createDiscoverService>;
