import { Types } from 'mongoose';
import type { Logger } from '../../infra/logger.js';
import type { EventBus } from '../../infra/pubsub.js';
import { badUserInput, forbidden, isDuplicateKeyError, notFound } from '../../lib/errors.js';
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
  bus: EventBus<RelationTopics>;
  logger: Logger;
}) {
  const { Relation, User, userCounts, timelines, snapshots, followers, notifications, bus } = deps;

  const exists = (fromId: string, kind: RelationKind, toId: string) =>
    Relation.exists({ fromId: objectId(fromId), kind, toId: objectId(toId) }).then(Boolean);

  /** Inserts a relation; false when it already existed. */
  const add = async (fromId: string, kind: RelationKind, toId: string) => {
    try {
      await Relation.collection.insertOne({
        _id: new Types.ObjectId(),
        fromId: objectId(fromId),
        toId: objectId(toId),
        kind,
        createdAt: new Date(),
      });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  };

  /** Deletes a relation; false when there was none. */
  const drop = async (fromId: string, kind: RelationKind, toId: string) => {
    const { deletedCount } = await Relation.deleteOne({
      fromId: objectId(fromId),
      kind,
      toId: objectId(toId),
    }).exec();
    return deletedCount > 0;
  };

  const followCountsChanged = async (followerId: string, followeeId: string, delta: 1 | -1) => {
    await Promise.all([
      followers.changed(followeeId, followerId, delta === 1),
      userCounts.increment(followerId, { following: delta }),
      userCounts.increment(followeeId, { followers: delta }),
    ]);
  };

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
      if (!(await add(viewer.id, 'follow', userId))) return;
      await followCountsChanged(viewer.id, userId, 1);
      // Rebuilt on the next read, with the new followee's recent truths in it.
      await timelines.invalidate(viewer.id);
      await notifications.notify({ kind: 'FOLLOWED', userId, actorId: viewer.id });
      await announce(viewer.id);
    },

    async unfollow(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      if (await drop(viewer.id, 'follow', userId)) {
        await followCountsChanged(viewer.id, userId, -1);
        await announce(viewer.id);
      }
    },

    /** Blocks, and ends the follows between the two in both directions. */
    async block(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      await add(viewer.id, 'block', userId);
      const [viewerFollowed, theyFollowed] = await Promise.all([
        drop(viewer.id, 'follow', userId),
        drop(userId, 'follow', viewer.id),
      ]);
      if (viewerFollowed) await followCountsChanged(viewer.id, userId, -1);
      if (theyFollowed) await followCountsChanged(userId, viewer.id, -1);
      await Promise.all([timelines.invalidate(viewer.id), timelines.invalidate(userId)]);
      await announce(viewer.id, userId);
    },

    async unblock(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      if (await drop(viewer.id, 'block', userId)) await announce(viewer.id, userId);
    },

    async mute(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      if (await add(viewer.id, 'mute', userId)) await announce(viewer.id);
    },

    async unmute(viewer: Viewer, userId: string): Promise<void> {
      await target(viewer, userId);
      if (await drop(viewer.id, 'mute', userId)) await announce(viewer.id);
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
