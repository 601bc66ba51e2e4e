import { Types } from 'mongoose';
import type { Expectation } from '../../infra/counters.js';
import type { Effects } from '../../infra/effects.js';
import type { HashMirror } from '../../infra/hash-mirror.js';
import type { Logger } from '../../infra/logger.js';
import { withLock } from '../../infra/lock.js';
import { insertResolved } from '../../infra/mongo.js';
import type { RedisClients } from '../../infra/redis.js';
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
 * to the same reaction document, and the count must follow the kind that really won. Once a
 * change is stored its effects (mirror, counts) run through `effects` (infra/effects.ts),
 * guarded by the reaction and the change, so they never fail the answer nor apply twice.
 */
export function createReactionService(deps: {
  Reaction: ReactionModel;
  truths: TruthService;
  notifications: NotificationService;
  reactionMirror: HashMirror;
  effects: Effects;
  redis: RedisClients;
  logger: Logger;
}) {
  const { Reaction, truths, notifications, reactionMirror, effects, redis } = deps;

  /** The effects of a stored reaction change, named and guarded by `change`. */
  const changed = (
    reaction: Pick<ReactionRecord, '_id' | 'userId' | 'truthId'>,
    change: string,
    kind: ReactionKind | null,
    deltas: Partial<Record<ReactionKind, number>>,
    expected: Expectation,
  ) =>
    effects.apply(`reaction:${reaction._id.toHexString()}`, [
      () => reactionMirror.set(reaction.userId.toHexString(), reaction.truthId.toHexString(), kind),
      () =>
        truths.changeCounts(reaction.truthId, deltas, {
          once: `reaction:${reaction._id.toHexString()}:${change}`,
          expected,
        }),
    ]);
  const lockName = (viewer: Viewer, truth: TruthRecord) =>
    `reaction:${viewer.id}:${truth._id.toHexString()}`;

  return {
    /** Sets the viewer's reaction; returns the truth reacted to (the original of a retruth). */
    async react(viewer: Viewer, truthId: string, kind: ReactionKind): Promise<TruthRecord> {
      const truth = await truths.reactionTarget(viewer, truthId);
      const filter = { truthId: truth._id, userId: objectId(viewer.id) };
      const created = await withLock(redis, lockName(viewer, truth), async () => {
        const existing = await Reaction.findOne(filter).lean<ReactionRecord>().exec();
        if (existing?.kind === kind) return null;
        const now = new Date();
        const expected = await truths.expectCounts(truth._id);
        if (!existing) {
          const record: ReactionRecord = {
            _id: new Types.ObjectId(),
            ...filter,
            kind,
            createdAt: now,
            updatedAt: now,
          };
          const stored = await insertResolved(() => Reaction.collection.insertOne(record), {
            unknown: {},
          });
          if (stored.outcome === 'duplicate') return null;
          await changed(record, 'created', kind, { [kind]: 1 }, expected);
          return record;
        }
        await Reaction.updateOne(filter, { $set: { kind, updatedAt: now } }).exec();
        await changed(
          existing,
          `${now.getTime()}:${kind}`,
          kind,
          { [existing.kind]: -1, [kind]: 1 },
          expected,
        );
        return null;
      });
      if (created) {
        const reactionId = created._id.toHexString();
        await effects.apply(`reaction:${reactionId}`, [
          () =>
            notifications.notify(
              {
                kind: 'REACTED',
                userId: truth.authorId.toHexString(),
                actorId: viewer.id,
                truthId: truth._id.toHexString(),
              },
              { fact: `reaction:${reactionId}`, at: created.createdAt },
            ),
        ]);
      }
      return truth;
    },

    /** Removes the viewer's reaction, if any. */
    async remove(viewer: Viewer, truthId: string): Promise<TruthRecord> {
      const truth = await truths.reactionTarget(viewer, truthId);
      const filter = { truthId: truth._id, userId: objectId(viewer.id) };
      await withLock(redis, lockName(viewer, truth), async () => {
        const expected = await truths.expectCounts(truth._id);
        const removed = await Reaction.findOneAndDelete(filter).lean<ReactionRecord>().exec();
        if (!removed) return;
        await changed(removed, 'removed', null, { [removed.kind]: -1 }, expected);
      });
      return truth;
    },
  };
}

export type ReactionService = ReturnType<typeof createReactionService>;
