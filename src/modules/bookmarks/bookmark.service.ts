import { Types } from 'mongoose';
import type { Effect, Effects } from '../../infra/effects.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import { badUserInput, conflict, forbidden, notFound } from '../../lib/errors.js';
import { objectId } from '../../lib/ids.js';
import type { TruthRecord, TruthService } from '../truths/index.js';
import type { Viewer } from '../users/index.js';
import {
  maxPinnedTruths,
  pinKeyOf,
  type BookmarkEventModel,
  type BookmarkEventRecord,
  type PinEventModel,
  type PinEventRecord,
} from './bookmark.model.js';
import type { BookmarkStore } from './bookmark.store.js';

/** One truth of a bookmarks page, with the version that orders it (its cursor). */
export interface BookmarkedTruth {
  truth: TruthRecord;
  version: number;
}

const maxFillRounds = 5;
const maxPinAttempts = 5;

/**
 * Bookmarks and pins.
 *
 * Bookmarks are private: a user's list of truths (the original, for a retruth), newest first,
 * read from Redis; changes are decided there, inserted into `bookmark_events`, then applied
 * (bookmark.store.ts). A deleted truth stays bookmarked but is left out of every page.
 *
 * Pins are public: up to `maxPinnedTruths` of a user's own posts, quotes or retruths, shown on
 * their profile in the order they were pinned. Each change inserts the whole new list under
 * the next revision's key (bookmark.model.ts); a change that lost a race is computed again from
 * the winner's list. Deleted truths leave the list at the next change and are never shown.
 *
 * Every stored change's effects run through `effects` (infra/effects.ts).
 */
export function createBookmarkService(deps: {
  BookmarkEvent: BookmarkEventModel;
  PinEvent: PinEventModel;
  store: BookmarkStore;
  truths: TruthService;
  effects: Effects;
}) {
  const { BookmarkEvent, PinEvent, store, truths, effects } = deps;
  const bookmarkInserts = createInserter(BookmarkEvent.collection);
  // String keys: the collection's driver type assumes ObjectId ones (as `idempotency_keys`).
  const pinInserts = createInserter<PinEventRecord>(PinEvent.collection as never);

  const bookmarkEffects = (event: BookmarkEventRecord): Effect[] => [
    async () => {
      await store.apply(event);
    },
  ];

  /** Adds or removes the viewer's bookmark of `truth`, if that changes it. */
  const change = async (viewer: Viewer, truth: TruthRecord, on: boolean): Promise<void> => {
    const version = await store.intend(viewer.id, truth._id.toHexString(), on);
    if (version === null) return;
    const event: BookmarkEventRecord = {
      _id: new Types.ObjectId(),
      userId: objectId(viewer.id),
      truthId: truth._id,
      on,
      version,
      at: new Date(),
    };
    const entry = `bookmark:${event._id.toHexString()}`;
    await effects.intend(entry);
    await insertResolved(() => bookmarkInserts.insert(event), { unknown: {} });
    await effects.apply(entry, bookmarkEffects(event));
  };

  const pinEffects = (event: PinEventRecord): Effect[] => [() => store.applyPins(event)];
  // `pins:<user>:<revision>:<attempt>`: an attempt that lost the revision drops its own entry.
  const pinEntryOf = (event: PinEventRecord) => `pins:${event._id}:${event.attempt}`;

  // A process that died between storing a change and applying it left its journal entry.
  effects.recover('bookmark', async (eventId) => {
    const event = await BookmarkEvent.findById(objectId(eventId))
      .lean<BookmarkEventRecord>()
      .exec();
    if (event) await effects.apply(`bookmark:${eventId}`, bookmarkEffects(event));
  });
  effects.recover('pins', async (key) => {
    const [userId, revision, attempt] = key.split(':') as [string, string, string];
    const event = await PinEvent.findById(pinKeyOf(userId, Number(revision)))
      .lean<PinEventRecord>()
      .exec();
    if (event?.attempt === attempt) await effects.apply(pinEntryOf(event), pinEffects(event));
  });

  /** Live truths among `ids`, in their order. */
  const liveTruths = async (ids: readonly string[]): Promise<TruthRecord[]> => {
    const found = await truths.getMany(ids);
    return ids.flatMap((id) => {
      const truth = found.get(id);
      return truth && !truth.deletedAt ? [truth] : [];
    });
  };

  /**
   * Changes the viewer's pins to what `next` makes of the live ones (null: nothing to
   * change), from the latest revision, again after losing a race to another change.
   */
  const changePins = async (
    viewer: Viewer,
    next: (live: readonly TruthRecord[]) => TruthRecord[] | null,
  ): Promise<void> => {
    for (let attempt = 0; attempt < maxPinAttempts; attempt++) {
      const current = await store.pinsOf(viewer.id);
      const wanted = next(await liveTruths(current.truthIds));
      if (!wanted) return;
      const revision = current.revision + 1;
      const event: PinEventRecord = {
        _id: pinKeyOf(viewer.id, revision),
        userId: objectId(viewer.id),
        revision,
        truthIds: wanted.map((truth) => truth._id),
        at: new Date(),
        attempt: new Types.ObjectId().toHexString(),
      };
      const entry = pinEntryOf(event);
      await effects.intend(entry);
      const stored = await insertResolved(() => pinInserts.insert(event), { unknown: {} });
      if (stored.outcome === 'inserted' || stored.retried) {
        await effects.apply(entry, pinEffects(event));
        return;
      }
      // Another change took this revision: start again from it once Redis has it (its request
      // applies it in a moment; had its process died, the journal's sweeper will).
      await effects.discard(entry).catch(() => undefined);
      for (let waited = 0; waited < 1_000; waited += 50) {
        if ((await store.pinsOf(viewer.id)).revision >= revision) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    throw conflict('Your pins are changing too fast; try again.', 'truthId');
  };

  return {
    /** Bookmarks a truth (the original, for a retruth); returns it. */
    async bookmark(viewer: Viewer, truthId: string): Promise<TruthRecord> {
      const truth = await truths.reactionTarget(viewer, truthId);
      await change(viewer, truth, true);
      return truth;
    },

    /** Removes the viewer's bookmark of a truth (deleted or not); returns it. */
    async unbookmark(viewer: Viewer, truthId: string): Promise<TruthRecord> {
      let truth = await truths.findTruth(truthId);
      if (truth?.retruthOfId) truth = await truths.findTruth(truth.retruthOfId.toHexString());
      if (!truth) throw notFound('There is no truth with that truthId.');
      await change(viewer, truth, false);
      return truth;
    },

    /** A page of the viewer's bookmarks, newest first, deleted truths left out. */
    async page(
      viewerId: string,
      first: number,
      afterVersion: number | null,
    ): Promise<{ items: BookmarkedTruth[]; hasNextPage: boolean }> {
      const want = first + 1;
      const items: BookmarkedTruth[] = [];
      let below = afterVersion;
      for (let round = 0; round < maxFillRounds && items.length < want; round++) {
        const limit = want - items.length + (round === 0 ? 0 : 10);
        const entries = await store.page(viewerId, below, limit);
        const found = await truths.getMany(entries.map((entry) => entry.truthId));
        for (const { truthId, version } of entries) {
          const truth = found.get(truthId);
          if (truth && !truth.deletedAt) items.push({ truth, version });
        }
        if (entries.length < limit) break;
        below = entries.at(-1)!.version;
      }
      return { items: items.slice(0, first), hasNextPage: items.length > first };
    },

    /** Pins one of the viewer's own posts, quotes or retruths, after those pinned already. */
    async pin(viewer: Viewer, truthId: string): Promise<void> {
      const truth = await truths.findTruth(truthId);
      if (!truth || truth.deletedAt) throw notFound('There is no truth with that truthId.');
      if (truth.authorId.toHexString() !== viewer.id) {
        throw forbidden('You can only pin your own truths.');
      }
      if (truth.kind === 'REPLY') {
        throw badUserInput('Pin a post, a quote or a retruth, not a reply.', 'truthId');
      }
      await changePins(viewer, (live) => {
        if (live.some((pinned) => pinned._id.equals(truth._id))) return null;
        if (live.length >= maxPinnedTruths) {
          throw badUserInput(
            `You can pin at most ${maxPinnedTruths} truths; unpin one first.`,
            'truthId',
          );
        }
        return [...live, truth];
      });
    },

    /** Unpins a truth of the viewer's, if it is pinned. */
    async unpin(viewer: Viewer, truthId: string): Promise<void> {
      if (!(await store.pinsOf(viewer.id)).truthIds.includes(truthId)) return;
      await changePins(viewer, (live) => live.filter((pinned) => !pinned._id.equals(truthId)));
    },

    /** The ids of each user's pinned truths, in pin order (users without pins absent). */
    async pinnedIds(userIds: readonly string[]): Promise<Map<string, readonly string[]>> {
      const lists = await store.pins.getMany(userIds);
      return new Map([...lists].map(([userId, list]) => [userId, list.truthIds]));
    },
    /** `pinnedIds` of a user this process holds, if it does; no I/O. */
    peekPinnedIds: (userId: string): readonly string[] | undefined =>
      store.pins.peek(userId)?.truthIds,

    /** A user's pinned truths, in pin order, deleted ones left out. */
    async pinned(userId: string): Promise<TruthRecord[]> {
      return liveTruths((await store.pinsOf(userId)).truthIds);
    },

    /** Each user's bookmarks, truth id → version (what `viewerHasBookmarked` reads). */
    byUser: store.byUser,
  };
}

export type BookmarkService = ReturnType<typeof createBookmarkService>;
