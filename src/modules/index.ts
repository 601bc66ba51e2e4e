import type { Connection } from 'mongoose';
import type DataLoader from 'dataloader';
import { createLoader, type Peek } from '../graphql/loader.js';
import type { HashMirror } from '../infra/hash-mirror.js';
import type { Logger } from '../infra/logger.js';
import type { EventBus } from '../infra/pubsub.js';
import type { RedisClients } from '../infra/redis.js';
import type { TokenService } from './auth/auth.tokens.js';
import type { FeedTopics } from './feeds/feed.events.js';
import { feedResolvers } from './feeds/feed.resolvers.js';
import { createFeedService } from './feeds/feed.service.js';
import { createFeedLists, homeTimelines } from './feeds/feed.lists.js';
import type { RelationTopics } from './follows/relation.events.js';
import { createRelationFlagsByViewerLoader } from './follows/relation.loaders.js';
import { createRelationModel } from './follows/relation.model.js';
import { relationResolvers } from './follows/relation.resolvers.js';
import { createRelationService } from './follows/relation.service.js';
import type { NotificationTopics } from './notifications/notification.events.js';
import { createNotificationModel } from './notifications/notification.model.js';
import { notificationResolvers } from './notifications/notification.resolvers.js';
import { createNotificationService } from './notifications/notification.service.js';
import { createReactionMirror } from './reactions/reaction.mirror.js';
import type { ReactionKind } from './reactions/reaction.model.js';
import { createReactionModel } from './reactions/reaction.model.js';
import { reactionResolvers } from './reactions/reaction.resolvers.js';
import { createReactionService } from './reactions/reaction.service.js';
import { createTruthCountStore } from './truths/truth.counts.js';
import type { TruthTopics } from './truths/truth.events.js';
import { createEffects } from '../infra/effects.js';
import { createRedisEpoch } from '../infra/redis-epoch.js';
import { createMirrorByViewerLoader } from '../infra/hash-mirror.js';
import { createTruthRecordCache } from './truths/truth.cache.js';
import { createTruthByIdLoader, createTruthCountsLoader } from './truths/truth.loaders.js';
import { createRetruthMirror } from './truths/retruth.mirror.js';
import { createWhaleRegistry } from './feeds/whale.registry.js';
import { createFollowerMirror, createRelationSnapshots } from './follows/relation.snapshot.js';
import { createUserRecordCache } from './users/user.cache.js';
import { createIdempotencyModel, createTruthModel } from './truths/truth.model.js';
import { truthResolvers } from './truths/truth.resolvers.js';
import { createTruthService } from './truths/truth.service.js';
import { createUserCountsLoader } from './users/user.count.loaders.js';
import { createUserCountStore } from './users/user.counts.js';
import type { UserTopics } from './users/user.events.js';
import { createUserByIdLoader } from './users/user.loaders.js';
import { createUserModel } from './users/user.model.js';
import { userResolvers } from './users/user.resolvers.js';
import { createUserService } from './users/user.service.js';
import { createMailModel } from './mail/mail.model.js';
import { createMailService } from './mail/mail.service.js';
import type { WaitlistTopics } from './waitlist/waitlist.events.js';
import {
  createWaitlistAdmissionModel,
  createWaitlistEntryModel,
  createWaitlistStateModel,
} from './waitlist/waitlist.model.js';
import { waitlistResolvers } from './waitlist/waitlist.resolvers.js';
import { createWaitlistService, type WaitlistConfig } from './waitlist/waitlist.service.js';

/**
 * The feature registry: the one place that knows every module. The app builds models once per
 * connection, stores and services once per process, loaders once per request (or per WebSocket
 * operation).
 */
export function createModels(connection: Connection) {
  return {
    User: createUserModel(connection),
    Truth: createTruthModel(connection),
    Idempotency: createIdempotencyModel(connection),
    Relation: createRelationModel(connection),
    Reaction: createReactionModel(connection),
    Notification: createNotificationModel(connection),
    WaitlistEntry: createWaitlistEntryModel(connection),
    WaitlistState: createWaitlistStateModel(connection),
    WaitlistAdmission: createWaitlistAdmissionModel(connection),
    Mail: createMailModel(connection),
  };
}
export type Models = ReturnType<typeof createModels>;

/** Every event topic, by name; a topic belongs to the module that publishes it. */
export type AppTopics = UserTopics &
  TruthTopics &
  FeedTopics &
  RelationTopics &
  NotificationTopics &
  WaitlistTopics;
export type AppEventBus = EventBus<AppTopics>;

/** Redis-backed stores shared by services and loaders. */
export function createStores(deps: {
  models: Models;
  redis: RedisClients;
  bus: AppEventBus;
  logger: Logger;
}) {
  const { models, redis, bus, logger } = deps;
  const epoch = createRedisEpoch({ redis, logger });
  return {
    epoch,
    truthCounts: createTruthCountStore({
      redis,
      epoch,
      Truth: models.Truth,
      Reaction: models.Reaction,
      logger,
    }),
    userCounts: createUserCountStore({
      redis,
      epoch,
      Relation: models.Relation,
      Truth: models.Truth,
      logger,
    }),
    feedLists: createFeedLists({ redis }),
    truthRecords: createTruthRecordCache({ redis, Truth: models.Truth, logger }),
    userRecords: createUserRecordCache({ redis, User: models.User, logger }),
    relationSnapshots: createRelationSnapshots({ redis, Relation: models.Relation, logger }),
    followers: createFollowerMirror({ redis, Relation: models.Relation, logger }),
    reactionMirror: createReactionMirror({ redis, Reaction: models.Reaction, logger }),
    retruthMirror: createRetruthMirror({ redis, Truth: models.Truth, logger }),
    whales: createWhaleRegistry({ User: models.User, bus, logger }),
    effects: createEffects({ redis, logger: logger.child({ component: 'effects' }) }),
  };
}
export type Stores = ReturnType<typeof createStores>;

/**
 * The loaders of one request, or of one live event: `cache: true` for a request and for an event
 * (its data is fixed for that event), `cache: false` where a context outlives its data (the
 * subscribe step of a WebSocket operation). Values this process already holds are answered
 * synchronously (src/graphql/loader.ts); the rest go through DataLoader batches.
 * Viewer-dependent loaders are keyed by `<viewerId>:<id>`, so one scope serves every subscriber
 * of an event and their per-viewer parts still load in one query.
 */
export function createLoaderScope(
  deps: { models: Models; stores: Stores },
  options: { cache: boolean },
) {
  const { models, stores } = deps;
  const { cache } = options;
  const held = <V>(batch: DataLoader<string, V>, peek: Peek<V>) =>
    createLoader(batch, peek, { cache });
  /** A per-viewer mirror's loader, keyed `<viewerId>:<id>`. */
  const mirrorLoader = <V>(mirror: HashMirror, toValue: (raw: string | null) => V) =>
    held(createMirrorByViewerLoader(mirror, toValue, { cache }), (key) => {
      const colon = key.indexOf(':');
      const raw = mirror.peek(key.slice(0, colon), key.slice(colon + 1));
      return raw === undefined ? undefined : toValue(raw);
    });
  return {
    userById: held(createUserByIdLoader(stores.userRecords, { cache }), (id) =>
      stores.userRecords.peek(id),
    ),
    userCountsById: held(createUserCountsLoader(stores.userCounts, { cache }), (id) =>
      stores.userCounts.peek(id),
    ),
    truthById: held(createTruthByIdLoader(stores.truthRecords, { cache }), (id) =>
      stores.truthRecords.peek(id),
    ),
    truthCountsById: held(createTruthCountsLoader(stores.truthCounts, { cache }), (id) =>
      stores.truthCounts.peek(id),
    ),
    reactionByViewer: mirrorLoader(stores.reactionMirror, (raw) => raw as ReactionKind | null),
    retruthedByViewer: mirrorLoader(stores.retruthMirror, (raw) => raw !== null),
    relationFlagsByViewer: createRelationFlagsByViewerLoader(models.Relation, { cache }),
  };
}
export type LoaderScope = ReturnType<typeof createLoaderScope>;

const noRelations = { following: false, followedBy: false, blocking: false, muting: false };

/** The loaders resolvers use: a scope seen by one viewer (or by nobody). */
export function loadersFor(scope: LoaderScope, viewerId: string | null) {
  const byViewer = <V>(loader: { load(key: string): V | Promise<V> }, anonymous: V) => ({
    load: (id: string): V | Promise<V> => (viewerId ? loader.load(`${viewerId}:${id}`) : anonymous),
  });
  return {
    userById: scope.userById,
    userCountsById: scope.userCountsById,
    truthById: scope.truthById,
    truthCountsById: scope.truthCountsById,
    viewerReactionByTruthId: byViewer(scope.reactionByViewer, null),
    viewerRetruthedByTruthId: byViewer(scope.retruthedByViewer, false),
    relationFlagsByUserId: byViewer(scope.relationFlagsByViewer, noRelations),
  };
}
export type Loaders = ReturnType<typeof loadersFor>;

/** A fresh scope seen by one viewer: what an HTTP request uses. */
export function createLoaders(
  deps: { models: Models; stores: Stores },
  options: { cache: boolean; viewerId: string | null },
): Loaders {
  return loadersFor(createLoaderScope(deps, options), options.viewerId);
}

/**
 * Where contexts get their loaders: a fresh caching scope per HTTP request; an uncached one per
 * WebSocket operation (its context lives as long as the subscription); and one caching scope
 * per live event, shared by every subscriber's execution of that event.
 */
export function createLoaderFactory(deps: { models: Models; stores: Stores }) {
  const eventScopes = new WeakMap<object, LoaderScope>();
  return {
    request: (viewerId: string | null) => createLoaders(deps, { cache: true, viewerId }),
    operation: (viewerId: string | null) => createLoaders(deps, { cache: false, viewerId }),
    event(event: object, viewerId: string | null): Loaders {
      let scope = eventScopes.get(event);
      if (!scope) {
        scope = createLoaderScope(deps, { cache: true });
        eventScopes.set(event, scope);
      }
      return loadersFor(scope, viewerId);
    },
  };
}
export type LoaderFactory = ReturnType<typeof createLoaderFactory>;

export function createServices(deps: {
  models: Models;
  stores: Stores;
  redis: RedisClients;
  bus: AppEventBus;
  tokens: TokenService;
  sessionTtlSeconds: number;
  whaleFollowerThreshold: number;
  adminUsernames: readonly string[];
  waitlist: WaitlistConfig;
  logger: Logger;
}) {
  const { models, stores, redis, bus, tokens, logger } = deps;
  const users = createUserService({
    User: models.User,
    tokens,
    sessionTtlSeconds: deps.sessionTtlSeconds,
    adminUsernames: new Set(deps.adminUsernames),
    userRecords: stores.userRecords,
    userCounts: stores.userCounts,
    bus,
    logger: logger.child({ module: 'users' }),
  });
  const notifications = createNotificationService({
    Notification: models.Notification,
    Relation: models.Relation,
    bus,
    logger: logger.child({ module: 'notifications' }),
  });
  const relations = createRelationService({
    Relation: models.Relation,
    User: models.User,
    userCounts: stores.userCounts,
    timelines: homeTimelines(stores.feedLists),
    snapshots: stores.relationSnapshots,
    followers: stores.followers,
    notifications,
    effects: stores.effects,
    bus,
    logger: logger.child({ module: 'follows' }),
  });
  const feeds = createFeedService({
    Truth: models.Truth,
    User: models.User,
    relations,
    lists: stores.feedLists,
    redis,
    userCounts: stores.userCounts,
    truthRecords: stores.truthRecords,
    userRecords: stores.userRecords,
    whales: stores.whales,
    whaleThreshold: deps.whaleFollowerThreshold,
    bus,
    logger: logger.child({ module: 'feeds' }),
  });
  const truths = createTruthService({
    Truth: models.Truth,
    Idempotency: models.Idempotency,
    User: models.User,
    truthCounts: stores.truthCounts,
    userCounts: stores.userCounts,
    relations,
    notifications,
    feeds,
    truthRecords: stores.truthRecords,
    userRecords: stores.userRecords,
    retruthMirror: stores.retruthMirror,
    effects: stores.effects,
    bus,
    logger: logger.child({ module: 'truths' }),
  });
  const reactions = createReactionService({
    Reaction: models.Reaction,
    truths,
    notifications,
    reactionMirror: stores.reactionMirror,
    effects: stores.effects,
    redis,
    logger: logger.child({ module: 'reactions' }),
  });
  const mail = createMailService({ Mail: models.Mail, logger: logger.child({ module: 'mail' }) });
  const waitlist = createWaitlistService({
    Entry: models.WaitlistEntry,
    State: models.WaitlistState,
    Admission: models.WaitlistAdmission,
    User: models.User,
    users,
    notifications,
    mail,
    redis,
    bus,
    tokens,
    config: deps.waitlist,
    logger: logger.child({ module: 'waitlist' }),
  });
  return { users, notifications, relations, feeds, truths, reactions, waitlist, stores };
}
export type Services = ReturnType<typeof createServices>;

/** Creates every index the queries rely on. Run before serving: uniqueness depends on them. */
export async function ensureIndexes(models: Models): Promise<void> {
  for (const model of Object.values(models)) {
    await model.createCollection().catch(() => undefined);
    await model.createIndexes();
  }
}

export const moduleResolvers = [
  userResolvers,
  truthResolvers,
  relationResolvers,
  reactionResolvers,
  feedResolvers,
  notificationResolvers,
  waitlistResolvers,
];
