import type { RedisClients } from '../../infra/redis.js';
import { createScript } from '../../infra/redis-script.js';

/**
 * Home timelines: fan-out on write into one Redis sorted set per user.
 *
 * Key `<ns>:tl:<userId>` holds truth ids (ObjectId hex) as members, all with score 0, so that
 * ZREVRANGEBYLEX walks them newest first: hex ObjectIds sort in creation order, and a cursor is
 * simply the last id seen, stable however many truths arrive meanwhile.
 *
 * Policy, and why:
 * - Capped at `capacity` (800) newest ids, like Twitter's home timeline: older pages of the
 *   home feed are not served from the timeline; the account feeds still reach back forever.
 * - The empty-string member is a sentinel that means "complete": only a rebuild from MongoDB
 *   adds it. Fan-out writes go to every follower's set whether or not it is complete, and never
 *   delete anything, so a post that races with a rebuild is kept either way.
 * - A set without the sentinel (never built, expired, lost with Redis, or dropped after a
 *   follow) is rebuilt on the next read. Sets expire `ttlSeconds` after their last write or
 *   read, so timelines of people who stopped coming back do not hold memory forever.
 * - Unfollows, blocks and mutes are applied when a page is read (the feed service filters by
 *   the viewer's current relations), so they take effect at once without rewriting sets.
 */
export interface TimelineStore {
  /**
   * Up to `limit` ids older than `beforeId` (or the newest), newest first; `null` when the
   * timeline must be rebuilt. One round trip.
   */
  page(userId: string, beforeId: string | null, limit: number): Promise<string[] | null>;
  /** Ids newer than `afterId`, oldest first, at most `limit` (for catching up). */
  since(userId: string, afterId: string, limit: number): Promise<string[] | null>;
  /** Adds one truth to many timelines (fan-out), in pipelined batches. */
  add(userIds: readonly string[], truthId: string): Promise<void>;
  /** Removes one truth from many timelines. */
  remove(userIds: readonly string[], truthId: string): Promise<void>;
  /** Stores a rebuilt timeline (newest first) and marks it complete. */
  store(userId: string, truthIds: readonly string[]): Promise<void>;
  /** Drops a timeline; the next read rebuilds it. */
  invalidate(userId: string): Promise<void>;
  readonly capacity: number;
}

const pageScript = createScript(`
if not redis.call('ZSCORE', KEYS[1], '') then return false end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '(', 'LIMIT', 0, ARGV[2])
`);

const sinceScript = createScript(`
if not redis.call('ZSCORE', KEYS[1], '') then return false end
return redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, ARGV[2])
`);

// Rank 0 is the sentinel when present, so trimming starts at rank 1 and keeps the newest.
const addScript = createScript(`
local capacity = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, 0, ARGV[1])
  local size = redis.call('ZCARD', key)
  if size > capacity + 1 then redis.call('ZREMRANGEBYRANK', key, 1, size - capacity - 1) end
  redis.call('EXPIRE', key, ARGV[3])
end
return 1
`);

const removeScript = createScript(`
for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1]) end
return 1
`);

const storeScript = createScript(`
local capacity = tonumber(ARGV[1])
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('ZADD', KEYS[1], 0, '')
local size = redis.call('ZCARD', KEYS[1])
if size > capacity + 1 then redis.call('ZREMRANGEBYRANK', KEYS[1], 1, size - capacity - 1) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`);

const batchSize = 500;

export function createTimelineStore(options: {
  redis: RedisClients;
  capacity?: number;
  ttlSeconds?: number;
}): TimelineStore {
  const { redis } = options;
  const capacity = options.capacity ?? 800;
  const ttlSeconds = options.ttlSeconds ?? 14 * 24 * 3600;
  const keyOf = (userId: string) => `${redis.namespace}:tl:${userId}`;

  const inBatches = async (
    userIds: readonly string[],
    run: (keys: string[]) => Promise<unknown>,
  ) => {
    const batches: Promise<unknown>[] = [];
    for (let i = 0; i < userIds.length; i += batchSize) {
      batches.push(run(userIds.slice(i, i + batchSize).map(keyOf)));
    }
    await Promise.all(batches);
  };

  return {
    capacity,
    async page(userId, beforeId, limit) {
      const max = beforeId ? `(${beforeId}` : '+';
      const ids = await pageScript.run(redis.command, [keyOf(userId)], [max, limit, ttlSeconds]);
      return Array.isArray(ids) ? (ids as string[]) : null;
    },
    async since(userId, afterId, limit) {
      const ids = await sinceScript.run(redis.command, [keyOf(userId)], [`(${afterId}`, limit]);
      return Array.isArray(ids) ? (ids as string[]) : null;
    },
    add: (userIds, truthId) =>
      inBatches(userIds, (keys) =>
        addScript.run(redis.command, keys, [truthId, capacity, ttlSeconds]),
      ),
    remove: (userIds, truthId) =>
      inBatches(userIds, (keys) => removeScript.run(redis.command, keys, [truthId])),
    async store(userId, truthIds) {
      await storeScript.run(redis.command, [keyOf(userId)], [capacity, ttlSeconds, ...truthIds]);
    },
    async invalidate(userId) {
      await redis.command.del(keyOf(userId));
    },
  };
}
