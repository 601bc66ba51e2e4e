import { Types } from 'mongoose';
import type { Effect, Effects } from '../../infra/effects.js';
import type { Logger } from '../../infra/logger.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import type { EventBus } from '../../infra/pubsub.js';
import { badUserInput, forbidden, notFound } from '../../lib/errors.js';
import type { Hooks } from '../../lib/hooks.js';
import { objectId } from '../../lib/ids.js';
import type { UserService, Viewer } from '../users/index.js';
import type { RelationTopics } from './relation.events.js';
import type { RelationEventModel, RelationEventRecord, RelationKind } from './relation.model.js';
import type { RelationSnapshot, RelationStore } from './relation.store.js';

/** What the follows module tells the modules that follow it (lib/hooks.ts). */
export interface RelationHooks {
  /** `followerId` began following `followeeId`; `fact` names it, `at` is when. */
  followed: { fact: string; at: Date; followerId: string; followeeId: string };
}

/**
 * Follows, blocks and mutes. Each change is decided against the current state in Redis (see
 * relation.store.ts), inserted into MongoDB as an event, then applied: following someone
 * already followed changes nothing, and racing changes end as the newest one says. The first
 * application of a change announces `relationsChanged`, so that live feeds re-read the
 * viewer's relations, and tells the modules that follow (`followed`: feeds, notifications).
 */
export function createRelationService(deps: {
  RelationEvent: RelationEventModel;
  store: RelationStore;
  users: UserService;
  effects: Effects;
  hooks: Hooks<RelationHooks>;
  bus: EventBus<RelationTopics>;
  logger: Logger;
}) {
  const { RelationEvent, store, users, effects, hooks, bus } = deps;

  const inserts = createInserter(RelationEvent.collection);

  const announce = (...userIds: string[]) =>
    Promise.all(userIds.map((userId) => bus.publish('relationsChanged', userId, { userId })));

  /** The effects of a stored change, after it moved the state (the first time only). */
  const followUps = (event: RelationEventRecord): Effect[] => {
    const from = event.fromId.toHexString();
    const to = event.toId.toHexString();
    const followed =
      event.kind === 'follow' && event.on
        ? hooks.effectsOf('followed', {
            fact: `relation:${event._id.toHexString()}`,
            at: event.at,
            followerId: from,
            followeeId: to,
          })
        : [];
    return [
      ...followed,
      async () => {
        await announce(from, to);
      },
    ];
  };

  /** Stores `event`, then applies it and its follow-ups; never fails once it is stored. */
  const record = async (event: RelationEventRecord): Promise<void> => {
    const entry = `relation:${event._id.toHexString()}`;
    await effects.intend(entry);
    await insertResolved(() => inserts.insert(event), { unknown: {} });
    let moved = false;
    await effects.apply(entry, [
      async () => {
        moved = (await store.apply(event)) || moved;
      },
      async () => {
        if (!moved) return;
        for (const effect of followUps(event)) await effect();
      },
    ]);
  };

  const eventOf = (
    from: string,
    kind: RelationKind,
    to: string,
    on: boolean,
    version: number,
  ): RelationEventRecord => ({
    _id: new Types.ObjectId(),
    fromId: objectId(from),
    toId: objectId(to),
    kind,
    on,
    version,
    at: new Date(),
  });

  /** Changes one relation of the viewer's, if that changes anything. */
  const change = async (viewer: Viewer, userId: string, kind: RelationKind, on: boolean) => {
    if (userId === viewer.id) throw badUserInput('You cannot do that to yourself.', 'userId');
    // Both reads in one round trip when `userId`'s record is not held in this process (on a
    // large network, most of those one follows or unfollows). `intend` changes nothing but the
    // sequence it draws a version from, and a version left unused is a gap, as when nothing
    // changes.
    const [exists, intent] = await Promise.all([
      users.exists(userId),
      store.intend(viewer.id, kind, userId, on),
    ]);
    if (!exists) throw notFound('There is no such user.');
    if (intent.status !== 'change') {
      if (intent.status === 'forbidden') throw forbidden('You cannot follow this user.');
      return;
    }
    await record(eventOf(viewer.id, kind, userId, on, intent.version));
  };

  // A process that died between storing a change and applying it left its journal entry.
  effects.recover('relation', async (eventId) => {
    const event = await RelationEvent.findById(objectId(eventId))
      .lean<RelationEventRecord>()
      .exec();
    if (!event) return;
    const entry = `relation:${eventId}`;
    await effects.apply(entry, [
      async () => {
        if (await store.apply(event)) for (const effect of followUps(event)) await effect();
      },
    ]);
  });

  return {
    follow: (viewer: Viewer, userId: string) => change(viewer, userId, 'follow', true),
    unfollow: (viewer: Viewer, userId: string) => change(viewer, userId, 'follow', false),

    /** Blocks, and ends the follows between the two in both directions. */
    async block(viewer: Viewer, userId: string): Promise<void> {
      await change(viewer, userId, 'block', true);
      for (const [from, to] of [
        [viewer.id, userId],
        [userId, viewer.id],
      ] as const) {
        const intent = await store.intend(from, 'follow', to, false);
        if (intent.status === 'change') {
          await record(eventOf(from, 'follow', to, false, intent.version));
        }
      }
    },

    unblock: (viewer: Viewer, userId: string) => change(viewer, userId, 'block', false),
    mute: (viewer: Viewer, userId: string) => change(viewer, userId, 'mute', true),
    unmute: (viewer: Viewer, userId: string) => change(viewer, userId, 'mute', false),

    /** The viewer's followees and hidden authors, from the read model. */
    snapshot: (userId: string): Promise<RelationSnapshot> => store.snapshot(userId),

    /** Ids of the users who follow `userId`. */
    followerIds: (userId: string): Promise<string[]> => store.followerIds(userId),

    followersAmong: (userId: string, candidateIds: readonly string[]) =>
      store.followersAmong(userId, candidateIds),
    isBlockedBetween: (a: string, b: string) => store.isBlockedBetween(a, b),
    /** The newest `limit` followees of each user, in one read. */
    newestFolloweesOfMany: (userIds: readonly string[], limit: number) =>
      store.newestFolloweesOfMany(userIds, limit),
    /** Registers a rebuild step for what another module derives from follower counts. */
    onReplayFollowerCounts: (replay: (counts: ReadonlyMap<string, number>) => Promise<void>) =>
      store.onReplayFollowerCounts(replay),
    counts: (userIds: readonly string[]) => store.counts(userIds),
    peekCounts: (userId: string) => store.peekCounts(userId),

    /** A page of a user's followers or followees, newest first; `after` is a user id. */
    async list(
      userId: string,
      direction: 'followers' | 'following',
      page: { first: number; after: string | null },
    ): Promise<{ items: { userId: string; since: Date }[]; hasNextPage: boolean }> {
      const items = await store.page(userId, direction, page.after, page.first + 1);
      return { items: items.slice(0, page.first), hasNextPage: items.length > page.first };
    },
  };
}

export type RelationService = ReturnType<typeof createRelationService>;
