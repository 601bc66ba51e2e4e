import type { Logger } from './logger.js';
import { createNearCache } from './near-cache.js';
import type { RedisClients } from './redis.js';
import { createScript } from './redis-script.js';

/**
 * Counters that must survive concurrent writers exactly: reaction counts on a truth that
 * thousands react to at once, follower counts. MongoDB holds the facts (one document per
 * reaction or follow); Redis holds the counts, changed with atomic HINCRBY, because FerretDB
 * can lose one of two concurrent updates to the same document.
 *
 * Each counted thing is a hash `<ns>:cnt:<family>:<id>` with a `_built` marker. A hash without
 * the marker (never read, expired, or lost with Redis) is rebuilt from MongoDB by `rebuild` on
 * the next read, and increments skip it (the fact is in MongoDB and the rebuild counts it).
 * Known window: a fact written after the rebuild's MongoDB read whose increment lands before
 * the rebuilt hash is stored is missed until the hash expires (`ttlSeconds` after its last
 * change) and is rebuilt.
 *
 * Counts read from Redis are kept in this process (infra/near-cache.ts) until they change:
 * every increment and every invalidation publishes the id from inside its script, built hash or
 * not, so no instance keeps a count that moved.
 */
export interface CounterStore<F extends string> {
  /** Counts for each id (one Redis round trip; MongoDB only for hashes that must be rebuilt). */
  get(ids: readonly string[]): Promise<Map<string, Readonly<Record<F, number>>>>;
  /** Applies deltas atomically; returns the new counts, or null when the hash is not built. */
  increment(id: string, deltas: Partial<Record<F, number>>): Promise<Record<F, number> | null>;
  /** Forgets the counts of `id` (the next read rebuilds them). */
  invalidate(id: string): Promise<void>;
  /** The counts of `id` if this process holds a current copy of them; no I/O. */
  peek(id: string): Readonly<Record<F, number>> | undefined;
}

// ARGV: the field names. One string per key, its values in ARGV order joined by ',' ('' when
// the hash is not built), so a page of counts is a handful of reply elements, not hundreds.
const readScript = createScript(`
local out = {}
for i, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, '_built', unpack(ARGV))
  if values[1] then
    for j = 2, #values do values[j] = values[j] or '0' end
    out[i] = table.concat(values, ',', 2)
  else
    out[i] = ''
  end
end
return out
`);

// KEYS: the hash. ARGV: ttl, the invalidation channel, the id, then field/delta pairs.
const incrementScript = createScript(`
redis.call('PUBLISH', ARGV[2], ARGV[3])
if redis.call('HEXISTS', KEYS[1], '_built') == 0 then return false end
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])
`);

// KEYS: the hash. ARGV: the invalidation channel, the id.
const invalidateScript = createScript(`
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`);

// ARGV: ttl, field count n, the n field names, then n values per key in KEYS order.
const buildScript = createScript(`
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('HEXISTS', key, '_built') == 0 then
    redis.call('DEL', key)
    local args = { '_built', '1' }
    for j = 1, n do
      args[#args + 1] = ARGV[2 + j]
      args[#args + 1] = ARGV[2 + n + (i - 1) * n + j]
    end
    redis.call('HSET', key, unpack(args))
    redis.call('EXPIRE', key, ttl)
  end
  out[i] = redis.call('HGETALL', key)
end
return out
`);

export function createCounterStore<F extends string>(options: {
  redis: RedisClients;
  family: string;
  fields: readonly F[];
  ttlSeconds: number;
  /** Counts from MongoDB for ids whose hash is missing; ids absent from the map count zero. */
  rebuild: (ids: readonly string[]) => Promise<Map<string, Partial<Record<F, number>>>>;
  logger: Logger;
}): CounterStore<F> {
  const { redis, fields, ttlSeconds } = options;
  const keyOf = (id: string) => `${redis.namespace}:cnt:${options.family}:${id}`;
  const near = createNearCache<Readonly<Record<F, number>>>({
    redis,
    family: `cnt:${options.family}`,
    logger: options.logger,
  });

  const parse = (flat: unknown): Record<F, number> | null => {
    if (!Array.isArray(flat) || flat.length === 0) return null;
    const values = {} as Record<F, number>;
    let built = false;
    for (let i = 0; i < flat.length; i += 2) {
      const field = String(flat[i]);
      if (field === '_built') built = true;
      else values[field as F] = Math.max(0, Number(flat[i + 1]));
    }
    if (!built) return null;
    for (const field of fields) values[field] ??= 0;
    return values;
  };

  return {
    peek: (id) => near.get(id),

    async get(ids) {
      const result = new Map<string, Readonly<Record<F, number>>>();
      const remote = near.collect(new Set(ids), result);
      if (remote.length === 0) return result;
      const token = near.begin();
      const raw = (await readScript.run(redis.command, remote.map(keyOf), fields)) as string[];
      const missing: string[] = [];
      remote.forEach((id, i) => {
        const joined = raw[i];
        if (!joined) {
          missing.push(id);
          return;
        }
        const parts = joined.split(',');
        const values = {} as Record<F, number>;
        fields.forEach((field, j) => {
          values[field] = Math.max(0, Number(parts[j]));
        });
        near.fill(token, id, Object.freeze(values));
        result.set(id, values);
      });
      if (missing.length > 0) {
        const rebuilt = await options.rebuild(missing);
        const args: (string | number)[] = [ttlSeconds, fields.length, ...fields];
        for (const id of missing) {
          const counts: Partial<Record<F, number>> = rebuilt.get(id) ?? {};
          for (const field of fields) args.push(counts[field] ?? 0);
        }
        const stored = (await buildScript.run(
          redis.command,
          missing.map(keyOf),
          args,
        )) as unknown[];
        missing.forEach((id, i) => result.set(id, parse(stored[i])!));
      }
      return result;
    },

    async increment(id, deltas) {
      const args: (string | number)[] = [ttlSeconds, near.channel, id];
      for (const [field, delta] of Object.entries(deltas) as [F, number][]) {
        if (delta) args.push(field, delta);
      }
      if (args.length === 3) return null;
      near.forget(id);
      return parse(await incrementScript.run(redis.command, [keyOf(id)], args));
    },

    async invalidate(id) {
      near.forget(id);
      await invalidateScript.run(redis.command, [keyOf(id)], [near.channel, id]);
    },
  };
}
