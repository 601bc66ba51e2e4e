import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import type { Effect, Effects } from '../../infra/effects.js';
import type { Logger } from '../../infra/logger.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import type { EventBus } from '../../infra/pubsub.js';
import {
  OutcomeUnknownError,
  SlowConsumerError,
  badUserInput,
  conflict,
  forbidden,
  notFound,
} from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import type { Hooks } from '../../lib/hooks.js';
import { objectId } from '../../lib/ids.js';
import type { RelationService } from '../follows/index.js';
import type { MediaService } from '../media/index.js';
import type { UserRecord, UserService, Viewer } from '../users/index.js';
import type { TruthTopics } from './truth.events.js';
import type {
  IdempotencyModel,
  IdempotencyRecord,
  TruthDeletionModel,
  TruthDeletionRecord,
  TruthModel,
  TruthRecord,
} from './truth.model.js';
import type { TruthStore } from './truth.store.js';
import { parseHashtags, parseMentions } from './truth.text.js';
import { validateNewTruth, type NewTruth, type TruthInput } from './truth.validation.js';

export type { NewTruth, TruthInput };

/** What the truths module tells the modules that follow it (lib/hooks.ts). */
export interface TruthHooks {
  /**
   * A truth was stored (a post, reply, quote or retruth), with its author and the truths it
   * relates to. `fact` names it, the same for every run of its effects.
   */
  truthStored: {
    fact: string;
    truth: TruthRecord;
    author: UserRecord;
    parent: TruthRecord | null;
    quoted: TruthRecord | null;
    original: TruthRecord | null;
  };
  /** A truth was deleted (`deletedAt` set). */
  truthDeleted: { truth: TruthRecord };
}

/** The truths a new one relates to. */
interface Related {
  parent: TruthRecord | null;
  quoted: TruthRecord | null;
  original: TruthRecord | null;
}

/**
 * Truths: posting (with idempotency keys), deleting, retruthing. Every input is checked before
 * anything is written, against the read model (truth.store.ts); MongoDB receives inserts only
 * (a truth, a deletion, an idempotency key). A write is done once MongoDB has stored it; its
 * effects (the read model, counts, events, then what other modules do through `hooks`: feeds,
 * notifications) then run
 * through `effects` (infra/effects.ts), which retries them until they succeed and finishes them
 * after a crash, so a stored write is never answered as failed and never loses an effect. Each
 * effect is idempotent: the read model applies a truth or a deletion once, the feeds add and
 * announce a truth once, notifications have ids derived from the fact.
 */
export function createTruthService(deps: {
  Truth: TruthModel;
  TruthDeletion: TruthDeletionModel;
  Idempotency: IdempotencyModel;
  store: TruthStore;
  users: UserService;
  relations: RelationService;
  media: Pick<MediaService, 'prepare' | 'attach' | 'release'>;
  effects: Effects;
  hooks: Hooks<TruthHooks>;
  bus: EventBus<TruthTopics>;
  logger: Logger;
}) {
  const { Truth, TruthDeletion, Idempotency, store, users, relations, media } = deps;
  const { effects, hooks, bus } = deps;

  // Grouped under load (infra/mongo.ts): a burst of posts is a few transactions, not hundreds.
  const truthInserts = createInserter(Truth.collection);
  const deletionInserts = createInserter(TruthDeletion.collection);
  const keyInserts = createInserter<IdempotencyRecord>(Idempotency.collection as never);

  const findTruth = async (id: string): Promise<TruthRecord | null> =>
    (await store.records.getMany([id])).get(id) ?? null;

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

  const loadAuthor = async (authorId: Types.ObjectId): Promise<UserRecord> => {
    const id = authorId.toHexString();
    const author = (await users.getMany([id])).get(id);
    if (!author) throw notFound('The author no longer exists.');
    return author;
  };

  /** Announces the new counts of these truths to their live subscribers. */
  const countsChanged = (...truths: (TruthRecord | null)[]) =>
    Promise.all(
      truths.flatMap((truth) => {
        if (!truth) return [];
        const truthId = truth._id.toHexString();
        return [bus.publish('truthCountsChanged', truthId, { truthId })];
      }),
    );

  /** The effects of a stored truth (a post, reply, quote or retruth), in order. */
  const storedEffects = (entry: string, truth: TruthRecord, related: Related): Effect[] => {
    const { parent, quoted, original } = related;
    let author: UserRecord | undefined;
    return [
      async () => {
        if (await store.stored(truth)) await countsChanged(parent, quoted, original);
      },
      async () => {
        author ??= await loadAuthor(truth.authorId);
        const stored = { fact: entry, truth, author, parent, quoted, original };
        for (const effect of hooks.effectsOf('truthStored', stored)) await effect();
      },
    ];
  };

  /** The effects of a deletion (`truth` with its `deletedAt`), in order. */
  const deletedEffects = (truth: TruthRecord): Effect[] => [
    async () => {
      if (await store.deleted(truth)) {
        const related = [truth.replyToId, truth.quoteOfId, truth.retruthOfId].map((id) =>
          id ? ({ _id: id } as TruthRecord) : null,
        );
        await countsChanged(...related);
      }
    },
    ...hooks.effectsOf('truthDeleted', { truth }),
  ];

  /** The truths a stored truth's effects name: its parent, the quoted and the original. */
  const relatedOf = async (truth: TruthRecord): Promise<Related> => ({
    parent: truth.replyToId ? await findTruth(truth.replyToId.toHexString()) : null,
    quoted: truth.quoteOfId ? await findTruth(truth.quoteOfId.toHexString()) : null,
    original: truth.retruthOfId ? await findTruth(truth.retruthOfId.toHexString()) : null,
  });

  /**
   * Finishes the effects of a stored truth while its journal entry is there. The request that
   * stored it may have died before finishing them (an instance killed mid-request): its client
   * retrying, or a twin request, must not wait for the journal's sweeper (a minute) to see the
   * truth in its author's page and its followers' feeds. Or it is finishing them right now:
   * they are idempotent, so running them twice changes nothing.
   */
  const finishStored = async (truth: TruthRecord): Promise<void> => {
    const entry = `truth:${truth._id.toHexString()}`;
    if (!(await effects.isPending(entry))) return;
    await effects.apply(entry, storedEffects(entry, truth, await relatedOf(truth)));
  };

  /**
   * A truth another request stored or is storing: its record once the read model has it, its
   * effects finished (`finishStored`). That request may be gone: after a second, MongoDB's
   * record is taken.
   */
  const awaitStored = async (truthId: string): Promise<TruthRecord> => {
    let stored: TruthRecord | null = null;
    for (let waited = 0; !stored && waited < 1_000; waited += 50) {
      stored = await findTruth(truthId);
      if (!stored) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    stored ??= await Truth.findById(objectId(truthId)).lean<TruthRecord>().exec();
    if (!stored) throw new Error('a truth refused as a duplicate is not there');
    await finishStored(stored);
    return stored;
  };

  /** Stores a new truth, then runs its effects. The stored truth (ours, or a twin's). */
  const insert = async (truth: TruthRecord, related: Related): Promise<TruthRecord> => {
    const truthId = truth._id.toHexString();
    const entry = `truth:${truthId}`;
    await effects.intend(entry);
    const stored = await insertResolved(() => truthInserts.insert(truth), {
      unknown: { check: { type: 'Truth', id: truthId } },
    });
    // A refused `_id` is our own attempt that MongoDB answered late, or (with an idempotency
    // key) a twin request's, alive or dead: its truth is the answer, its effects finished.
    if (stored.outcome === 'duplicate' && !stored.retried) return awaitStored(truthId);
    await effects.apply(entry, storedEffects(entry, truth, related));
    return truth;
  };

  /** Deletes a stored truth, then runs its effects; nothing when it already was deleted. */
  const remove = async (truth: TruthRecord): Promise<void> => {
    const truthId = truth._id.toHexString();
    const entry = `deleted:${truthId}`;
    const deletion: TruthDeletionRecord = {
      _id: truth._id,
      authorId: truth.authorId,
      at: new Date(),
    };
    await effects.intend(entry);
    const stored = await insertResolved(() => deletionInserts.insert(deletion), {
      unknown: { check: { type: 'Truth', id: truthId } },
    });
    // Deleted already (a racing request, or our own late attempt): the first deletion counts,
    // and its effects are applied once whoever applies them.
    const deletedAt =
      stored.outcome === 'inserted'
        ? deletion.at
        : ((await findTruth(truthId))?.deletedAt ?? deletion.at);
    await effects.apply(entry, deletedEffects({ ...truth, deletedAt }));
  };

  // A process that died between storing a truth (or a deletion) and finishing its effects left
  // its journal entry: any instance finishes them from what MongoDB holds.
  effects.recover('truth', async (truthId) => {
    const truth = await Truth.findById(objectId(truthId)).lean<TruthRecord>().exec();
    if (!truth) return;
    await effects.apply(
      `truth:${truthId}`,
      storedEffects(`truth:${truthId}`, truth, await relatedOf(truth)),
    );
  });
  effects.recover('deleted', async (truthId) => {
    const deletion = await TruthDeletion.findById(objectId(truthId))
      .lean<TruthDeletionRecord>()
      .exec();
    const truth = deletion ? await findTruth(truthId) : null;
    if (!deletion || !truth) return;
    await effects.apply(`deleted:${truthId}`, deletedEffects({ ...truth, deletedAt: deletion.at }));
  });

  const requestHashOf = (input: NewTruth) =>
    createHash('sha256')
      .update(
        JSON.stringify([
          input.text,
          input.replyToId ?? null,
          input.quoteOfId ?? null,
          // Absent without media, so keys recorded before media existed still match.
          ...(input.media.length > 0
            ? [input.media.map((item) => [item.id, (item.altText ?? '').trim()])]
            : []),
        ]),
      )
      .digest('hex');

  /**
   * The truth an idempotency key already stands for: the truth (stored or, if its first
   * attempt died before storing it, still to store under the same id), or a CONFLICT for a key
   * used for something else. Null when the key is new and is now ours, with `id`.
   */
  const claimIdempotencyKey = async (
    viewer: Viewer,
    key: string,
    requestHash: string,
    id: Types.ObjectId,
  ): Promise<{ existing: TruthRecord | null; id: Types.ObjectId }> => {
    const record: IdempotencyRecord = {
      _id: `${viewer.id}:${key}`,
      requestHash,
      truthId: id,
      createdAt: new Date(),
    };
    const claimed = await insertResolved(() => keyInserts.insert(record), {
      unknown: { idempotencyKey: key },
    });
    if (claimed.outcome === 'inserted') {
      await store.rememberIdempotencyKey(record).catch((error: unknown) => {
        deps.logger.debug({ err: error }, 'idempotency key not remembered yet');
      });
      return { existing: null, id };
    }
    // Known to the read model, or (its first use is a moment old) only to MongoDB.
    const first =
      (await store.idempotencyKey(viewer.id, key)) ??
      (await Idempotency.findById(record._id)
        .lean<IdempotencyRecord>()
        .exec()
        .then((found) =>
          found ? { requestHash: found.requestHash, truthId: found.truthId.toHexString() } : null,
        ));
    if (!first) throw new Error('an idempotency key refused as a duplicate is not there');
    if (first.requestHash !== requestHash) {
      throw conflict(
        'That idempotency key was already used for a different truth.',
        'idempotencyKey',
      );
    }
    return { existing: await findTruth(first.truthId), id: objectId(first.truthId) };
  };

  return {
    /**
     * Posts a truth. With an idempotency key, the first request records the key and the id it
     * will use before inserting; a retry with the same content gets that truth back (finishing
     * the insert if the first attempt died in between), different content is a CONFLICT.
     */
    async post(
      viewer: Viewer,
      input: TruthInput,
    ): Promise<{ truth: TruthRecord & { author?: UserRecord }; created: boolean }> {
      const valid = validateNewTruth(input);
      const { text, idempotencyKey: key } = valid;
      const parent = valid.replyToId
        ? await actionableTruth(viewer, valid.replyToId, 'replyToId')
        : null;
      const quoted = valid.quoteOfId
        ? await actionableTruth(viewer, valid.quoteOfId, 'quoteOfId')
        : null;
      if (quoted?.kind === 'RETRUTH')
        throw badUserInput('Quote the original truth, not a retruth.', 'quoteOfId');
      if (parent?.kind === 'RETRUTH')
        throw badUserInput('Reply to the original truth, not a retruth.', 'replyToId');

      // Read before anything is written: the answer shows its author without asking again.
      const author = await loadAuthor(objectId(viewer.id));
      let id = new Types.ObjectId();
      if (key !== null) {
        const claim = await claimIdempotencyKey(viewer, key, requestHashOf(valid), id);
        if (claim.existing) {
          await finishStored(claim.existing);
          return { truth: claim.existing, created: false };
        }
        id = claim.id;
      }

      // Checked once the truth's id is known: a retry whose first attempt attached the files
      // to this same id before dying may attach them again.
      const attachments = await media.prepare(viewer.id, valid.media, id.toHexString());
      const mentioned = await users.idsByUsernameKeys(parseMentions(text));
      const truth: TruthRecord = {
        _id: id,
        authorId: objectId(viewer.id),
        kind: parent ? 'REPLY' : quoted ? 'QUOTE' : 'POST',
        text,
        hashtags: parseHashtags(text),
        mentionIds: mentioned.map(objectId),
        replyToId: parent?._id ?? null,
        ancestorIds: parent ? [...parent.ancestorIds, parent._id] : [],
        quoteOfId: quoted?._id ?? null,
        retruthOfId: null,
        createdAt: new Date(),
        deletedAt: null,
        ...(attachments.length > 0 ? { media: attachments } : {}),
      };
      const mediaIds = attachments.map((item) => item.id);
      await media.attach(viewer.id, mediaIds, id.toHexString());
      let stored: TruthRecord;
      try {
        stored = await insert(truth, { parent, quoted, original: null });
      } catch (error) {
        // Not stored (unless MongoDB went silent, when it may be): the files may go with
        // another post.
        if (!(error instanceof OutcomeUnknownError))
          await media.release(mediaIds, id.toHexString());
        throw error;
      }
      return { truth: stored === truth ? { ...truth, author } : stored, created: stored === truth };
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
      const retruths = await store.records.getMany(await store.retruthsOf(truthId));
      for (const retruth of retruths.values()) if (!retruth.deletedAt) await remove(retruth);
    },

    /**
     * Deletes a truth whoever wrote it (a moderator's removal; the caller checks the right to
     * and records who did it): the same deletion, effects and live `TruthDeleted` as its
     * author's, retruths included. Null when there is no such truth; removing a deleted truth
     * changes nothing.
     */
    async removeAny(truthId: string): Promise<TruthRecord | null> {
      const truth = await findTruth(truthId);
      if (!truth) return null;
      if (truth.deletedAt) return truth;
      await remove(truth);
      const retruths = await store.records.getMany(await store.retruthsOf(truthId));
      for (const retruth of retruths.values()) if (!retruth.deletedAt) await remove(retruth);
      return truth;
    },

    /**
     * Retruths a truth (the original, when given a retruth). Once per user per truth, decided
     * in Redis (truth.store.ts): a second call returns the existing retruth.
     */
    async retruth(
      viewer: Viewer,
      truthId: string,
    ): Promise<{ retruth: TruthRecord; original: TruthRecord }> {
      let original = await actionableTruth(viewer, truthId, 'truthId');
      if (original.retruthOfId) {
        original = await actionableTruth(viewer, original.retruthOfId.toHexString(), 'truthId');
      }
      const originalId = original._id.toHexString();
      const newId = new Types.ObjectId();
      const claim = await store.claimRetruth(viewer.id, originalId, newId.toHexString());
      if (claim.status !== 'claimed') {
        // Live, or being stored by a racing request of the same user.
        return { retruth: await awaitStored(claim.retruthId), original };
      }
      const retruth: TruthRecord = {
        _id: newId,
        authorId: objectId(viewer.id),
        kind: 'RETRUTH',
        text: '',
        hashtags: [],
        mentionIds: [],
        replyToId: null,
        ancestorIds: [],
        quoteOfId: null,
        retruthOfId: original._id,
        createdAt: new Date(),
        deletedAt: null,
      };
      try {
        return {
          retruth: await insert(retruth, { parent: null, quoted: null, original }),
          original,
        };
      } catch (error) {
        await store
          .releaseRetruth(viewer.id, originalId, newId.toHexString())
          .catch(() => undefined);
        throw error;
      }
    },

    /** Takes the viewer's retruth of a truth back; nothing happens when there is none. */
    async undoRetruth(viewer: Viewer, truthId: string): Promise<TruthRecord> {
      const truth = await findTruth(truthId);
      if (!truth) throw notFound('There is no truth with that truthId.');
      const originalId = (truth.retruthOfId ?? truth._id).toHexString();
      const retruthId = await store.retruthOf(viewer.id, originalId);
      const retruth = retruthId ? await findTruth(retruthId) : null;
      if (retruth && !retruth.deletedAt) await remove(retruth);
      const original = truth.retruthOfId ? await findTruth(originalId) : truth;
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

    /**
     * Live notices that a truth's counts changed: one now (once the channel is live, so no
     * change is missed), then one per change. Resolvers read the counts themselves.
     */
    watchCounts(truthId: string): EventStream<{ truthId: string }> {
      const subscription = bus.subscribe('truthCountsChanged', truthId, (event) =>
        stream.push(event),
      );
      const stream = createEventStream<{ truthId: string }>({
        maxQueued: 200,
        overflowError: () => new SlowConsumerError(),
        onClose: () => subscription.unsubscribe(),
      });
      void subscription.ready.then(
        () => stream.push({ truthId }),
        (error: unknown) => stream.fail(error as Error),
      );
      return stream;
    },

    /** Announces new counts of a truth (reactions change them too). */
    countsChanged: (truthId: Types.ObjectId) => countsChanged({ _id: truthId } as TruthRecord),

    findTruth,
    /** Truths by id (missing ones absent), from the read model. */
    getMany: (ids: Iterable<string>) => store.records.getMany(ids),
    peek: (id: string) => store.records.peek(id),
    /** Up to `limit` replies of a thread after `afterId`, oldest first, deleted ones included. */
    async replies(truthId: string, afterId: string | null, limit: number): Promise<TruthRecord[]> {
      const ids = await store.repliesOf(truthId, afterId, limit);
      const found = await store.records.getMany(ids);
      return ids.flatMap((id) => found.get(id) ?? []);
    },
    /** Counts of replies, retruths and quotes, and the authors' counts of live truths. */
    counts: store.counts,
    authored: store.authored,
    /** Whether each viewer retruthed each truth: `<viewer>` hashes of original → retruth. */
    retruths: store.retruths,
    /** Registers a rebuild step for what another module derives from every truth. */
    onReplay: (replay: (truths: readonly TruthRecord[]) => Promise<void>) => store.onReplay(replay),
  };
}

export type TruthService = ReturnType<typeof createTruthService>;
