import { modelKey, type ModelRecords } from '../../infra/model-store.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { RedisClients } from '../../infra/redis.js';
import type { TruthEditModel, TruthEditRecord } from './truth.edit.model.js';
import type { TruthRecord } from './truth.model.js';
import type { TruthStore } from './truth.store.js';

/** One version of a truth's text as the history keeps it. */
export interface TruthVersion {
  /** 0: as posted. */
  revision: number;
  text: string;
  /** When this text was written: the truth's creation for revision 0, its edit after. */
  at: Date;
  /** Whom this version mentioned (user ids). */
  mentionIds: string[];
}

interface VersionWire {
  t: string;
  at: number;
  m: string[];
}

const versionText = (text: string, at: Date, mentionIds: readonly { toHexString(): string }[]) =>
  JSON.stringify({ t: text, at: at.getTime(), m: mentionIds.map((id) => id.toHexString()) });

// KEYS: the truth's record, its history. ARGV: the edited record, its revision, truth id,
// records' channel, the revision's history entry, the original's entry ('' unless this is the
// first edit). The history takes the entry whatever happens next (a retried edit, or an older
// one finished late, still belongs in it); the record changes only to a newer revision of a
// truth that is not deleted. 1 when the record changed.
const editedSource = `
if ARGV[6] ~= '' then redis.call('HSETNX', KEYS[2], '0', ARGV[6]) end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[5])
local current = redis.call('GET', KEYS[1])
if not current or not string.find(current, '"deletedAt":null', 1, true) then return 0 end
local revision = cjson.decode(current).revision
if revision ~= nil and revision ~= cjson.null and tonumber(revision) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
publish(ARGV[4], ARGV[3])
return 1
`;

const historySource = `return redis.call('HGETALL', KEYS[1])`;

/**
 * Edits' part of the read model: each edited truth's versions (`tedit:{<id>}`, a hash of
 * revision → text, time and mentions, the original as revision 0), next to the truth's record,
 * which an edit rewrites (truth.store.ts's `truth:{<id>}`, with `editedAt` and `revision`). The
 * record's change is published on the records' channel by the same script, so every instance
 * drops its copy (infra/near-cache.ts). Rebuilt in the truths' own pass: each truth read from
 * MongoDB is revised by its latest edit before it is written and replayed to the modules that
 * derive lists from it (hashtag pages follow the current text).
 */
export function createTruthEditStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  TruthEdit: TruthEditModel;
  truths: TruthStore;
}) {
  const { model, redis, TruthEdit, truths } = deps;
  const records: ModelRecords<TruthRecord> = truths.records;
  /** A truth's versions, in its record's slot (one script changes both). */
  const historyKey = (truthId: string) => modelKey(model, 'tedit', truthId);
  const edited = model.script(editedSource);
  const history = model.script(historySource);

  truths.onRevise(async () => {
    const edits = new Map<string, TruthEditRecord[]>();
    await scanCollection<TruthEditRecord>(TruthEdit, (batch) => {
      for (const edit of batch) {
        const id = edit.truthId.toHexString();
        const list = edits.get(id);
        if (list) list.push(edit);
        else edits.set(id, [edit]);
      }
    });
    return (truth, pipeline) => {
      const id = truth._id.toHexString();
      const list = edits.get(id);
      if (!list) return truth;
      pipeline.hset(
        historyKey(id),
        '0',
        versionText(truth.text, truth.createdAt, truth.mentionIds),
      );
      let latest = list[0]!;
      for (const edit of list) {
        pipeline.hset(
          historyKey(id),
          edit.revision,
          versionText(edit.text, edit.at, edit.mentionIds),
        );
        if (edit.revision > latest.revision) latest = edit;
      }
      return revised(truth, latest);
    };
  });

  return {
    /**
     * Applies a stored edit to the read model: its history entry, and the record unless a
     * newer revision is there or the truth is deleted. `before` is the record the edit was
     * made from. True when the record changed.
     */
    async applied(edit: TruthEditRecord, before: TruthRecord): Promise<boolean> {
      const id = edit.truthId.toHexString();
      records.forget(id);
      const original =
        (before.revision ?? 0) === 0
          ? versionText(before.text, before.createdAt, before.mentionIds)
          : '';
      const result = await edited.run(
        redis.command,
        [records.keyOf(id), historyKey(id)],
        [
          records.encode(revised(before, edit)),
          edit.revision,
          id,
          records.channel,
          versionText(edit.text, edit.at, edit.mentionIds),
          original,
        ],
      );
      return result === 1;
    },

    /** Every version of a truth's text, newest first (none for a truth never edited). */
    async history(truthId: string): Promise<TruthVersion[]> {
      const flat = (await history.run(redis.command, [historyKey(truthId)], [])) as string[];
      const versions: TruthVersion[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        const wire = JSON.parse(flat[i + 1]!) as VersionWire;
        versions.push({
          revision: Number(flat[i]),
          text: wire.t,
          at: new Date(wire.at),
          mentionIds: wire.m,
        });
      }
      return versions.sort((a, b) => b.revision - a.revision);
    },
  };
}

export type TruthEditStore = ReturnType<typeof createTruthEditStore>;

/** `truth` with the text of `edit`. */
export function revised(truth: TruthRecord, edit: TruthEditRecord): TruthRecord {
  return {
    ...truth,
    text: edit.text,
    hashtags: edit.hashtags,
    mentionIds: edit.mentionIds,
    editedAt: edit.at,
    revision: edit.revision,
  };
}
