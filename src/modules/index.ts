import type { Connection } from 'mongoose';
import DataLoader from 'dataloader';
import type { PerViewerBatch } from '../graphql/live/splice.js';
import { createLoader, type Peek } from '../graphql/loader.js';
import { createEffects } from '../infra/effects.js';
import type { Logger } from '../infra/logger.js';
import { createHashFieldBatch, peekHashField, type ModelHashes } from '../infra/model-store.js';
import type { EventBus } from '../infra/pubsub.js';
import type { ReadModel } from '../infra/read-model.js';
import type { RedisClients } from '../infra/redis.js';
import { createHooks } from '../lib/hooks.js';
import { createLinks } from '../lib/links.js';
import type { TokenService } from './auth/index.js';
import {
  bookmarkResolvers,
  createBookmarkEventModel,
  createBookmarkService,
  createBookmarkStore,
  createPinEventModel,
} from './bookmarks/index.js';
import {
  createDiscoverService,
  createDiscoverStore,
  discoverResolvers,
  type DiscoverTopics,
  type TrendSettings,
} from './discover/index.js';
import {
  createFeedLists,
  createFeedService,
  createWhaleFlagModel,
  createWhaleRegistry,
  feedResolvers,
  timelineCapacity,
  timelineTtlSeconds,
  type FeedTopics,
} from './feeds/index.js';
import {
  createLegacyRelationModel,
  createRelationEventModel,
  createRelationFlagsLoader,
  createRelationService,
  createRelationStore,
  relationResolvers,
  type RelationHooks,
  type RelationTopics,
} from './follows/index.js';
import { createMailModel, createMailService } from './mail/index.js';
import {
  createMediaAttachmentModel,
  createMediaModel,
  createMediaService,
  createMediaStore,
  mediaResolvers,
  type MediaStorage,
} from './media/index.js';
import {
  createModerationActionModel,
  createModerationService,
  createModerationStore,
  createReportModel,
  moderationResolvers,
  type ModerationHooks,
} from './moderation/index.js';
import {
  createNotificationModel,
  createNotificationReadModel,
  createNotificationService,
  createNotificationStore,
  notificationResolvers,
  type NotificationTopics,
} from './notifications/index.js';
import {
  createLegacyReactionModel,
  createReactionEventModel,
  createReactionService,
  createReactionStore,
  reactionKinds,
  reactionResolvers,
  type ReactionHooks,
  type ReactionKind,
} from './reactions/index.js';
import {
  createIdempotencyModel,
  createTruthDeletionModel,
  createTruthEditModel,
  createTruthEditService,
  createTruthEditStore,
  createTruthModel,
  createTruthService,
  createTruthStore,
  truthEditResolvers,
  truthResolvers,
  type TruthEditHooks,
  type TruthHooks,
  type TruthRecord,
  type TruthTopics,
} from './truths/index.js';
import {
  createSessionRevocationModel,
  createSessionStore,
  createUserChangeModel,
  createUserModel,
  createUserService,
  createUserStore,
  userResolvers,
  type UserHooks,
  type UserRecord,
  type UserTopics,
} from './users/index.js';
import {
  createWaitlistAdmissionModel,
  createWaitlistCompletionModel,
  createWaitlistEntryModel,
  createWaitlistService,
  createWaitlistStateModel,
  waitlistResolvers,
  type WaitlistConfig,
  type WaitlistTopics,
} from './waitlist/index.js';

/**
 * The feature registry: the one place that knows every module, and only through their faces
 * (`<module>/index.ts`). The app builds models once per connection, modules once per process,
 * loaders once per request (or per WebSocket operation, or per live event).
 */
export function createModels(connection: Connection) {
  return {
    User: createUserModel(connection),
    UserChange: createUserChangeModel(connection),
    SessionRevocation: createSessionRevocationModel(connection),
    Truth: createTruthModel(connection),
    TruthDeletion: createTruthDeletionModel(connection),
    Idempotency: createIdempotencyModel(connection),
    TruthEdit: createTruthEditModel(connection),
    BookmarkEvent: createBookmarkEventModel(connection),
    PinEvent: createPinEventModel(connection),
    RelationEvent: createRelationEventModel(connection),
    LegacyRelation: createLegacyRelationModel(connection),
    ReactionEvent: createReactionEventModel(connection),
    LegacyReaction: createLegacyReactionModel(connection),
    Notification: createNotificationModel(connection),
    NotificationRead: createNotificationReadModel(connection),
    WhaleFlag: createWhaleFlagModel(connection),
    WaitlistEntry: createWaitlistEntryModel(connection),
    WaitlistCompletion: createWaitlistCompletionModel(connection),
    WaitlistState: createWaitlistStateModel(connection),
    WaitlistAdmission: createWaitlistAdmissionModel(connection),
    Mail: createMailModel(connection),
    Media: createMediaModel(connection),
    MediaAttachment: createMediaAttachmentModel(connection),
    Report: createReportModel(connection),
    ModerationAction: createModerationActionModel(connection),
  };
}
export type Models = ReturnType<typeof createModels>;

/** Every event topic, by name; a topic belongs to the module that publishes it. */
export type AppTopics = UserTopics &
  TruthTopics &
  FeedTopics &
  RelationTopics &
  NotificationTopics &
  WaitlistTopics &
  DiscoverTopics;
export type AppEventBus = EventBus<AppTopics>;

/**
 * Every module, wired: each one's read-model store, then its service; the after-write hooks
 * between them (truths → feeds, notifications; follows → feeds, notifications; reactions →
 * notifications) are registered here, so no module imports the modules that follow it.
 */
export function createServices(deps: {
  models: Models;
  model: ReadModel;
  redis: RedisClients;
  bus: AppEventBus;
  tokens: TokenService;
  sessionTtlSeconds: number;
  whaleFollowerThreshold: number;
  /** How long after posting its author may edit a truth (TRUTH_EDIT_WINDOW_SECONDS). */
  truthEditWindowSeconds: number;
  adminUsernames: readonly string[];
  /** Lower-cased usernames that are moderators unless `setRole` said otherwise. */
  moderatorUsernames?: readonly string[];
  waitlist: WaitlistConfig;
  /** How trends are counted (TRENDS_* settings). */
  trends: TrendSettings;
  /** The clock trends read (ms); Date.now unless a test moves it. */
  now?: () => number;
  /** Where people reach Verity (PUBLIC_URL): the base of every `url` field. */
  publicUrl: string;
  /** Uploads: limits, where files go and where they are served from (config.media). */
  media: {
    storage: MediaStorage;
    maxImageBytes: number;
    maxVideoBytes: number;
    uploadTtlSeconds: number;
    /** How old an upload attached to nothing gets before it is swept. */
    unattachedTtlSeconds: number;
    /** The base of media URLs: MEDIA_PUBLIC_URL, or `<PUBLIC_URL>/media`. */
    baseUrl: string;
  };
  logger: Logger;
}) {
  const { models, model, redis, bus, tokens, logger } = deps;
  const log = (module: string) => logger.child({ module });
  const effects = createEffects({ redis, logger: logger.child({ component: 'effects' }) });
  const truthHooks = createHooks<TruthHooks>();
  const relationHooks = createHooks<RelationHooks>();
  const reactionHooks = createHooks<ReactionHooks>();
  const truthEditHooks = createHooks<TruthEditHooks>();
  const userHooks = createHooks<UserHooks>();
  const moderationHooks = createHooks<ModerationHooks>();

  // Registration order is the rebuild order: users, relations, truths (and what feeds derive
  // from them), reactions, moderation, whales, notifications, waitlist.
  const users = createUserService({
    User: models.User,
    UserChange: models.UserChange,
    store: createUserStore({
      model,
      redis,
      User: models.User,
      UserChange: models.UserChange,
      logger: log('users'),
    }),
    tokens,
    sessionTtlSeconds: deps.sessionTtlSeconds,
    sessions: createSessionStore({
      model,
      redis,
      SessionRevocation: models.SessionRevocation,
      logger: log('users'),
    }),
    adminUsernames: new Set(deps.adminUsernames),
    effects,
    hooks: userHooks,
    bus,
    logger: log('users'),
  });
  const relationStore = createRelationStore({
    model,
    redis,
    RelationEvent: models.RelationEvent,
    LegacyRelation: models.LegacyRelation,
    logger: log('follows'),
  });
  const relations = createRelationService({
    RelationEvent: models.RelationEvent,
    store: relationStore,
    users,
    effects,
    hooks: relationHooks,
    bus,
    logger: log('follows'),
  });
  const truthStore = createTruthStore({
    model,
    redis,
    Truth: models.Truth,
    TruthDeletion: models.TruthDeletion,
    Idempotency: models.Idempotency,
    logger: log('truths'),
  });
  const media = createMediaService({
    Media: models.Media,
    MediaAttachment: models.MediaAttachment,
    store: createMediaStore({
      model,
      redis,
      Media: models.Media,
      MediaAttachment: models.MediaAttachment,
      logger: log('media'),
    }),
    storage: deps.media.storage,
    tokens,
    config: {
      maxImageBytes: deps.media.maxImageBytes,
      maxVideoBytes: deps.media.maxVideoBytes,
      uploadTtlSeconds: deps.media.uploadTtlSeconds,
      unattachedTtlMs: deps.media.unattachedTtlSeconds * 1_000,
      baseUrl: deps.media.baseUrl,
      uploadBaseUrl: `${deps.publicUrl.replace(/\/+$/, '')}/media/uploads`,
    },
    logger: log('media'),
  });
  const truths = createTruthService({
    Truth: models.Truth,
    TruthDeletion: models.TruthDeletion,
    Idempotency: models.Idempotency,
    store: truthStore,
    users,
    relations,
    media,
    effects,
    hooks: truthHooks,
    bus,
    logger: log('truths'),
  });
  const truthEdits = createTruthEditService({
    TruthEdit: models.TruthEdit,
    store: createTruthEditStore({
      model,
      redis,
      TruthEdit: models.TruthEdit,
      truths: truthStore,
    }),
    truths,
    users,
    effects,
    hooks: truthEditHooks,
    windowSeconds: deps.truthEditWindowSeconds,
  });
  const reactions = createReactionService({
    ReactionEvent: models.ReactionEvent,
    store: createReactionStore({
      model,
      redis,
      ReactionEvent: models.ReactionEvent,
      LegacyReaction: models.LegacyReaction,
      logger: log('reactions'),
    }),
    truths,
    effects,
    hooks: reactionHooks,
    logger: log('reactions'),
  });
  const moderation = createModerationService({
    Report: models.Report,
    ModerationAction: models.ModerationAction,
    store: createModerationStore({
      model,
      redis,
      Report: models.Report,
      ModerationAction: models.ModerationAction,
      logger: log('moderation'),
    }),
    users,
    truths,
    effects,
    hooks: moderationHooks,
    moderatorUsernames: new Set(deps.moderatorUsernames ?? []),
    logger: log('moderation'),
  });
  users.guardSessions((userId) => moderation.guardSession(userId));
  const lists = createFeedLists({ model, redis, timelineCapacity, timelineTtlSeconds });
  const whales = createWhaleRegistry({ model, redis, key: lists.keys.whales, bus, logger });
  const feeds = createFeedService({
    model,
    WhaleFlag: models.WhaleFlag,
    relations,
    truths,
    lists,
    whales,
    bus,
    whaleThreshold: deps.whaleFollowerThreshold,
    suspendedAmong: moderation.suspendedAmong,
    logger: log('feeds'),
  });
  const notifications = createNotificationService({
    Notification: models.Notification,
    NotificationRead: models.NotificationRead,
    store: createNotificationStore({
      model,
      redis,
      Notification: models.Notification,
      NotificationRead: models.NotificationRead,
      logger: log('notifications'),
    }),
    relations,
    effects,
    bus,
    logger: log('notifications'),
  });
  const bookmarks = createBookmarkService({
    BookmarkEvent: models.BookmarkEvent,
    PinEvent: models.PinEvent,
    store: createBookmarkStore({
      model,
      redis,
      BookmarkEvent: models.BookmarkEvent,
      PinEvent: models.PinEvent,
      logger: log('bookmarks'),
    }),
    truths,
    effects,
  });
  const mail = createMailService({ Mail: models.Mail, logger: log('mail') });
  const waitlist = createWaitlistService({
    model,
    Entry: models.WaitlistEntry,
    Completion: models.WaitlistCompletion,
    State: models.WaitlistState,
    Admission: models.WaitlistAdmission,
    users,
    effects,
    notifications,
    mail,
    redis,
    bus,
    tokens,
    config: deps.waitlist,
    logger: log('waitlist'),
  });

  const discover = createDiscoverService({
    store: createDiscoverStore({ model, redis, trends: deps.trends, logger: log('discover') }),
    redis,
    users,
    truths,
    reactions,
    relations,
    bus,
    refreshMs: deps.trends.refreshMs,
    bucketMs: deps.trends.bucketMs,
    now: deps.now ?? Date.now,
    hiddenAmong: (userIds) => moderation.suspendedAmong(userIds),
    logger: log('discover'),
  });

  // After-write hooks, in the order their effects run.
  truthHooks.on('truthStored', feeds.afterTruthStored);
  truthHooks.on('truthStored', notifications.afterTruthStored);
  truthHooks.on('truthDeleted', feeds.afterTruthDeleted);
  relationHooks.on('followed', feeds.afterFollowed);
  relationHooks.on('followed', notifications.afterFollowed);
  reactionHooks.on('reacted', notifications.afterReacted);
  truthEditHooks.on('truthEdited', feeds.afterTruthEdited);
  truthEditHooks.on('truthEdited', notifications.afterTruthEdited);
  userHooks.on('accountCreated', discover.afterAccountCreated);
  userHooks.on('profileChanged', discover.afterProfileChanged);
  truthHooks.on('truthStored', discover.afterTruthStored);
  truthHooks.on('truthDeleted', discover.afterTruthDeleted);
  reactionHooks.on('reacted', discover.afterReacted);
  truthEditHooks.on('truthEdited', discover.afterTruthEdited);
  relationHooks.on('followed', discover.afterFollowed);
  moderationHooks.on('accountSuspended', feeds.afterAuthorSuspended);
  moderationHooks.on('accountUnsuspended', feeds.afterAuthorUnsuspended);

  return {
    users,
    links: createLinks(deps.publicUrl),
    relations,
    relationStore,
    truths,
    truthEdits,
    reactions,
    feeds,
    notifications,
    bookmarks,
    waitlist,
    discover,
    media,
    moderation,
    effects,
    whales,
  };
}
export type Services = ReturnType<typeof createServices>;

const noRelations = { following: false, followedBy: false, blocking: false, muting: false };

/** A viewer's reaction as its hash holds it. */
const reactionOf = (raw: string | null) => (raw as ReactionKind | null) ?? null;
/** Whether a viewer's retruth claim is a retruth (not one still being written). */
const retruthedOf = (raw: string | null) => raw !== null && !raw.startsWith('pending:');

/** Whether a viewer's bookmarks hold a truth. */
const bookmarkedOf = (raw: string | null) => raw !== null;

/** Per-viewer reads for many viewers go to Redis in scripts of this many keys, side by side. */
const batchChunk = 2_000;

async function inChunks<T, R>(items: readonly T[], read: (chunk: T[]) => Promise<R[]>) {
  const chunks: Promise<R[]>[] = [];
  for (let i = 0; i < items.length; i += batchChunk)
    chunks.push(read(items.slice(i, i + batchChunk)));
  return (await Promise.all(chunks)).flat();
}

/**
 * A per-viewer hash field for every viewer (`anonymous` without a session), in one read; no
 * read at all when the truth's counts say nobody can have one (`none`: a truth posted a moment
 * ago has no reactions or retruths yet). Counts change in the same Redis step as the hashes.
 */
const hashFieldBatch =
  <V>(
    hashesOf: (services: Services) => ModelHashes,
    toValue: (raw: string | null) => V,
    anonymous: V,
    none: (services: Services, truthId: string) => Promise<boolean>,
  ) =>
  async (
    truth: TruthRecord,
    _args: unknown,
    viewerIds: readonly (string | null)[],
    context: { services: Services },
  ): Promise<V[]> => {
    const id = truth._id.toHexString();
    if (await none(context.services, id)) return viewerIds.map(() => toValue(null));
    const signedIn = viewerIds.filter((viewerId): viewerId is string => viewerId !== null);
    const raws = await inChunks(signedIn, (chunk) =>
      hashesOf(context.services).getPairs(
        chunk.map((viewerId) => [viewerId, id] as const),
        // Thousands of viewers' one field each: not worth keeping in this process.
        { keep: false },
      ),
    );
    let next = 0;
    return viewerIds.map((viewerId) => (viewerId === null ? anonymous : toValue(raws[next++]!)));
  };

/**
 * The viewers' flag towards a user, read once per flag, user and batch (the same `viewerIds`
 * array) however many sites ask for it.
 */
const relationReads = new WeakMap<readonly (string | null)[], Map<string, Promise<boolean[]>>>();

/** One of the viewer's relation flags towards a user, for every viewer, in one read. */
const relationFlagBatch =
  (flag: keyof typeof noRelations) =>
  async (
    user: UserRecord,
    _args: unknown,
    viewerIds: readonly (string | null)[],
    context: { services: Services },
  ): Promise<boolean[]> => {
    const id = user._id.toHexString();
    let reads = relationReads.get(viewerIds);
    if (!reads) {
      reads = new Map();
      relationReads.set(viewerIds, reads);
    }
    let read = reads.get(`${flag}:${id}`);
    if (!read) {
      const signedIn = viewerIds.filter((viewerId): viewerId is string => viewerId !== null);
      read = inChunks(signedIn, (chunk) =>
        context.services.relationStore.flagTowards(id, chunk, flag),
      );
      reads.set(`${flag}:${id}`, read);
    }
    const flags = await read;
    let next = 0;
    return viewerIds.map((viewerId) => (viewerId === null ? false : flags[next++]!));
  };

/**
 * The batch forms of per-viewer leaves, by `Type.field` (graphql/live/splice.ts): the same
 * values their resolvers give, for every subscriber of a live event in one read.
 */
export const perViewerBatches: Readonly<Record<string, PerViewerBatch>> = {
  'Truth.viewerReaction': hashFieldBatch(
    (services) => services.reactions.byUser,
    reactionOf,
    null,
    async ({ reactions }, id) => {
      const counts = reactions.counts.peek(id) ?? (await reactions.counts.get([id])).get(id);
      return counts !== undefined && Object.values(counts).every((count) => count === 0);
    },
  ),
  'Truth.viewerHasRetruthed': hashFieldBatch(
    (services) => services.truths.retruths,
    retruthedOf,
    false,
    async ({ truths }, id) =>
      ((truths.counts.peek(id) ?? (await truths.counts.get([id])).get(id))?.retruths ?? 1) === 0,
  ),
  'Truth.viewerHasBookmarked': hashFieldBatch(
    (services) => services.bookmarks.byUser,
    bookmarkedOf,
    false,
    () => Promise.resolve(false),
  ),
  'User.viewerIsFollowing': relationFlagBatch('following'),
  'User.followsViewer': relationFlagBatch('followedBy'),
  'User.viewerHasBlocked': relationFlagBatch('blocking'),
  'User.viewerHasMuted': relationFlagBatch('muting'),
} as Record<string, PerViewerBatch>;
const zeroReactions = Object.freeze(
  Object.fromEntries(reactionKinds.map((kind) => [kind, 0])) as Record<ReactionKind, number>,
);
const zeroTruthCounts = Object.freeze({ replies: 0, retruths: 0, quotes: 0 });
const zeroFollowCounts = Object.freeze({ followers: 0, following: 0 });
const zeroAuthoredCounts = Object.freeze({ truths: 0 });
const noPins: readonly string[] = Object.freeze([]);

/**
 * The loaders of one request, or of one live event: `cache: true` for a request and for an event
 * (its data is fixed for that event), `cache: false` where a context outlives its data (the
 * subscribe step of a WebSocket operation). Values this process already holds are answered
 * synchronously (src/graphql/loader.ts); the rest go through DataLoader batches, one Redis
 * round trip each. Viewer-dependent loaders are keyed by `<viewerId>:<id>`, so one scope serves
 * every subscriber of an event and their per-viewer parts still load in one batch.
 */
export function createLoaderScope(services: Services, options: { cache: boolean }) {
  const { cache } = options;
  const held = <V>(
    batch: (ids: readonly string[]) => Promise<Map<string, V>>,
    peek: Peek<V>,
    missing: V,
  ) =>
    createLoader(
      new DataLoader<string, V>(
        async (ids) => {
          const found = await batch(ids);
          return ids.map((id) => found.get(id) ?? missing);
        },
        { cache, maxBatchSize: 500 },
      ),
      peek,
      { cache },
    );
  const perViewer = <V>(hashes: ModelHashes, toValue: (raw: string | null) => V) =>
    createLoader(createHashFieldBatch(hashes, toValue, { cache }), peekHashField(hashes, toValue), {
      cache,
    });
  const { users, truths, reactions, relations, bookmarks } = services;
  return {
    caching: cache,
    userById: held(users.getMany, users.peek, null),
    followCountsById: held(relations.counts, relations.peekCounts, zeroFollowCounts),
    authoredCountsById: held(
      (ids) => truths.authored.get(ids),
      (id) => truths.authored.peek(id),
      zeroAuthoredCounts,
    ),
    truthById: held(truths.getMany, truths.peek, null),
    truthCountsById: held(
      (ids) => truths.counts.get(ids),
      (id) => truths.counts.peek(id),
      zeroTruthCounts,
    ),
    reactionCountsById: held(
      (ids) => reactions.counts.get(ids),
      (id) => reactions.counts.peek(id),
      zeroReactions,
    ),
    reactionByViewer: perViewer(reactions.byUser, reactionOf),
    retruthedByViewer: perViewer(truths.retruths, retruthedOf),
    bookmarkedByViewer: perViewer(bookmarks.byUser, bookmarkedOf),
    pinnedIdsByUserId: held(
      (ids) => bookmarks.pinnedIds(ids),
      (id) => bookmarks.peekPinnedIds(id),
      noPins,
    ),
    relationFlagsByViewer: createRelationFlagsLoader(services.relationStore, { cache }),
  };
}
export type LoaderScope = ReturnType<typeof createLoaderScope>;

/** The loaders resolvers use: a scope seen by one viewer (or by nobody). */
export function loadersFor(scope: LoaderScope, viewerId: string | null) {
  const byViewer = <V>(loader: { load(key: string): V | Promise<V> }, anonymous: V) => ({
    load: (id: string): V | Promise<V> => (viewerId ? loader.load(`${viewerId}:${id}`) : anonymous),
  });
  return {
    /** Whether these loaders keep what they read for the rest of their scope. */
    caching: scope.caching,
    userById: scope.userById,
    followCountsById: scope.followCountsById,
    authoredCountsById: scope.authoredCountsById,
    truthById: scope.truthById,
    pinnedIdsByUserId: scope.pinnedIdsByUserId,
    truthCountsById: scope.truthCountsById,
    reactionCountsById: scope.reactionCountsById,
    viewerReactionByTruthId: byViewer(scope.reactionByViewer, null),
    viewerRetruthedByTruthId: byViewer(scope.retruthedByViewer, false),
    viewerBookmarkedByTruthId: byViewer(scope.bookmarkedByViewer, false),
    relationFlagsByUserId: byViewer(scope.relationFlagsByViewer, noRelations),
    /** What is known of a truth created in this request: no counts, nothing from its viewer. */
    primeNewTruth(truth: TruthRecord): void {
      const id = truth._id.toHexString();
      scope.truthById.prime(id, truth);
      scope.truthCountsById.prime(id, zeroTruthCounts);
      scope.reactionCountsById.prime(id, zeroReactions);
      if (viewerId) {
        scope.reactionByViewer.prime(`${viewerId}:${id}`, null);
        scope.retruthedByViewer.prime(`${viewerId}:${id}`, false);
        scope.bookmarkedByViewer.prime(`${viewerId}:${id}`, false);
      }
    },
  };
}
export type Loaders = ReturnType<typeof loadersFor>;

/**
 * Where contexts get their loaders: a fresh caching scope per HTTP request; an uncached one per
 * WebSocket operation (its context lives as long as the subscription); and one caching scope
 * per live event, shared by every subscriber's execution of that event.
 */
export function createLoaderFactory(services: Services) {
  const eventScopes = new WeakMap<object, LoaderScope>();
  return {
    request: (viewerId: string | null) =>
      loadersFor(createLoaderScope(services, { cache: true }), viewerId),
    operation: (viewerId: string | null) =>
      loadersFor(createLoaderScope(services, { cache: false }), viewerId),
    event(event: object, viewerId: string | null): Loaders {
      let scope = eventScopes.get(event);
      if (!scope) {
        scope = createLoaderScope(services, { cache: true });
        eventScopes.set(event, scope);
      }
      return loadersFor(scope, viewerId);
    },
  };
}
export type LoaderFactory = ReturnType<typeof createLoaderFactory>;

/**
 * Creates every collection and index. Run before serving: uniqueness depends on the unique
 * indexes (every other read is served by the read model).
 */
export async function ensureIndexes(models: Models): Promise<void> {
  for (const model of Object.values(models)) {
    await model.createCollection().catch(() => undefined);
    await model.createIndexes();
  }
}

export const moduleResolvers = [
  userResolvers,
  truthResolvers,
  truthEditResolvers,
  relationResolvers,
  reactionResolvers,
  feedResolvers,
  notificationResolvers,
  waitlistResolvers,
  bookmarkResolvers,
  discoverResolvers,
  mediaResolvers,
  moderationResolvers,
];
