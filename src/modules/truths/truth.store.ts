import type { Logger } from '../../infra/logger.js';
import {
  createModelCounts,
  createModelHashes,
  createModelRecords,
} from '../../infra/model-store.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
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

// KEYS: record, author's counts, parent's counts, parent's replies, quoted's counts, original's
// counts, original's retruths, author's retruths (a key of a role that does not apply is the
// record's). ARGV: record text, truth id, author id, parent id, quoted id, original id ('' when
// none), thread score, channels of records, counts, authored counts, retruths. Applies a stored
// truth once: a second run finds the record and changes nothing.
const storedSource = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'truths', 1)
publish(ARGV[10], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HINCRBY', KEYS[3], 'replies', 1)
  redis.call('ZADD', KEYS[4], 'NX', ARGV[7], ARGV[2])
  publish(ARGV[9], ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('HINCRBY', KEYS[5], 'quotes', 1)
  publish(ARGV[9], ARGV[5])
end
if ARGV[6] ~= '' then
  redis.call('HINCRBY', KEYS[6], 'retruths', 1)
  redis.call('SADD', KEYS[7], ARGV[2])
  redis.call('HSET', KEYS[8], ARGV[6], ARGV[2])
  publish(ARGV[9], ARGV[6])
  publish(ARGV[11], ARGV[3])
end
return 1
`;

// The same KEYS and ARGV, with the deleted record's text. Applies a deletion once: only a
// record that is not deleted yet changes. A deleted reply stays in its thread (a placeholder).
const deletedSource = `
local current = redis.call('GET', KEYS[1])
if not current or not string.find(current, '"deletedAt":null', 1, true) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
publish(ARGV[8], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'truths', -1)
publish(ARGV[10], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HINCRBY', KEYS[3], 'replies', -1)
  publish(ARGV[9], ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('HINCRBY', KEYS[5], 'quotes', -1)
  publish(ARGV[9], ARGV[5])
end
if ARGV[6] ~= '' then
  redis.call('HINCRBY', KEYS[6], 'retruths', -1)
  redis.call('SREM', KEYS[7], ARGV[2])
  if redis.call('HGET', KEYS[8], ARGV[6]) == ARGV[2] then redis.call('HDEL', KEYS[8], ARGV[6]) end
  publish(ARGV[9], ARGV[6])
  publish(ARGV[11], ARGV[3])
end
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
 * The truths' part of the read model (infra/read-model.ts): every truth's record (`truth:<id>`,
 * with `deletedAt` once deleted), its counts of replies, retruths and quotes (`tc:<id>`), each
 * author's count of live truths (`authored:<id>`), each thread's replies (`rep:<id>`), each
 * original's live retruths (`rtof:<id>`), each user's retruths by original (`rt:<id>`, which
 * also decides "one retruth per user per truth"), and idempotency keys (`idem:<user>`).
 * Rebuilt from `truths`, `truth_deletions` and `idempotency_keys`; every truth the rebuild reads
 * is also handed to `onReplay`, so other modules rebuild what they derive from truths in the
 * same pass.
 *
 * A truth's counts and its author's count change in the same step as its record, and only when
 * the record changes (stored once, deleted once), so applying a truth's effects again counts
 * nothing twice.
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
  const key = (family: string, id: string) => `${model.prefix}${family}:${id}`;
  const replies = (id: string) => key('rep', id);
  const retruthsOf = (id: string) => key('rtof', id);
  const idempotency = (userId: string) => key('idem', userId);
  const replayers: ((truths: readonly TruthRecord[]) => Promise<void>)[] = [];
  const revisers: TruthReviser[] = [];

  const stored = model.script(storedSource);
  const deleted = model.script(deletedSource);
  const claimRetruth = model.script(claimRetruthSource);
  const releaseRetruth = model.script(releaseRetruthSource);
  const repliesPage = model.script(repliesSource);
  const members = model.script(membersSource);
  const hashGet = model.script(hashGetSource);
  const hashSet = model.script(hashSetSource);

  /** The keys and arguments of `stored` and `deleted` for `truth`, its record written as `text`. */
  const change = (truth: TruthRecord) => {
    const id = truth._id.toHexString();
    const authorId = truth.authorId.toHexString();
    const parentId = truth.replyToId?.toHexString() ?? '';
    const quotedId = truth.quoteOfId?.toHexString() ?? '';
    const originalId = truth.retruthOfId?.toHexString() ?? '';
    const own = records.keyOf(id);
    return {
      keys: [
        own,
        authored.keyOf(authorId),
        parentId ? counts.keyOf(parentId) : own,
        parentId ? replies(parentId) : own,
        quotedId ? counts.keyOf(quotedId) : own,
        originalId ? counts.keyOf(originalId) : own,
        originalId ? retruthsOf(originalId) : own,
        originalId ? retruths.keyOf(authorId) : own,
      ],
      args: [
        encode(truth),
        id,
        authorId,
        parentId,
        quotedId,
        originalId,
        threadScore(truth),
        records.channel,
        counts.channel,
        authored.channel,
        retruths.channel,
      ],
      forget: () => {
        records.forget(id);
        authored.forget(authorId);
        for (const related of [parentId, quotedId, originalId]) if (related) counts.forget(related);
        if (originalId) retruths.forget(authorId);
      },
    };
  };

  model.family('truths', async (client: Redis) => {
    const deletions = new Map<string, Date>();
    await scanCollection<TruthDeletionRecord>(TruthDeletion, (batch) => {
      for (const deletion of batch) deletions.set(deletion._id.toHexString(), deletion.at);
    });
    const revise = await Promise.all(revisers.map((reviser) => reviser(client)));
    await scanCollection<TruthRecord>(Truth, async (batch) => {
      const pipeline = client.pipeline();
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
        if (truth.deletedAt) continue;
        pipeline.hincrby(authored.keyOf(authorId), 'truths', 1);
        if (truth.replyToId)
          pipeline.hincrby(counts.keyOf(truth.replyToId.toHexString()), 'replies', 1);
        if (truth.quoteOfId)
          pipeline.hincrby(counts.keyOf(truth.quoteOfId.toHexString()), 'quotes', 1);
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
      const pipeline = client.pipeline();
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

    /** Applies a stored truth: record, counts, thread, retruth; once (true the first time). */
    async stored(truth: TruthRecord): Promise<boolean> {
      const { keys, args, forget } = change(truth);
      forget();
      return (await stored.run(redis.command, keys, args)) === 1;
    },

    /** Applies a deletion (`truth` with its `deletedAt`); once (true the first time). */
    async deleted(truth: TruthRecord): Promise<boolean> {
      const { keys, args, forget } = change(truth);
      forget();
      return (await deleted.run(redis.command, keys, args)) === 1;
    },

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
     * edits), and may write keys of its own in the same pipeline.
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
 * the truths are read), then revises each truth as it is read.
 */
export type TruthReviser = (
  client: Redis,
) => Promise<(truth: TruthRecord, pipeline: ReturnType<Redis['pipeline']>) => TruthRecord>;
