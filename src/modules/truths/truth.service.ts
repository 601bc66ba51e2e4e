import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import type { Expectation } from '../../infra/counters.js';
import type { Effect, Effects } from '../../infra/effects.js';
import type { HashMirror } from '../../infra/hash-mirror.js';
import type { Logger } from '../../infra/logger.js';
import { insertResolved } from '../../infra/mongo.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { RecordCache } from '../../infra/record-cache.js';
import {
  SlowConsumerError,
  badUserInput,
  conflict,
  forbidden,
  notFound,
} from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import { isObjectIdHex, objectId } from '../../lib/ids.js';
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

/** The truths a new one relates to. */
interface Related {
  parent: TruthRecord | null;
  quoted: TruthRecord | null;
  original: TruthRecord | null;
}

/** What the counters were told before a truth's fact was written (infra/counters.ts). */
interface Expected {
  user?: Expectation;
  truths?: Expectation;
}

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
 * anything is written. A write is done once MongoDB has stored its fact (the inserted truth,
 * its `deletedAt`); its effects (counts, feeds, events, notifications) then run through
 * `effects` (infra/effects.ts), which retries them until they succeed, so a stored write is
 * never answered as failed and never loses an effect. Effects are idempotent: counts are
 * guarded per fact, feeds add and announce a truth once, notifications have ids derived from
 * the fact.
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
  effects: Effects;
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
    effects,
    bus,
  } = deps;

  const findTruth = async (id: string): Promise<TruthRecord | null> =>
    (await truthRecords.getMany([id])).get(id) ?? null;

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

  /** Changes a truth's counts once per `once` guard, and announces the new counts. */
  const changeCounts = async (
    truthId: Types.ObjectId,
    deltas: Partial<Record<TruthCountField, number>>,
    options: { once?: string; expected?: Expectation } = {},
  ) => {
    const id = truthId.toHexString();
    const counts = await truthCounts.increment(id, deltas, options);
    if (counts) await bus.publish('truthCountsChanged', id, { truthId: id, counts });
  };

  const loadAuthor = async (authorId: Types.ObjectId): Promise<UserRecord> => {
    const id = authorId.toHexString();
    const author = (await userRecords.getMany([id])).get(id);
    if (!author) throw notFound('The author no longer exists.');
    return author;
  };

  const loadRelated = async (id: Types.ObjectId | null) =>
    id ? ((await truthRecords.getMany([id.toHexString()])).get(id.toHexString()) ?? null) : null;

  /**
   * The effects of a truth that has been stored (a post, reply, quote or retruth), in order.
   * `entry` names the write in the journal and guards its counts.
   */
  const insertedEffects = (
    entry: string,
    truth: TruthRecord,
    related: Related,
    expected: Expected = {},
  ): Effect[] => {
    const { parent, quoted, original } = related;
    const authorId = truth.authorId.toHexString();
    const truthId = truth._id.toHexString();
    const list: NewNotification[] = [];
    if (original) {
      list.push({
        kind: 'RETRUTHED',
        userId: original.authorId.toHexString(),
        actorId: authorId,
        truthId: original._id.toHexString(),
      });
    }
    if (parent)
      list.push({
        kind: 'REPLIED',
        userId: parent.authorId.toHexString(),
        actorId: authorId,
        truthId,
      });
    if (quoted)
      list.push({
        kind: 'QUOTED',
        userId: quoted.authorId.toHexString(),
        actorId: authorId,
        truthId,
      });
    const notified = new Set(list.map((n) => n.userId));
    for (const mentioned of truth.mentionIds) {
      if (!notified.has(mentioned.toHexString())) {
        list.push({
          kind: 'MENTIONED',
          userId: mentioned.toHexString(),
          actorId: authorId,
          truthId,
        });
      }
    }
    return [
      async () => {
        await truthRecords.put(truth);
        if (original) await retruthMirror.set(authorId, original._id.toHexString(), truthId);
      },
      async () => {
        const on = (what: string, by: Expectation | undefined) => ({
          once: `${entry}:${what}`,
          ...(by ? { expected: by } : {}),
        });
        await userCounts.increment(authorId, { truths: 1 }, on('author', expected.user));
        if (parent) await changeCounts(parent._id, { replies: 1 }, on('parent', expected.truths));
        if (quoted) await changeCounts(quoted._id, { quotes: 1 }, on('quoted', expected.truths));
        if (original) {
          await changeCounts(original._id, { retruths: 1 }, on('original', expected.truths));
        }
      },
      async () => feeds.distribute(truth, await loadAuthor(truth.authorId), original),
      () => notifications.notifyAll(list, { fact: entry, at: truth.createdAt }),
    ];
  };

  /** The effects of a truth going away (deleted, or a retruth taken back), in order. */
  const deletedEffects = (entry: string, truth: TruthRecord, expected: Expected = {}): Effect[] => [
    async () => {
      await truthRecords.put(truth);
      if (truth.retruthOfId) {
        await retruthMirror.set(
          truth.authorId.toHexString(),
          truth.retruthOfId.toHexString(),
          null,
        );
      }
    },
    async () => {
      const on = (what: string, by: Expectation | undefined) => ({
        once: `${entry}:${what}`,
        ...(by ? { expected: by } : {}),
      });
      const authorId = truth.authorId.toHexString();
      await userCounts.increment(authorId, { truths: -1 }, on('author', expected.user));
      if (truth.replyToId) {
        await changeCounts(truth.replyToId, { replies: -1 }, on('parent', expected.truths));
      }
      if (truth.quoteOfId) {
        await changeCounts(truth.quoteOfId, { quotes: -1 }, on('quoted', expected.truths));
      }
      if (truth.retruthOfId) {
        await changeCounts(truth.retruthOfId, { retruths: -1 }, on('original', expected.truths));
      }
    },
    () => feeds.retract(truth),
  ];

  /** Announces to the counters the counts a truth's arrival or departure will change. */
  const expectCounts = async (truth: TruthRecord): Promise<Expected> => {
    const related = [truth.replyToId, truth.quoteOfId, truth.retruthOfId].flatMap((id) =>
      id ? [id.toHexString()] : [],
    );
    const [user, truths] = await Promise.all([
      userCounts.expect([truth.authorId.toHexString()]),
      truthCounts.expect(related),
    ]);
    return { user, truths };
  };

  /** Stores a new truth, then runs its effects. The stored truth (ours, or a racing twin's). */
  const insert = async (
    truth: TruthRecord,
    related: Related,
  ): Promise<{ truth: TruthRecord; inserted: boolean }> => {
    const truthId = truth._id.toHexString();
    const entry = `truth:${truthId}`;
    await effects.intend(entry);
    // Zero counts before the truth exists anywhere, so no reply or reaction can come before
    // them. Best effort: a hash that is not there is rebuilt from MongoDB when read.
    await truthCounts.seed(truthId).catch(() => undefined);
    const expected = await expectCounts(truth);
    const stored = await insertResolved(() => Truth.collection.insertOne(truth), {
      unknown: { check: { type: 'Truth', id: truthId } },
    });
    if (stored.outcome === 'duplicate') {
      await effects.discard(entry);
      // Our own earlier attempt (MongoDB answered late), or a racing twin of this request.
      const existing = truth.retruthKey
        ? await Truth.findOne({ retruthKey: truth.retruthKey }).lean<TruthRecord>().exec()
        : await Truth.findById(truth._id).lean<TruthRecord>().exec();
      if (!existing) throw new Error('a truth refused as a duplicate is not there');
      if (!stored.retried) return { truth: existing, inserted: false };
    }
    await effects.apply(entry, insertedEffects(entry, truth, related, expected));
    return { truth, inserted: true };
  };

  /** Marks a stored truth deleted, then runs its effects; false when it already was. */
  const remove = async (truth: TruthRecord): Promise<boolean> => {
    const truthId = truth._id.toHexString();
    const entry = `deleted:${truthId}`;
    await effects.intend(entry);
    const expected = await expectCounts(truth);
    const deletedAt = new Date();
    const { modifiedCount } = await Truth.updateOne(
      { _id: truth._id, deletedAt: null },
      { $set: { deletedAt }, $unset: { retruthKey: 1 } },
    ).exec();
    if (modifiedCount === 0) {
      await effects.discard(entry);
      return false;
    }
    const { retruthKey: _dropped, ...rest } = truth;
    await effects.apply(entry, deletedEffects(entry, { ...rest, deletedAt }, expected));
    return true;
  };

  // A process that died between storing a truth and finishing its effects left its journal
  // entry: any instance finishes them from what MongoDB holds.
  effects.recover('truth', async (truthId) => {
    const truth = await Truth.findById(objectId(truthId)).lean<TruthRecord>().exec();
    if (!truth) return;
    const entry = `truth:${truthId}`;
    const related = {
      parent: await loadRelated(truth.replyToId),
      quoted: await loadRelated(truth.quoteOfId),
      original: await loadRelated(truth.retruthOfId),
    };
    // A truth deleted since only needs its counts (the deletion took the rest back).
    const all = insertedEffects(entry, truth, related);
    await effects.apply(entry, truth.deletedAt ? [all[1]!] : all);
  });
  effects.recover('deleted', async (truthId) => {
    const truth = await Truth.findById(objectId(truthId)).lean<TruthRecord>().exec();
    if (!truth?.deletedAt) return;
    const entry = `deleted:${truthId}`;
    await effects.apply(entry, deletedEffects(entry, truth));
  });

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
        const claimed = await insertResolved(
          () => Idempotency.collection.insertOne(record as never),
          {
            unknown: { idempotencyKey: key },
          },
        );
        if (claimed.outcome === 'duplicate') {
          const first = await Idempotency.findById(record._id).lean<IdempotencyRecord>().exec();
          if (!first) throw new Error('an idempotency key refused as a duplicate is not there');
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
      return (await insert(truth, { parent, quoted, original: null })).truth;
    },

    /**
     * Deletes one of the viewer's truths (a retruth too); replies to it stay. Deleting a truth
     * that is already deleted changes nothing and succeeds, so a retry is safe.
     */
    async delete(viewer: Viewer, truthId: string): Promise<void> {
      const truth = await findTruth(truthId);
      if (!truth || (truth.deletedAt && truth.authorId.toHexString() !== viewer.id)) {
        throw notFound('There is no truth with that id.');
      }
      if (truth.authorId.toHexString() !== viewer.id) {
        throw forbidden('Only its author can delete a truth.');
      }
      if (truth.deletedAt) return;
      await remove(truth);
      // Retruths of a deleted truth go with it.
      const retruths = await Truth.find({ retruthOfId: truth._id, deletedAt: null })
        .lean<TruthRecord[]>()
        .exec();
      for (const retruth of retruths) await remove(retruth);
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
        retruthKey: `${viewer.id}:${original._id.toHexString()}`,
        createdAt: new Date(),
        deletedAt: null,
      };
      const stored = await insert(retruth, { parent: null, quoted: null, original });
      return { retruth: stored.truth, original };
    },

    /** Takes the viewer's retruth of a truth back; nothing happens when there is none. */
    async undoRetruth(viewer: Viewer, truthId: string): Promise<TruthRecord> {
      const truth = await findTruth(truthId);
      if (!truth) throw notFound('There is no truth with that truthId.');
      const originalId = truth.retruthOfId ?? truth._id;
      const [retruthId] = await retruthMirror.get(viewer.id, [originalId.toHexString()]);
      const retruth = retruthId && isObjectIdHex(retruthId) ? await findTruth(retruthId) : null;
      if (retruth && !retruth.deletedAt) await remove(retruth);
      const original = truth.retruthOfId ? await findTruth(originalId.toHexString()) : truth;
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
    /** Call before storing a fact that changes the counts of `truthId` (see infra/counters.ts). */
    expectCounts: (truthId: Types.ObjectId): Promise<Expectation> =>
      truthCounts.expect([truthId.toHexString()]),
    findTruth,
  };
}

export type TruthService = ReturnType<typeof createTruthService>;
