import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import type { HashMirror } from '../../infra/hash-mirror.js';
import type { Logger } from '../../infra/logger.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { RecordCache } from '../../infra/record-cache.js';
import {
  SlowConsumerError,
  badUserInput,
  conflict,
  forbidden,
  isDuplicateKeyError,
  notFound,
} from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import { objectId } from '../../lib/ids.js';
import type { FeedService } from '../feeds/feed.service.js';
import type { RelationService } from '../follows/relation.service.js';
import type {
  NewNotification,
  NotificationService,
} from '../notifications/notification.service.js';
import type { UserCountStore } from '../users/user.counts.js';
import type { UserModel, UserRecord } from '../users/user.model.js';
import type { Viewer } from '../users/user.service.js';
import type { TruthCountField, TruthCountStore, TruthCounts } from './truth.counts.js';
import type { TruthTopics } from './truth.events.js';
import type {
  IdempotencyModel,
  IdempotencyRecord,
  TruthModel,
  TruthRecord,
} from './truth.model.js';
import { maxTruthLength, parseHashtags, parseMentions, textLength } from './truth.text.js';

export interface NewTruth {
  text: string;
  /** ObjectId hex of the truth replied to. */
  replyToId?: string | null;
  /** ObjectId hex of the truth quoted. */
  quoteOfId?: string | null;
  idempotencyKey?: string | null;
}

/**
 * Truths: posting (with idempotency keys), deleting, retruthing. Every input is checked before
 * anything is written. Side effects (counts, timelines, events, notifications) run once, by the
 * request that actually inserted the truth.
 */
export function createTruthService(deps: {
  Truth: TruthModel;
  Idempotency: IdempotencyModel;
  User: UserModel;
  truthCounts: TruthCountStore;
  userCounts: UserCountStore;
  relations: RelationService;
  notifications: NotificationService;
  feeds: FeedService;
  truthRecords: RecordCache<TruthRecord>;
  userRecords: RecordCache<UserRecord>;
  retruthMirror: HashMirror;
  bus: EventBus<TruthTopics>;
  logger: Logger;
}) {
  const {
    Truth,
    Idempotency,
    User,
    truthCounts,
    userCounts,
    relations,
    notifications,
    feeds,
    truthRecords,
    userRecords,
    retruthMirror,
    bus,
  } = deps;

  const findTruth = (id: string) => Truth.findById(objectId(id)).lean<TruthRecord>().exec();

  /**
   * A truth the viewer may act on (reply to, quote, retruth, react to): it exists, is not
   * deleted, and neither its author nor the viewer blocks the other.
   */
  const actionableTruth = async (
    viewer: Viewer,
    id: string,
    field: string,
  ): Promise<TruthRecord> => {
    const truth = await findTruth(id);
    if (!truth || truth.deletedAt) throw notFound(`There is no truth with that ${field}.`);
    if (await relations.isBlockedBetween(viewer.id, truth.authorId.toHexString())) {
      throw forbidden('You cannot interact with this truth.');
    }
    return truth;
  };

  const changeCounts = async (
    truthId: Types.ObjectId,
    deltas: Partial<Record<TruthCountField, number>>,
  ) => {
    const id = truthId.toHexString();
    const counts = await truthCounts.increment(id, deltas);
    if (counts) await bus.publish('truthCountsChanged', id, { truthId: id, counts });
  };

  const loadAuthor = async (authorId: Types.ObjectId): Promise<UserRecord> => {
    const id = authorId.toHexString();
    const author = (await userRecords.getMany([id])).get(id);
    if (!author) throw notFound('The author no longer exists.');
    return author;
  };

  /** Everything that follows a new truth; runs once per truth. */
  const afterInsert = async (
    truth: TruthRecord,
    parent: TruthRecord | null,
    quoted: TruthRecord | null,
  ) => {
    await userCounts.increment(truth.authorId.toHexString(), { truths: 1 });
    if (parent) await changeCounts(parent._id, { replies: 1 });
    if (quoted) await changeCounts(quoted._id, { quotes: 1 });
    await feeds.distribute(truth, await loadAuthor(truth.authorId), null);

    const actorId = truth.authorId.toHexString();
    const truthId = truth._id.toHexString();
    const notified = new Set<string>();
    const list: NewNotification[] = [];
    if (parent) {
      list.push({ kind: 'REPLIED', userId: parent.authorId.toHexString(), actorId, truthId });
      notified.add(parent.authorId.toHexString());
    }
    if (quoted) {
      list.push({ kind: 'QUOTED', userId: quoted.authorId.toHexString(), actorId, truthId });
      notified.add(quoted.authorId.toHexString());
    }
    for (const mentioned of truth.mentionIds) {
      if (!notified.has(mentioned.toHexString())) {
        list.push({ kind: 'MENTIONED', userId: mentioned.toHexString(), actorId, truthId });
      }
    }
    await notifications.notifyAll(list);
  };

  /** The effects of a truth going away (deleted, or a retruth taken back); runs once. */
  const afterDelete = async (truth: TruthRecord) => {
    await userCounts.increment(truth.authorId.toHexString(), { truths: -1 });
    if (truth.replyToId) await changeCounts(truth.replyToId, { replies: -1 });
    if (truth.quoteOfId) await changeCounts(truth.quoteOfId, { quotes: -1 });
    if (truth.retruthOfId) await changeCounts(truth.retruthOfId, { retruths: -1 });
    await feeds.retract(truth);
  };

  /** Marks a truth deleted; false when it already was (another request got there first). */
  const markDeleted = async (truth: TruthRecord): Promise<boolean> => {
    const deletedAt = new Date();
    const { modifiedCount } = await Truth.updateOne(
      { _id: truth._id, deletedAt: null },
      { $set: { deletedAt }, $unset: { retruthKey: 1 } },
    ).exec();
    if (modifiedCount === 0) return false;
    const { retruthKey: _dropped, ...rest } = truth;
    await truthRecords.put({ ...rest, deletedAt });
    if (truth.retruthOfId) {
      await retruthMirror.set(truth.authorId.toHexString(), truth.retruthOfId.toHexString(), null);
    }
    return true;
  };

  const requestHashOf = (input: NewTruth) =>
    createHash('sha256')
      .update(JSON.stringify([input.text, input.replyToId ?? null, input.quoteOfId ?? null]))
      .digest('hex');

  return {
    /**
     * Posts a truth. With an idempotency key, the first request records the key and the id it
     * will use before inserting; a retry with the same content gets that truth back (finishing
     * the insert if the first attempt died in between), different content is a CONFLICT.
     */
    async post(viewer: Viewer, input: NewTruth): Promise<TruthRecord> {
      const text = input.text.trim();
      if (text.length === 0) throw badUserInput('A truth needs some text.', 'text');
      if (textLength(text) > maxTruthLength) {
        throw badUserInput(`A truth is at most ${maxTruthLength} characters.`, 'text');
      }
      if (input.replyToId && input.quoteOfId) {
        throw badUserInput('A truth can reply to one truth or quote one, not both.', 'quoteOfId');
      }
      const key = input.idempotencyKey ?? null;
      if (key !== null && (key.length < 1 || key.length > 100)) {
        throw badUserInput('An idempotency key is 1 to 100 characters.', 'idempotencyKey');
      }
      const parent = input.replyToId
        ? await actionableTruth(viewer, input.replyToId, 'replyToId')
        : null;
      const quoted = input.quoteOfId
        ? await actionableTruth(viewer, input.quoteOfId, 'quoteOfId')
        : null;
      if (quoted?.kind === 'RETRUTH')
        throw badUserInput('Quote the original truth, not a retruth.', 'quoteOfId');
      if (parent?.kind === 'RETRUTH')
        throw badUserInput('Reply to the original truth, not a retruth.', 'replyToId');

      let id = new Types.ObjectId();
      if (key !== null) {
        const record: IdempotencyRecord = {
          _id: `${viewer.id}:${key}`,
          requestHash: requestHashOf({ ...input, text }),
          truthId: id,
          createdAt: new Date(),
        };
        try {
          await Idempotency.create(record);
        } catch (error) {
          if (!isDuplicateKeyError(error)) throw error;
          const first = await Idempotency.findById(record._id).lean<IdempotencyRecord>().exec();
          if (!first) throw error;
          if (first.requestHash !== record.requestHash) {
            throw conflict(
              'That idempotency key was already used for a different truth.',
              'idempotencyKey',
            );
          }
          const existing = await Truth.findById(first.truthId).lean<TruthRecord>().exec();
          if (existing) return existing;
          id = first.truthId;
        }
      }

      const mentionNames = parseMentions(text);
      const mentioned = mentionNames.length
        ? await User.find({ usernameKey: { $in: mentionNames } }, { _id: 1 })
            .lean<Pick<UserRecord, '_id'>[]>()
            .exec()
        : [];
      const truth: TruthRecord = {
        _id: id,
        authorId: objectId(viewer.id),
        kind: parent ? 'REPLY' : quoted ? 'QUOTE' : 'POST',
        text,
        hashtags: parseHashtags(text),
        mentionIds: mentioned.map((user) => user._id),
        replyToId: parent?._id ?? null,
        ancestorIds: parent ? [...parent.ancestorIds, parent._id] : [],
        quoteOfId: quoted?._id ?? null,
        retruthOfId: null,
        createdAt: new Date(),
        deletedAt: null,
      };
      try {
        await Truth.collection.insertOne(truth);
      } catch (error) {
        // The same idempotent request racing with itself: the other one inserted it.
        if (!isDuplicateKeyError(error)) throw error;
        const existing = await Truth.findById(id).lean<TruthRecord>().exec();
        if (existing) return existing;
        throw error;
      }
      await afterInsert(truth, parent, quoted);
      return truth;
    },

    /** Deletes one of the viewer's truths (a retruth too); replies to it stay. */
    async delete(viewer: Viewer, truthId: string): Promise<void> {
      const truth = await findTruth(truthId);
      if (!truth || truth.deletedAt) throw notFound('There is no truth with that id.');
      if (truth.authorId.toHexString() !== viewer.id) {
        throw forbidden('Only its author can delete a truth.');
      }
      if (!(await markDeleted(truth))) return;
      await afterDelete(truth);
      // Retruths of a deleted truth go with it.
      const retruths = await Truth.find({ retruthOfId: truth._id, deletedAt: null })
        .lean<TruthRecord[]>()
        .exec();
      for (const retruth of retruths) {
        if (await markDeleted(retruth)) await afterDelete(retruth);
      }
    },

    /**
     * Retruths a truth (the original, when given a retruth). Once per user per truth, enforced
     * by a unique index: a second call returns the existing retruth.
     */
    async retruth(
      viewer: Viewer,
      truthId: string,
    ): Promise<{ retruth: TruthRecord; original: TruthRecord }> {
      let original = await actionableTruth(viewer, truthId, 'truthId');
      if (original.retruthOfId) {
        original = await actionableTruth(viewer, original.retruthOfId.toHexString(), 'truthId');
      }
      const retruthKey = `${viewer.id}:${original._id.toHexString()}`;
      const retruth: TruthRecord = {
        _id: new Types.ObjectId(),
        authorId: objectId(viewer.id),
        kind: 'RETRUTH',
        text: '',
        hashtags: [],
        mentionIds: [],
        replyToId: null,
        ancestorIds: [],
        quoteOfId: null,
        retruthOfId: original._id,
        retruthKey,
        createdAt: new Date(),
        deletedAt: null,
      };
      try {
        await Truth.collection.insertOne(retruth);
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
        const existing = await Truth.findOne({ retruthKey }).lean<TruthRecord>().exec();
        if (existing) return { retruth: existing, original };
        throw error;
      }
      await retruthMirror.set(viewer.id, original._id.toHexString(), '1');
      await userCounts.increment(viewer.id, { truths: 1 });
      await changeCounts(original._id, { retruths: 1 });
      await feeds.distribute(retruth, await loadAuthor(retruth.authorId), original);
      await notifications.notify({
        kind: 'RETRUTHED',
        userId: original.authorId.toHexString(),
        actorId: viewer.id,
        truthId: original._id.toHexString(),
      });
      return { retruth, original };
    },

    /** Takes the viewer's retruth of a truth back; nothing happens when there is none. */
    async undoRetruth(viewer: Viewer, truthId: string): Promise<TruthRecord> {
      const truth = await findTruth(truthId);
      if (!truth) throw notFound('There is no truth with that truthId.');
      const originalId = truth.retruthOfId ?? truth._id;
      const retruth = await Truth.findOne({
        retruthKey: `${viewer.id}:${originalId.toHexString()}`,
      })
        .lean<TruthRecord>()
        .exec();
      if (retruth && (await markDeleted(retruth))) await afterDelete(retruth);
      const original = truth.retruthOfId
        ? await Truth.findById(originalId).lean<TruthRecord>().exec()
        : truth;
      if (!original) throw notFound('There is no truth with that truthId.');
      return original;
    },

    /** A truth the viewer may react to (the original, for a retruth). */
    async reactionTarget(viewer: Viewer, truthId: string): Promise<TruthRecord> {
      const truth = await actionableTruth(viewer, truthId, 'truthId');
      return truth.retruthOfId
        ? actionableTruth(viewer, truth.retruthOfId.toHexString(), 'truthId')
        : truth;
    },

    /** A truth's counts now (once the channel is live, so no change is missed), then each change. */
    watchCounts(truthId: string): EventStream<{ truthId: string; counts: TruthCounts }> {
      const subscription = bus.subscribe('truthCountsChanged', truthId, (event) =>
        stream.push(event),
      );
      const stream = createEventStream<{ truthId: string; counts: TruthCounts }>({
        maxQueued: 200,
        overflowError: () => new SlowConsumerError(),
        onClose: () => subscription.unsubscribe(),
      });
      void subscription.ready
        .then(() => truthCounts.get([truthId]))
        .then((counts) => stream.push({ truthId, counts: counts.get(truthId)! }))
        .catch((error: unknown) => stream.fail(error as Error));
      return stream;
    },

    changeCounts,
    findTruth,
  };
}

export type TruthService = ReturnType<typeof createTruthService>;
