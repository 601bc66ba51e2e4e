import { Types } from 'mongoose';
import type { Effect, Effects } from '../../infra/effects.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import { badUserInput, conflict, forbidden, notFound } from '../../lib/errors.js';
import type { Hooks } from '../../lib/hooks.js';
import { objectId } from '../../lib/ids.js';
import type { UserService, Viewer } from '../users/index.js';
import { editKeyOf, type TruthEditModel, type TruthEditRecord } from './truth.edit.model.js';
import { revised, type TruthEditStore, type TruthVersion } from './truth.edit.store.js';
import type { TruthRecord } from './truth.model.js';
import type { TruthService } from './truth.service.js';
import { parseHashtags, parseMentions } from './truth.text.js';
import { validateNewTruth } from './truth.validation.js';

/** How many times one truth can be edited: its history stays short enough to show whole. */
export const maxEditsPerTruth = 10;

/** What the truths module tells the modules that follow it about an edit (lib/hooks.ts). */
export interface TruthEditHooks {
  /**
   * A truth's text was edited: `truth` as it is now, `previous` as it was. `newlyMentioned`
   * are the users its new text mentions that no earlier version of it mentioned. `fact` names
   * the edit, the same for every run of its effects.
   */
  truthEdited: {
    fact: string;
    truth: TruthRecord;
    previous: TruthRecord;
    newlyMentioned: string[];
  };
}

/**
 * Editing a truth's text: by its author, within `windowSeconds` of posting, at most
 * `maxEditsPerTruth` times, with the posting rules for the text. Replies, quotes, reactions
 * and counts stay where they are (they hang on the truth's id); a retruth has no text of its
 * own and is refused. Each edit is an insert into `truth_edits` under the next revision's key,
 * so of two edits made from the same revision one is stored and the other is a CONFLICT; its
 * effects (the read model's record and history, then the hooks: feeds announce it live,
 * notifications tell the newly mentioned) run through `effects` like a post's.
 */
export function createTruthEditService(deps: {
  TruthEdit: TruthEditModel;
  store: TruthEditStore;
  truths: TruthService;
  users: UserService;
  effects: Effects;
  hooks: Hooks<TruthEditHooks>;
  windowSeconds: number;
}) {
  const { TruthEdit, store, truths, users, effects, hooks } = deps;
  // String keys: the collection's driver type assumes ObjectId ones (as `idempotency_keys`).
  const inserts = createInserter<TruthEditRecord>(TruthEdit.collection as never);

  /** Users `edit` mentions that no version of its truth before it did. */
  const newlyMentioned = (
    edit: TruthEditRecord,
    before: TruthRecord,
    versions: readonly TruthVersion[],
  ) => {
    const earlier = new Set(before.mentionIds.map((id) => id.toHexString()));
    for (const version of versions) {
      if (version.revision < edit.revision) for (const id of version.mentionIds) earlier.add(id);
    }
    return edit.mentionIds.map((id) => id.toHexString()).filter((id) => !earlier.has(id));
  };

  const editedEffects = (entry: string, edit: TruthEditRecord, before: TruthRecord): Effect[] => {
    let mentioned: string[] | undefined;
    return [
      async () => {
        mentioned ??= newlyMentioned(edit, before, await store.history(before._id.toHexString()));
        await store.applied(edit, before);
      },
      async () => {
        const edited = {
          fact: entry,
          truth: revised(before, edit),
          previous: before,
          newlyMentioned: mentioned ?? [],
        };
        for (const effect of hooks.effectsOf('truthEdited', edited)) await effect();
      },
    ];
  };

  // An attempt's journal entry names the revision and the attempt, `edit:<truth>:<rev>:<attempt>`:
  // the attempt that lost a race for the revision drops its own entry and leaves the winner's.
  const entryOf = (edit: TruthEditRecord) => `edit:${edit._id}:${edit.attempt}`;

  // A process that died between storing an edit and applying it left its journal entry; an
  // attempt that was refused or never stored finds no edit of its own and does nothing.
  effects.recover('edit', async (key) => {
    const [truthId, revision, attempt] = key.split(':') as [string, string, string];
    const edit = await TruthEdit.findById(editKeyOf(truthId, Number(revision)))
      .lean<TruthEditRecord>()
      .exec();
    const truth = edit?.attempt === attempt ? await truths.findTruth(truthId) : null;
    if (!edit || !truth) return;
    const entry = entryOf(edit);
    await effects.apply(entry, editedEffects(entry, edit, truth));
  });

  return {
    /** The edit window, for error messages and the API's documentation. */
    windowSeconds: deps.windowSeconds,

    /**
     * Replaces the text of one of the viewer's truths. The same text again changes nothing
     * (a retry is safe). Returns the truth as it is now.
     */
    async edit(viewer: Viewer, truthId: string, rawText: string): Promise<TruthRecord> {
      const { text } = validateNewTruth({ text: rawText });
      const truth = await truths.findTruth(truthId);
      if (!truth || truth.deletedAt) throw notFound('There is no truth with that id.');
      if (truth.authorId.toHexString() !== viewer.id) {
        throw forbidden('Only its author can edit a truth.');
      }
      if (truth.kind === 'RETRUTH') {
        throw badUserInput('A retruth has no text of its own: edit the original.', 'id');
      }
      if (Date.now() - truth.createdAt.getTime() > deps.windowSeconds * 1_000) {
        throw forbidden(
          `A truth can be edited for ${Math.round(deps.windowSeconds / 60)} minutes after it is posted.`,
        );
      }
      if (text === truth.text) return truth;
      const revision = (truth.revision ?? 0) + 1;
      if (revision > maxEditsPerTruth) {
        throw forbidden(`A truth can be edited at most ${maxEditsPerTruth} times.`);
      }
      const edit: TruthEditRecord = {
        _id: editKeyOf(truthId, revision),
        truthId: truth._id,
        authorId: truth.authorId,
        revision,
        text,
        hashtags: parseHashtags(text),
        mentionIds: (await users.idsByUsernameKeys(parseMentions(text))).map(objectId),
        at: new Date(),
        attempt: new Types.ObjectId().toHexString(),
      };
      const entry = entryOf(edit);
      await effects.intend(entry);
      const stored = await insertResolved(() => inserts.insert(edit), {
        unknown: { check: { type: 'Truth', id: truthId } },
      });
      if (stored.outcome === 'duplicate' && !stored.retried) {
        // Another edit took this revision; it applies itself (or, had its process died, the
        // journal's sweeper finishes it), and the next attempt starts from it.
        await effects.discard(entry).catch(() => undefined);
        throw conflict(
          'The truth was edited at the same time by another request; read it again and retry.',
          'id',
        );
      }
      await effects.apply(entry, editedEffects(entry, edit, truth));
      return revised(truth, edit);
    },

    /** Earlier versions of a truth's text, newest first (empty when it was never edited). */
    async earlierVersions(truth: TruthRecord): Promise<TruthVersion[]> {
      if (!truth.editedAt) return [];
      const current = truth.revision ?? 0;
      return (await store.history(truth._id.toHexString())).filter((v) => v.revision < current);
    },
  };
}

export type TruthEditService = ReturnType<typeof createTruthEditService>;
