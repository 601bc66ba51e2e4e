import { Types } from 'mongoose';
import type { HashMirror } from '../../infra/hash-mirror.js';
import type { Logger } from '../../infra/logger.js';
import { withLock } from '../../infra/lock.js';
import type { RedisClients } from '../../infra/redis.js';
import { isDuplicateKeyError } from '../../lib/errors.js';
import { objectId } from '../../lib/ids.js';
import type { NotificationService } from '../notifications/notification.service.js';
import type { TruthRecord } from '../truths/truth.model.js';
import type { TruthService } from '../truths/truth.service.js';
import type { Viewer } from '../users/user.service.js';
import type { ReactionKind, ReactionModel, ReactionRecord } from './reaction.model.js';

/**
 * Reactions: one per user per truth. Counts change by atomic Redis increments, so any number of
 * people reacting to one truth at once never lose a count. A user's own changes to one truth
 * are serialised by a short Redis lock, because FerretDB can lose one of two concurrent updates
 * to the same reaction document, and the count must follow the kind that really won.
 */
export function createReactionService(deps: {
  Reaction: ReactionModel;
  truths: TruthService;
  notifications: NotificationService;
  reactionMirror: HashMirror;
  redis: RedisClients;
  logger: Logger;
}) {
  const { Reaction, truths, notifications, reactionMirror, redis } = deps;
  const lockName = (viewer: Viewer, truth: TruthRecord) =>
    `reaction:${viewer.id}:${truth._id.toHexString()}`;

  return {
    /** Sets the viewer's reaction; returns the truth reacted to (the original of a retruth). */
    async react(viewer: Viewer, truthId: string, kind: ReactionKind): Promise<TruthRecord> {
      const truth = await truths.reactionTarget(viewer, truthId);
      const filter = { truthId: truth._id, userId: objectId(viewer.id) };
      const created = await withLock(redis, lockName(viewer, truth), async () => {
        const existing = await Reaction.findOne(filter).lean<ReactionRecord>().exec();
        const now = new Date();
        if (!existing) {
          try {
            await Reaction.collection.insertOne({
              _id: new Types.ObjectId(),
              ...filter,
              kind,
              createdAt: now,
              updatedAt: now,
            });
          } catch (error) {
            if (isDuplicateKeyError(error)) return false;
            throw error;
          }
          await reactionMirror.set(viewer.id, truth._id.toHexString(), kind);
          await truths.changeCounts(truth._id, { [kind]: 1 });
          return true;
        }
        if (existing.kind !== kind) {
          await Reaction.updateOne(filter, { $set: { kind, updatedAt: now } }).exec();
          await reactionMirror.set(viewer.id, truth._id.toHexString(), kind);
          await truths.changeCounts(truth._id, { [existing.kind]: -1, [kind]: 1 });
        }
        return false;
      });
      if (created) {
        await notifications.notify({
          kind: 'REACTED',
          userId: truth.authorId.toHexString(),
          actorId: viewer.id,
          truthId: truth._id.toHexString(),
        });
      }
      return truth;
    },

    /** Removes the viewer's reaction, if any. */
    async remove(viewer: Viewer, truthId: string): Promise<TruthRecord> {
      const truth = await truths.reactionTarget(viewer, truthId);
      const filter = { truthId: truth._id, userId: objectId(viewer.id) };
      await withLock(redis, lockName(viewer, truth), async () => {
        const removed = await Reaction.findOneAndDelete(filter).lean<ReactionRecord>().exec();
        if (!removed) return;
        await reactionMirror.set(viewer.id, truth._id.toHexString(), null);
        await truths.changeCounts(truth._id, { [removed.kind]: -1 });
      });
      return truth;
    },
  };
}

export type ReactionService = ReturnType<typeof createReactionService>;
