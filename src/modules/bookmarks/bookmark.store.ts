import type { Logger } from '../../infra/logger.js';
import { createModelHashes, createModelRecords, modelKey } from '../../infra/model-store.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { RedisClients } from '../../infra/redis.js';
import type {
  BookmarkEventModel,
  BookmarkEventRecord,
  PinEventModel,
  PinEventRecord,
} from './bookmark.model.js';

/** A user's pins as the read model holds them. */
export interface PinList {
  revision: number;
  /** In pin order. */
  truthIds: string[];
}

// KEYS: the user's bookmarks. ARGV: truth id, '1' to add, '' to remove. 0 when that is
// already so, else 1.
const intendSource = `
local present = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
if present == (ARGV[2] == '1') then return 0 end
return 1
`;

// KEYS: the sequence. Draws a version (a model script, so that a version is never drawn from
// a sequence lost with the rest of the model before the rebuild sets it again).
const drawSource = `return redis.call('INCR', KEYS[1])`;

// KEYS: the user's bookmarks, their order, the versions applied. ARGV: truth id, '1' to add
// ('' to remove), version, user id, bookmarks' channel. Applies a change unless a newer one of
// the same pair did. 1 when applied.
const applySource = `
if tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '-1') >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
publish(ARGV[5], ARGV[4])
return 1
`;

// KEYS: the user's bookmark order. ARGV: the highest version wanted ('+inf', or '(<v>' for
// below v), limit. Newest first, as {truth id, version, ...}.
const pageSource = `
return redis.call('ZRANGE', KEYS[1], ARGV[1], '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, tonumber(ARGV[2]), 'WITHSCORES')
`;

// KEYS: the user's pins. ARGV: revision, the pins' record, user id, pins' channel. Applies a
// change unless a newer revision is there. 1 when applied.
const pinnedSource = `
local current = redis.call('GET', KEYS[1])
if current and tonumber(cjson.decode(current).revision) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
publish(ARGV[4], ARGV[3])
return 1
`;

const pinListOf = (event: PinEventRecord): PinList => ({
  revision: event.revision,
  truthIds: event.truthIds.map((id) => id.toHexString()),
});

/**
 * Bookmarks' and pins' part of the read model (infra/read-model.ts): each user's bookmarks
 * (`bm:{<user>}`, truth → version, what `viewerHasBookmarked` reads), their order
 * (`bml:{<user>}`, a sorted set by version, newest last), the version of each pair's latest
 * change (`bmv:{<user>}`), the sequence (`bm:seq`, no user's), and each user's pins
 * (`pins:{<user>}`, the latest revision's list). A user's keys are tagged by the user's id, so
 * they share a Redis Cluster slot. Rebuilt from `bookmark_events` and `pin_events`.
 *
 * A bookmark change is decided and applied in Redis around its MongoDB insert, like a
 * reaction's (reactions/reaction.store.ts): racing changes, and changes applied twice, end as
 * the newest one says.
 */
export function createBookmarkStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  BookmarkEvent: BookmarkEventModel;
  PinEvent: PinEventModel;
  logger: Logger;
}) {
  const { model, redis, BookmarkEvent, PinEvent, logger } = deps;
  const byUser = createModelHashes({ model, redis, family: 'bm', logger });
  const pins = createModelRecords<PinList>({
    model,
    redis,
    family: 'pins',
    encode: (list) => JSON.stringify(list),
    decode: (text) => JSON.parse(text) as PinList,
    logger,
  });
  /** A user's bookmarks in order: truth id by version. */
  const order = (userId: string) => modelKey(model, 'bml', userId);
  /** A user's versions: truth id → the version of the latest change applied. */
  const versions = (userId: string) => modelKey(model, 'bmv', userId);
  /** The sequence of versions, shared by every user (a version orders one user's changes). */
  const sequence = `${model.prefix}bm:seq`;
  const intend = model.script(intendSource);
  const draw = model.script(drawSource);
  const apply = model.script(applySource);
  const page = model.script(pageSource);
  const pinned = model.script(pinnedSource);

  model.family('bookmarks', async () => {
    const state = new Map<string, { on: boolean; version: number }>();
    let highest = 0;
    await scanCollection<BookmarkEventRecord>(BookmarkEvent, (batch) => {
      for (const e of batch) {
        const pair = `${e.userId.toHexString()}:${e.truthId.toHexString()}`;
        if ((state.get(pair)?.version ?? -1) < e.version) {
          state.set(pair, { on: e.on, version: e.version });
        }
        highest = Math.max(highest, e.version);
      }
    });
    // Keys of many users: batches (on a cluster, each command to its own slot).
    let pipeline = redis.batch();
    let queued = 0;
    for (const [pair, { on, version }] of state) {
      const [userId, truthId] = pair.split(':') as [string, string];
      pipeline.hset(versions(userId), truthId, version);
      if (on) {
        pipeline.hset(byUser.keyOf(userId), truthId, version);
        pipeline.zadd(order(userId), version, truthId);
      }
      if (++queued % 2_000 === 0) {
        await pipeline.exec();
        pipeline = redis.batch();
      }
    }
    pipeline.set(sequence, highest);
    await pipeline.exec();

    const latest = new Map<string, PinEventRecord>();
    await scanCollection<PinEventRecord>(PinEvent, (batch) => {
      for (const e of batch) {
        const userId = e.userId.toHexString();
        if ((latest.get(userId)?.revision ?? -1) < e.revision) latest.set(userId, e);
      }
    });
    pipeline = redis.batch();
    for (const [userId, event] of latest) {
      pipeline.set(pins.keyOf(userId), pins.encode(pinListOf(event)));
    }
    await pipeline.exec();
  });

  return {
    byUser,
    pins,

    /** The version for adding (`on`) or removing the user's bookmark, or null if it is so. */
    async intend(userId: string, truthId: string, on: boolean): Promise<number | null> {
      // Drawn in the same round trip as the check (a version drawn for no change is only a
      // gap in the sequence): the sequence is no user's key, so it is not in the check's script.
      const [changes, version] = await Promise.all([
        intend.run(redis.command, [byUser.keyOf(userId)], [truthId, on ? '1' : '']),
        draw.run(redis.command, [sequence], []),
      ]);
      return changes === 0 ? null : (version as number);
    },

    /** Applies a stored bookmark change; true unless a newer one was applied already. */
    async apply(event: BookmarkEventRecord): Promise<boolean> {
      const userId = event.userId.toHexString();
      byUser.forget(userId);
      const result = await apply.run(
        redis.command,
        [byUser.keyOf(userId), order(userId), versions(userId)],
        [event.truthId.toHexString(), event.on ? '1' : '', event.version, userId, byUser.channel],
      );
      return result === 1;
    },

    /** Up to `limit` of the user's bookmarks below version `below`, newest first. */
    async page(
      userId: string,
      below: number | null,
      limit: number,
    ): Promise<{ truthId: string; version: number }[]> {
      const flat = (await page.run(
        redis.command,
        [order(userId)],
        [below === null ? '+inf' : `(${below}`, limit],
      )) as string[];
      const entries: { truthId: string; version: number }[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        entries.push({ truthId: flat[i]!, version: Number(flat[i + 1]) });
      }
      return entries;
    },

    /** The user's pins (revision 0 and none when they never pinned). */
    async pinsOf(userId: string): Promise<PinList> {
      return (await pins.getMany([userId])).get(userId) ?? { revision: 0, truthIds: [] };
    },

    /** Applies a stored change of a user's pins, unless a newer one is there. */
    async applyPins(event: PinEventRecord): Promise<void> {
      const userId = event.userId.toHexString();
      pins.forget(userId);
      await pinned.run(
        redis.command,
        [pins.keyOf(userId)],
        [event.revision, pins.encode(pinListOf(event)), userId, pins.channel],
      );
    },
  };
}

export type BookmarkStore = ReturnType<typeof createBookmarkStore>;
