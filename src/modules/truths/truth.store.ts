import type { Logger } from '../../infra/logger.js';
import {
  createModelCounts,
  createModelHashes,
  createModelRecords,
  modelKey,
} from '../../infra/model-store.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ModelScript, ReadModel } from '../../infra/read-model.js';
import type { Redis, RedisClients } from '../../infra/redis.js';
import type {
  IdempotencyModel,
  IdempotencyRecord,
  TruthDeletionModel,
  TruthDeletionRecord,
  TruthModel,
  TruthRecord,
} from './truth.model.js';
import { fromTruthWire, toTruthWire, type TruthWire } from './truth.wire.js';

export const truthCountFields = ['replies', 'retruths', 'quotes'] as const;
export type TruthCountField = (typeof truthCountFields)[number];

/** Where a reply sits in its thread: by creation (ties go by id, oldest first). */
const threadScore = (truth: Pick<TruthRecord, 'createdAt'>) => truth.createdAt.getTime();

const encode = (truth: TruthRecord) => JSON.stringify(toTruthWire(truth));
const decode = (text: string) => fromTruthWire(JSON.parse(text) as TruthWire);

// A stored or deleted truth changes several entities: its record, its author's count and
// retruths, and the counts (and thread, quotes, retruths) of each truth it relates to, its
// parent, the quoted truth and the original. Each entity's keys are in its own Redis Cluster
// slot (tagged by its id), so each has its own script, idempotent on its own: a retry, or a
// twin request finishing the same effects, changes nothing twice, in whatever order the parts
// of a store and of a deletion of the same truth run (a crashed store may be finished by the
// journal's sweeper after its truth was deleted).

// KEYS: the record. ARGV: record text. Applies a stored truth's record once: a second run
// finds it and changes nothing.
const storedRecordSource = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

// KEYS: the record. ARGV: the deleted record's text, truth id, records' channel. Applies a
// deletion once: only a record that is not deleted yet changes.
const deletedRecordSource = `
local current = redis.call('GET', KEYS[1])
if not current or not string.find(current, '"deletedAt":null', 1, true) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
publish(ARGV[3], ARGV[2])
return 1
`;

// KEYS: the author's count, their ledger, their retruths. ARGV: truth id, original id ('' but
// for a retruth), author id, channels of authored counts and retruths. The ledger's field
// (1: counted, 0: deleted) is the guard: a truth is counted once, and never once deleted.
const storedAuthorSource = `
if redis.call('HSETNX', KEYS[2], ARGV[1], '1') == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'truths', 1)
publish(ARGV[4], ARGV[3])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
  publish(ARGV[5], ARGV[3])
end
return 1
`;

// The same KEYS and ARGV. Uncounts a deleted truth once (only if it was counted), and leaves
// a mark so that a late store of it counts nothing.
const deletedAuthorSource = `
local state = redis.call('HGET', KEYS[2], ARGV[1])
if state == '0' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], '0')
if state == '1' then
  redis.call('HINCRBY', KEYS[1], 'truths', -1)
  publish(ARGV[4], ARGV[3])
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[3], ARGV[2])
  publish(ARGV[5], ARGV[3])
end
return 1
`;

// KEYS: a related truth's counts, thread, quotes, retruths and deleted relations. ARGV: the new
// truth's id, its roles towards the related one ('r' reply, 'q' quote, 't' retruth, several
// when one truth is both parent and quoted), thread score, related id, counts' channel. Each
// count moves only when its membership is added (the thread's ZADD NX, the quotes' and
// retruths' SADD), and not for a truth already deleted. 1 when a count moved.
const storedRelatedSource = `
local gone = redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1
local moved = false
if string.find(ARGV[2], 'r', 1, true)
  and redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1]) == 1 and not gone then
  redis.call('HINCRBY', KEYS[1], 'replies', 1)
  moved = true
end
if not gone and string.find(ARGV[2], 'q', 1, true) and redis.call('SADD', KEYS[3], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'quotes', 1)
  moved = true
end
if not gone and string.find(ARGV[2], 't', 1, true) and redis.call('SADD', KEYS[4], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'retruths', 1)
  moved = true
end
if not moved then return 0 end
publish(ARGV[5], ARGV[4])
return 1
`;

// The same KEYS and ARGV. The deleted relations' SADD is the guard: a deletion uncounts once,
// each count only if its store counted it. A deleted reply stays in its thread (a placeholder).
const deletedRelatedSource = `
if redis.call('SADD', KEYS[5], ARGV[1]) == 0 then return 0 end
local moved = false
if string.find(ARGV[2], 'r', 1, true) and redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('HINCRBY', KEYS[1], 'replies', -1)
  moved = true
end
if string.find(ARGV[2], 'q', 1, true) and redis.call('SREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'quotes', -1)
  moved = true
end
if string.find(ARGV[2], 't', 1, true) and redis.call('SREM', KEYS[4], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'retruths', -1)
  moved = true
end
if not moved then return 0 end
publish(ARGV[5], ARGV[4])
return 1
`;

// KEYS: the user's retruths. ARGV: original id, new retruth id, now (ms), claim lifetime (ms).
// The user's live retruth of the original, or a claim in flight (younger than the lifetime),
// or a new claim for `new retruth id`: whoever holds the claim stores that retruth.
const claimRetruthSource = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local id, at = string.match(current, '^pending:(%x+):(%d+)$')
  if not id then return {'live', current} end
  if tonumber(ARGV[3]) - tonumber(at) < tonumber(ARGV[4]) then return {'pending', id} end
end
redis.call('HSET', KEYS[1], ARGV[1], 'pending:' .. ARGV[2] .. ':' .. ARGV[3])
return {'claimed', ARGV[2]}
`;

// KEYS: the user's retruths. ARGV: original id, retruth id. Gives up a claim that was not used.
const releaseRetruthSource = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and string.find(current, 'pending:' .. ARGV[2] .. ':', 1, true) == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
`;

// KEYS: a thread's replies. ARGV: cursor (a reply id, '' for the first), limit. Oldest first.
const repliesSource = `
local start = 0
if ARGV[1] ~= '' then
  local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
  if not rank then return {} end
  start = rank + 1
end
return redis.call('ZRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1)
`;

const membersSource = `return redis.call('SMEMBERS', KEYS[1])`;
const hashGetSource = `return redis.call('HGET', KEYS[1], ARGV[1])`;
const hashSetSource = `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1`;

/**
 * The truths' part of the read model (infra/read-model.ts): every truth's record
 * (`truth:{<id>}`, with `deletedAt` once deleted), its counts of replies, retruths and quotes
 * (`tc:{<id>}`), each author's count of live truths (`authored:{<id>}`) and the ledger of the
 * truths it counts (`own:{<id>}`), each thread's replies (`rep:{<id>}`), each truth's counted
 * quotes (`qof:{<id>}`), live retruths (`rtof:{<id>}`) and uncounted deleted relations
 * (`gone:{<id>}`), each user's retruths by original (`rt:{<id>}`, which also decides "one
 * retruth per user per truth"), and idempotency keys (`idem:{<user>}`). Every key is tagged by
 * the id of the truth or user it belongs to, so each entity's keys share a Redis Cluster slot.
 * Rebuilt from `truths`, `truth_deletions` and `idempotency_keys`; every truth the rebuild reads
 * is also handed to `onReplay`, so other modules rebuild what they derive from truths in the
 * same pass.
 *
 * A stored truth and a deletion each change the record, the author's keys and each related
 * truth's keys in one script per entity (see the scripts above), each applying its change
 * once, so applying a truth's effects again counts nothing twice.
 */
export function createTruthStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  Truth: TruthModel;
  TruthDeletion: TruthDeletionModel;
  Idempotency: IdempotencyModel;
  logger: Logger;
}) {
  const { model, redis, Truth, TruthDeletion, Idempotency, logger } = deps;
  const records = createModelRecords<TruthRecord>({
    model,
    redis,
    family: 'truth',
    encode,
    decode,
    logger,
  });
  const counts = createModelCounts({
    model,
    redis,
    family: 'tc',
    fields: truthCountFields,
    logger,
  });
  const authored = createModelCounts({
    model,
    redis,
    family: 'authored',
    fields: ['truths'] as const,
    logger,
  });
  const retruths = createModelHashes({ model, redis, family: 'rt', logger });
  /** An author's ledger: truth id → 1 while counted in `authored`, 0 once deleted. */
  const ledger = (authorId: string) => modelKey(model, 'own', authorId);
  /** A thread's replies, deleted ones included, by creation. */
  const replies = (id: string) => modelKey(model, 'rep', id);
  /** The quotes of a truth counted in its counts. */
  const quotesOf = (id: string) => modelKey(model, 'qof', id);
  /** The live retruths of a truth (counted in its counts). */
  const retruthsOf = (id: string) => modelKey(model, 'rtof', id);
  /** The deleted replies, quotes and retruths of a truth, uncounted (or never counted). */
  const goneOf = (id: string) => modelKey(model, 'gone', id);
  /** A user's idempotency keys: key → the request's hash and its truth. */
  const idempotency = (userId: string) => modelKey(model, 'idem', userId);
  const replayers: ((truths: readonly TruthRecord[]) => Promise<void>)[] = [];
  const revisers: TruthReviser[] = [];

  const storedRecord = model.script(storedRecordSource);
  const deletedRecord = model.script(deletedRecordSource);
  const storedAuthor = model.script(storedAuthorSource);
  const deletedAuthor = model.script(deletedAuthorSource);
  const storedRelated = model.script(storedRelatedSource);
  const deletedRelated = model.script(deletedRelatedSource);
  const claimRetruth = model.script(claimRetruthSource);
  const releaseRetruth = model.script(releaseRetruthSource);
  const repliesPage = model.script(repliesSource);
  const members = model.script(membersSource);
  const hashGet = model.script(hashGetSource);
  const hashSet = model.script(hashSetSource);

  /** The truths `truth` relates to, each with its roles: 'r' parent, 'q' quoted, 't' original. */
  const rolesOf = (truth: TruthRecord): Map<string, string> => {
    const roles = new Map<string, string>();
    const add = (id: { toHexString(): string } | null | undefined, role: string) => {
      if (!id) return;
      const hex = id.toHexString();
      roles.set(hex, (roles.get(hex) ?? '') + role);
    };
    add(truth.replyToId, 'r');
    add(truth.quoteOfId, 'q');
    add(truth.retruthOfId, 't');
    return roles;
  };

  /**
   * Runs the record's, the author's and each related truth's script for `truth` (the stored
   * or the deleted ones), in one tick: on a single Redis one round trip, run in this order; on
   * a cluster each on its own slot's master at once. Between them a reader may see an author's
   * count, or a related truth's counts, that already include a truth whose record is not
   * there yet (a thread page leaves such a reply out for that moment), or a deleted truth
   * still counted. True when any of them changed something.
   */
  const applyParts = async (
    truth: TruthRecord,
    scripts: { record: ModelScript; author: ModelScript; related: ModelScript },
    recordArgs: (string | number)[],
  ): Promise<boolean> => {
    const id = truth._id.toHexString();
    const authorId = truth.authorId.toHexString();
    const originalId = truth.retruthOfId?.toHexString() ?? '';
    const related = rolesOf(truth);
    records.forget(id);
    authored.forget(authorId);
    if (originalId) retruths.forget(authorId);
    for (const relatedId of related.keys()) counts.forget(relatedId);
    const results = await Promise.all([
      scripts.record.run(redis.command, [records.keyOf(id)], [encode(truth), ...recordArgs]),
      scripts.author.run(
        redis.command,
        [authored.keyOf(authorId), ledger(authorId), retruths.keyOf(authorId)],
        [id, originalId, authorId, authored.channel, retruths.channel],
      ),
      ...[...related].map(([relatedId, roles]) =>
        scripts.related.run(
          redis.command,
          [
            counts.keyOf(relatedId),
            replies(relatedId),
            quotesOf(relatedId),
            retruthsOf(relatedId),
            goneOf(relatedId),
          ],
          [id, roles, threadScore(truth), relatedId, counts.channel],
        ),
      ),
    ]);
    return results.some((result) => result === 1);
  };

  model.family('truths', async () => {
    const deletions = new Map<string, Date>();
    await scanCollection<TruthDeletionRecord>(TruthDeletion, (batch) => {
      for (const deletion of batch) deletions.set(deletion._id.toHexString(), deletion.at);
    });
    const revise = await Promise.all(revisers.map((reviser) => reviser(redis.command)));
    await scanCollection<TruthRecord>(Truth, async (batch) => {
      // Keys of many truths and users: a batch (on a cluster, each command to its own slot).
      const pipeline = redis.batch();
      const truths = batch.map((stored) => {
        let truth: TruthRecord = {
          ...stored,
          deletedAt: deletions.get(stored._id.toHexString()) ?? stored.deletedAt ?? null,
        };
        for (const step of revise) truth = step(truth, pipeline);
        return truth;
      });
      for (const truth of truths) {
        const id = truth._id.toHexString();
        const authorId = truth.authorId.toHexString();
        pipeline.set(records.keyOf(id), encode(truth));
        if (truth.replyToId) {
          pipeline.zadd(replies(truth.replyToId.toHexString()), threadScore(truth), id);
        }
        pipeline.hset(ledger(authorId), id, truth.deletedAt ? '0' : '1');
        if (truth.deletedAt) {
          for (const relatedId of rolesOf(truth).keys()) pipeline.sadd(goneOf(relatedId), id);
          continue;
        }
        pipeline.hincrby(authored.keyOf(authorId), 'truths', 1);
        if (truth.replyToId)
          pipeline.hincrby(counts.keyOf(truth.replyToId.toHexString()), 'replies', 1);
        if (truth.quoteOfId) {
          const quotedId = truth.quoteOfId.toHexString();
          pipeline.hincrby(counts.keyOf(quotedId), 'quotes', 1);
          pipeline.sadd(quotesOf(quotedId), id);
        }
        if (truth.retruthOfId) {
          const originalId = truth.retruthOfId.toHexString();
          pipeline.hincrby(counts.keyOf(originalId), 'retruths', 1);
          pipeline.sadd(retruthsOf(originalId), id);
          pipeline.hset(retruths.keyOf(authorId), originalId, id);
        }
      }
      await pipeline.exec();
      for (const replay of replayers) await replay(truths);
    });
    await scanCollection<IdempotencyRecord>(Idempotency, async (batch) => {
      const pipeline = redis.batch();
      for (const record of batch) {
        const colon = record._id.indexOf(':');
        pipeline.hset(
          idempotency(record._id.slice(0, colon)),
          record._id.slice(colon + 1),
          JSON.stringify({ h: record.requestHash, t: record.truthId.toHexString() }),
        );
      }
      await pipeline.exec();
    });
  });

  return {
    records,
    counts,
    authored,
    retruths,

    /**
     * Applies a stored truth: record, the author's count, the related truths' counts, thread
     * and retruths; once (true when this run changed anything).
     */
    stored: (truth: TruthRecord): Promise<boolean> =>
      applyParts(truth, { record: storedRecord, author: storedAuthor, related: storedRelated }, []),

    /**
     * Applies a deletion (`truth` with its `deletedAt`); once (true when this run changed
     * anything).
     */
    deleted: (truth: TruthRecord): Promise<boolean> =>
      applyParts(truth, { record: deletedRecord, author: deletedAuthor, related: deletedRelated }, [
        truth._id.toHexString(),
        records.channel,
      ]),

    /**
     * The user's live retruth of `originalId`, one being stored by a racing request, or a
     * claim for `newId`: then the caller stores that retruth (or releases the claim).
     */
    async claimRetruth(
      userId: string,
      originalId: string,
      newId: string,
    ): Promise<{ status: 'live' | 'pending' | 'claimed'; retruthId: string }> {
      retruths.forget(userId);
      const [status, retruthId] = (await claimRetruth.run(
        redis.command,
        [retruths.keyOf(userId)],
        [originalId, newId, Date.now(), 10_000],
      )) as ['live' | 'pending' | 'claimed', string];
      return { status, retruthId };
    },

    async releaseRetruth(userId: string, originalId: string, retruthId: string): Promise<void> {
      retruths.forget(userId);
      await releaseRetruth.run(redis.command, [retruths.keyOf(userId)], [originalId, retruthId]);
    },

    /** The user's live retruth of `originalId`, if any. */
    async retruthOf(userId: string, originalId: string): Promise<string | null> {
      const [value] = await retruths.get(userId, [originalId]);
      return value && !value.startsWith('pending:') ? value : null;
    },

    /** Ids of the live retruths of a truth. */
    retruthsOf: async (originalId: string): Promise<string[]> =>
      (await members.run(redis.command, [retruthsOf(originalId)], [])) as string[],

    /** Up to `limit` reply ids of a thread after `afterId`, oldest first. */
    repliesOf: async (truthId: string, afterId: string | null, limit: number): Promise<string[]> =>
      (await repliesPage.run(
        redis.command,
        [replies(truthId)],
        [afterId ?? '', limit],
      )) as string[],

    /** What an idempotency key of a user was first used for. */
    async idempotencyKey(
      userId: string,
      idempotencyKey: string,
    ): Promise<{ requestHash: string; truthId: string } | null> {
      const text = (await hashGet.run(redis.command, [idempotency(userId)], [idempotencyKey])) as
        string | null;
      if (!text) return null;
      const { h, t } = JSON.parse(text) as { h: string; t: string };
      return { requestHash: h, truthId: t };
    },

    async rememberIdempotencyKey(record: IdempotencyRecord): Promise<void> {
      const colon = record._id.indexOf(':');
      await hashSet.run(
        redis.command,
        [idempotency(record._id.slice(0, colon))],
        [
          record._id.slice(colon + 1),
          JSON.stringify({ h: record.requestHash, t: record.truthId.toHexString() }),
        ],
      );
    },

    /**
     * Registers a rebuild step that revises each truth before it is written and replayed (its
     * edits), and may write keys of its own in the same batch.
     */
    onRevise(reviser: TruthReviser): void {
      revisers.push(reviser);
    },

    /** Registers a rebuild step for what another module derives from every truth. */
    onReplay(replay: (truths: readonly TruthRecord[]) => Promise<void>): void {
      replayers.push(replay);
    },
  };
}

export type TruthStore = ReturnType<typeof createTruthStore>;

/**
 * A rebuild step of the truths' family: loads what it needs (called once per rebuild, before
 * the truths are read), then revises each truth as it is read, and may write keys of its own
 * in the rebuild's batch (of many entities' keys: infra/redis.ts, `batch`).
 */
export type TruthReviser = (
  client: Redis,
) => Promise<(truth: TruthRecord, pipeline: ReturnType<RedisClients['batch']>) => TruthRecord>;
