import { Types } from 'mongoose';
import type { Effects } from '../../infra/effects.js';
import type { Logger } from '../../infra/logger.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import { objectId } from '../../lib/ids.js';
import type { Hooks } from '../../lib/hooks.js';
import type { TruthRecord, TruthService } from '../truths/index.js';
import type { Viewer } from '../users/index.js';
import type { ReactionEventModel, ReactionEventRecord, ReactionKind } from './reaction.model.js';
import type { ReactionStore } from './reaction.store.js';

/** What the reactions module tells the modules that follow it (lib/hooks.ts). */
export interface ReactionHooks {
  /** A user reacted to a truth that had no reaction of theirs; `fact` names it. */
  reacted: { fact: string; at: Date; userId: string; truth: TruthRecord };
}

/**
 * Reactions: one per user per truth. A change is decided against the user's current reaction
 * in Redis, inserted into MongoDB as an event, then applied to the user's reaction and to the
 * truth's counts, each by the change's version (reaction.store.ts): any number of people
 * reacting to one truth at once never lose a count, and one person's racing changes end as the
 * newest one says. Once stored, a change's
 * effects run through `effects` (infra/effects.ts) and never fail the answer.
 */
export function createReactionService(deps: {
  ReactionEvent: ReactionEventModel;
  store: ReactionStore;
  truths: TruthService;
  effects: Effects;
  hooks: Hooks<ReactionHooks>;
  logger: Logger;
}) {
  const { ReactionEvent, store, truths, effects, hooks } = deps;

  const inserts = createInserter(ReactionEvent.collection);

  const effectsOf = (event: ReactionEventRecord, truth: TruthRecord) => {
    const entry = `reaction:${event._id.toHexString()}`;
    return [
      async () => {
        const applied = await store.apply(event);
        if (applied.countsChanged) await truths.countsChanged(event.truthId);
        if (applied.reaction !== 'added') return;
        const reacted = { fact: entry, at: event.at, userId: event.userId.toHexString(), truth };
        for (const effect of hooks.effectsOf('reacted', reacted)) await effect();
      },
    ];
  };

  /** Sets the viewer's reaction to `kind` (null: none), if that changes it. */
  const change = async (viewer: Viewer, truth: TruthRecord, kind: ReactionKind | null) => {
    const version = await store.intend(viewer.id, truth._id.toHexString(), kind);
    if (version === null) return;
    const event: ReactionEventRecord = {
      _id: new Types.ObjectId(),
      userId: objectId(viewer.id),
      truthId: truth._id,
      kind,
      version,
      at: new Date(),
    };
    const entry = `reaction:${event._id.toHexString()}`;
    await effects.intend(entry);
    await insertResolved(() => inserts.insert(event), { unknown: {} });
    await effects.apply(entry, effectsOf(event, truth));
  };

  // A process that died between storing a change and applying it left its journal entry.
  effects.recover('reaction', async (eventId) => {
    const event = await ReactionEvent.findById(objectId(eventId))
      .lean<ReactionEventRecord>()
      .exec();
    const truth = event ? await truths.findTruth(event.truthId.toHexString()) : null;
    if (!event || !truth) return;
    await effects.apply(`reaction:${eventId}`, effectsOf(event, truth));
  });

  return {
    /** Sets the viewer's reaction; returns the truth reacted to (the original of a retruth). */
    async react(viewer: Viewer, truthId: string, kind: ReactionKind): Promise<TruthRecord> {
      const truth = await truths.reactionTarget(viewer, truthId);
      await change(viewer, truth, kind);
      return truth;
    },

    /** Removes the viewer's reaction, if any. */
    async remove(viewer: Viewer, truthId: string): Promise<TruthRecord> {
      const truth = await truths.reactionTarget(viewer, truthId);
      await change(viewer, truth, null);
      return truth;
    },

    /** Each user's reaction per truth, and each truth's counts by kind (read model views). */
    byUser: store.byUser,
    counts: store.counts,
    /** Registers a rebuild step for what another module derives from reaction events. */
    onReplay: (replay: (events: readonly ReactionEventRecord[]) => Promise<void>) =>
      store.onReplay(replay),
  };
}

export type ReactionService = ReturnType<typeof createReactionService>;
