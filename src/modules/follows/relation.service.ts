import { Types } from 'mongoose';
import type { Expectation } from '../../infra/counters.js';
import type { Effect, Effects } from '../../infra/effects.js';
import type { Logger } from '../../infra/logger.js';
import { insertResolved } from '../../infra/mongo.js';
import type { EventBus } from '../../infra/pubsub.js';
import { badUserInput, forbidden, notFound } from '../../lib/errors.js';
import { objectId } from '../../lib/ids.js';
import type { Page, PageRequest } from '../../graphql/pagination.js';
import type { HomeTimelines } from '../feeds/feed.lists.js';
import type { NotificationService } from '../notifications/notification.service.js';
import type { UserCountStore } from '../users/user.counts.js';
import type { UserModel } from '../users/user.model.js';
import type { Viewer } from '../users/user.service.js';
import type { RelationTopics } from './relation.events.js';
import type { FollowerMirror, RelationSnapshot, RelationSnapshots } from './relation.snapshot.js';
import type { RelationKind, RelationModel, RelationRecord } from './relation.model.js';

/** A relation just stored or deleted, and what the counters were told before. */
interface Changed {
  relation: RelationRecord;
  expected: Expectation;
}

/** What the viewer's relations to another user are, as the User type shows them. */
export interface RelationFlags {
  following: boolean;
  followedBy: boolean;
  blocking: boolean;
  muting: boolean;
}

/**
 * Follows, blocks and mutes. Each change is idempotent (a unique index decides races), updates
 * the follower counts only when it really changed something, and announces `relationsChanged`
 * so that live feeds re-read the viewer's relations.
 */
export function createRelationService(deps: {
  Relation: RelationModel;
  User: UserModel;
  userCounts: UserCountStore;
  timelines: HomeTimelines;
  snapshots: RelationSnapshots;
  followers: FollowerMirror;
  notifications: NotificationService;
  effects: Effects;
  bus: EventBus<RelationTopics>;
  logger: Logger;
}) {
  const {
    Relation,
    User,
    userCounts,
    timelines,
    snapshots,
    followers,
    notifications,
    effects,
    bus,
  } = deps;

  const exists = (fromId: string, kind: RelationKind, toId: string) =>
    Relation.exists({ fromId: objectId(fromId), kind, toId: objectId(toId) }).then(Boolean);

  /**
   * Inserts a relation: the stored record, or null when it already existed. A MongoDB that
   * answers late is asked again (the same `_id` lands once); a refusal after that is our own
   * first attempt only if the stored relation has our `_id`.
   */
  const add = async (fromId: string, kind: RelationKind, toId: string): Promise<Changed | null> => {
    const record: RelationRecord = {
      _id: new Types.ObjectId(),
      fromId: objectId(fromId),
      toId: objectId(toId),
      kind,
      createdAt: new Date(),
    };
    const expected = await userCounts.expect(kind === 'follow' ? [fromId, toId] : []);
    const stored = await insertResolved(() => Relation.collection.insertOne(record), {
      unknown: {},
    });
    if (stored.outcome === 'inserted') return { relation: record, expected };
    if (!stored.retried) return null;
    const found = await Relation.findOne({ fromId: record.fromId, kind, toId: record.toId })
      .lean<RelationRecord>()
      .exec();
    return found?._id.equals(record._id) ? { relation: record, expected } : null;
  };

  /** Deletes a relation: the deleted record, or null when there was none. */
  const drop = async (
    fromId: string,
    kind: RelationKind,
    toId: string,
  ): Promise<Changed | null> => {
    const expected = await userCounts.expect(kind === 'follow' ? [fromId, toId] : []);
    const relation = await Relation.findOneAndDelete({
      fromId: objectId(fromId),
      kind,
      toId: objectId(toId),
    })
      .lean<RelationRecord>()
      .exec();
    return relation ? { relation, expected } : null;
  };

  /**
   * The counts and follower mirror after a follow was stored or deleted; guarded by the
   * relation's id, so running it again changes nothing.
   */
  const followCountsChanged = ({ relation, expected }: Changed, delta: 1 | -1): Effect => {
    const followerId = relation.fromId.toHexString();
    const followeeId = relation.toId.toHexString();
    const once = (side: string) => ({
      once: `relation:${relation._id.toHexString()}:${delta}:${side}`,
      expected,
    });
    return async () => {
      await Promise.all([
        followers.changed(followeeId, followerId, delta === 1),
        userCounts.increment(followerId, { following: delta }, once('from')),
        userCounts.increment(followeeId, { followers: delta }, once('to')),
      ]);
    };
  };

  /** Runs the effects of a stored relation change (infra/effects.ts): never fails the answer. */
  const afterChange = ({ relation }: Changed, list: Effect[]) =>
    effects.apply(`relation:${relation._id.toHexString()}`, list);

  /** After a change: the snapshots of those it concerns are rebuilt, and live feeds told. */
  const announce = async (...userIds: string[]) => {
    await snapshots.invalidate(...userIds);
    await Promise.all(userIds.map((userId) => bus.publish('relationsChanged', userId, { userId })));
  };

  /** The other user, who must exist and not be the viewer. */
  const target = async (viewer: Viewer, userId: string) => {
    if (userId === viewer.id) throw badUserInput('You cannot do that to yourself.', 'userId');
    if (!(await User.exists({ _id: objectId(userId) }))) throw notFound('There is no such user.');
  };

  return {
    async follow(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      const [blocked, blocking] = await Promise.all([
        exists(userId, 'block', viewer.id),
        exists(viewer.id, 'block', userId),
      ]);
      if (blocked || blocking) throw forbidden('You cannot follow this user.');
      const changed = await add(viewer.id, 'follow', userId);
      if (!changed) return;
      const { relation } = changed;
      await afterChange(changed, [
        followCountsChanged(changed, 1),
        // Rebuilt on the next read, with the new followee's recent truths in it.
        () => timelines.invalidate(viewer.id),
        () =>
          notifications.notify(
            { kind: 'FOLLOWED', userId, actorId: viewer.id },
            { fact: `relation:${relation._id.toHexString()}`, at: relation.createdAt },
          ),
        () => announce(viewer.id),
      ]);
    },

    async unfollow(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      const relation = await drop(viewer.id, 'follow', userId);
      if (relation) {
        await afterChange(relation, [followCountsChanged(relation, -1), () => announce(viewer.id)]);
      }
    },

    /** Blocks, and ends the follows between the two in both directions. */
    async block(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      const block = await add(viewer.id, 'block', userId);
      const ended = (
        await Promise.all([drop(viewer.id, 'follow', userId), drop(userId, 'follow', viewer.id)])
      ).filter((changed): changed is Changed => changed !== null);
      for (const changed of ended) await afterChange(changed, [followCountsChanged(changed, -1)]);
      if (block || ended.length > 0) {
        await afterChange(block ?? ended[0]!, [
          () => timelines.invalidate(viewer.id),
          () => timelines.invalidate(userId),
          () => announce(viewer.id, userId),
        ]);
      }
    },

    async unblock(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      const relation = await drop(viewer.id, 'block', userId);
      if (relation) await afterChange(relation, [() => announce(viewer.id, userId)]);
    },

    async mute(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      const relation = await add(viewer.id, 'mute', userId);
      if (relation) await afterChange(relation, [() => announce(viewer.id)]);
    },

    async unmute(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      const relation = await drop(viewer.id, 'mute', userId);
      if (relation) await afterChange(relation, [() => announce(viewer.id)]);
    },

    /** The viewer's followees and hidden authors, from the Redis mirror. */
    snapshot: (userId: string): Promise<RelationSnapshot> => snapshots.get(userId),

    /** Ids (hex) of the users who follow `userId`. */
    followerIds: (userId: string): Promise<string[]> => followers.followerIds(userId),

    /** Which of `candidateIds` follow `userId`. */
    async followersAmong(userId: string, candidateIds: readonly string[]): Promise<string[]> {
      if (candidateIds.length === 0) return [];
      const rows = await Relation.find(
        { toId: objectId(userId), kind: 'follow', fromId: { $in: candidateIds.map(objectId) } },
        { fromId: 1 },
      )
        .lean<Pick<RelationRecord, 'fromId'>[]>()
        .exec();
      return rows.map((row) => row.fromId.toHexString());
    },

    /** True when either user blocks the other. */
    async isBlockedBetween(a: string, b: string): Promise<boolean> {
      const found = await Relation.exists({
        kind: 'block',
        $or: [
          { fromId: objectId(a), toId: objectId(b) },
          { fromId: objectId(b), toId: objectId(a) },
        ],
      });
      return Boolean(found);
    },

    /** A page of a user's followers (`direction: 'followers'`) or followees, newest first. */
    async list(
      userId: string,
      direction: 'followers' | 'following',
      page: PageRequest,
    ): Promise<Page<RelationRecord>> {
      const filter = {
        kind: 'follow' as const,
        ...(direction === 'followers' ? { toId: objectId(userId) } : { fromId: objectId(userId) }),
        ...(page.after ? { _id: { $lt: objectId(page.after) } } : {}),
      };
      const rows = await Relation.find(filter)
        .sort({ _id: -1 })
        .limit(page.first + 1)
        .lean<RelationRecord[]>()
        .exec();
      return { items: rows.slice(0, page.first), hasNextPage: rows.length > page.first };
    },
  };
}

export type RelationService = ReturnType<typeof createRelationService>;
