import type { Logger } from './logger.js';
import { createNearCache } from './near-cache.js';
import type { RedisClients } from './redis.js';
import { createScript } from './redis-script.js';

/**
 * A read-through cache of records in Redis, for reads too hot for MongoDB: the truths and
 * authors of every feed page, the session's user on every request.
 *
 * Consistency: readers fill a miss with SET NX, writers put the fresh record with a plain SET
 * after their MongoDB write. Whatever the interleaving, the cache ends with the writer's value: a
 * reader that read MongoDB before the write either fills before the writer's SET (which then
 * overwrites it) or after it (and its NX fill is refused). Records expire after `ttlSeconds`.
 *
 * Records read from Redis are also kept in this process (infra/near-cache.ts): the writer's SET
 * and its invalidation notice are one script, so every instance drops its copy of a changed
 * record, and a warm page reads its truths, authors and the session's user without Redis.
 * Records are frozen, since they are shared between requests.
 *
 * With Redis unreachable, reads go to MongoDB and a write-through that fails is kept in this
 * process and retried before its next successful read, so the change is never dropped here; a
 * Redis that kept its data through the outage may serve the older record to other instances
 * until this one retries or the entry expires.
 */
export interface RecordCache<T> {
  /** The records for `ids` (missing ones absent), one Redis round trip when all are cached. */
  getMany(ids: readonly string[]): Promise<Map<string, T>>;
  /** The record if this process holds a current copy of it; no I/O. */
  peek(id: string): T | undefined;
  /** Writes a changed record through (call after the MongoDB write). */
  put(record: T): Promise<void>;
}

// KEYS: the record. ARGV: its text, ttl, the invalidation channel, the id.
const writeScript = createScript(`
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`);

export function createRecordCache<T extends object>(options: {
  redis: RedisClients;
  family: string;
  ttlSeconds: number;
  load(ids: readonly string[]): Promise<T[]>;
  idOf(record: T): string;
  encode(record: T): string;
  decode(text: string): T;
  logger: Logger;
}): RecordCache<T> {
  const { redis, ttlSeconds } = options;
  const keyOf = (id: string) => `${redis.namespace}:rec:${options.family}:${id}`;
  /** Write-throughs that failed, by id: retried, and preferred over what Redis holds. */
  const unwritten = new Map<string, T>();
  const maxUnwritten = 10_000;
  const near = createNearCache<T>({
    redis,
    family: `rec:${options.family}`,
    logger: options.logger,
  });

  const write = (record: T) => {
    const id = options.idOf(record);
    return writeScript.run(
      redis.command,
      [keyOf(id)],
      [options.encode(record), ttlSeconds, near.channel, id],
    );
  };

  const retryUnwritten = async () => {
    for (const [id, record] of [...unwritten]) {
      await write(record);
      if (unwritten.get(id) === record) unwritten.delete(id);
    }
  };

  const loadAndFill = async (ids: readonly string[], found: Map<string, T>) => {
    const loaded = await options.load(ids);
    if (loaded.length === 0) return;
    const pipeline = redis.command.pipeline();
    for (const record of loaded) {
      const id = options.idOf(record);
      found.set(id, record);
      pipeline.set(keyOf(id), options.encode(record), 'EX', ttlSeconds, 'NX');
    }
    await pipeline.exec().catch((error: unknown) => {
      options.logger.warn(
        { err: error, family: options.family },
        'could not fill the record cache',
      );
    });
  };

  return {
    // A pending write-through is newer than any copy, and must reach Redis: no copies then.
    peek: (id) => (unwritten.size === 0 ? near.get(id) : undefined),

    async getMany(ids) {
      const found = new Map<string, T>();
      // Pending write-throughs are retried on the way to Redis, so they keep a read going there.
      const remote = unwritten.size > 0 ? [...ids] : near.collect(ids, found);
      if (remote.length === 0) return found;
      const token = near.begin();
      let cached: (string | null)[];
      try {
        cached = await redis.command.mget(...remote.map(keyOf));
      } catch (error) {
        options.logger.warn(
          { err: error, family: options.family },
          'record cache unavailable; reading MongoDB',
        );
        for (const record of await options.load(remote)) found.set(options.idOf(record), record);
        return found;
      }
      if (unwritten.size > 0) {
        await retryUnwritten().catch((error: unknown) => {
          options.logger.warn({ err: error, family: options.family }, 'record cache write failed');
        });
      }
      const missing: string[] = [];
      remote.forEach((id, i) => {
        const text = cached[i];
        const pending = unwritten.get(id);
        if (pending) found.set(id, pending);
        else if (text) {
          const record = Object.freeze(options.decode(text));
          near.fill(token, id, record);
          found.set(id, record);
        } else missing.push(id);
      });
      if (missing.length > 0) await loadAndFill(missing, found);
      return found;
    },

    async put(record) {
      const id = options.idOf(record);
      near.forget(id);
      unwritten.delete(id);
      unwritten.set(id, record);
      // Bounded: past the cap the oldest change is left to expire from Redis (`ttlSeconds`).
      if (unwritten.size > maxUnwritten) unwritten.delete(unwritten.keys().next().value!);
      try {
        await write(record);
        if (unwritten.get(id) === record) unwritten.delete(id);
      } catch (error) {
        options.logger.warn(
          { err: error, family: options.family, id },
          'record cache write failed; retrying on the next read',
        );
      }
    },
  };
}
