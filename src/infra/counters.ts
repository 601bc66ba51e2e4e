import { isUnavailableError } from '../lib/errors.js';
import type { Logger } from './logger.js';
import { createNearCache } from './near-cache.js';
import type { RedisEpoch } from './redis-epoch.js';
import type { RedisClients } from './redis.js';
import { createScript } from './redis-script.js';

/**
 * Counters that must survive concurrent writers exactly: reaction counts on a truth that
 * thousands react to at once, follower counts. MongoDB holds the facts (one document per
 * reaction or follow); Redis holds the counts, changed with atomic HINCRBY, because FerretDB
 * can lose one of two concurrent updates to the same document.
 *
 * Each counted thing is a hash `<ns>:cnt:<family>:<id>` with a `_built` marker, created with
 * zeros when the thing is created (`seed`), so a new account or truth is counted exactly from
 * its first fact. A hash without the marker (expired, or lost with Redis) is rebuilt from
 * MongoDB by `rebuild` on the next read, and increments skip it (the fact is in MongoDB and
 * the rebuild counts it).
 *
 * Exact under concurrency. A writer calls `expect(id)` before it writes a fact to MongoDB and
 * `increment` after; both change the id's state `<ns>:cnt:<family>:v:<id>` (a version, and the
 * number of writes between the two calls). A rebuild reads the state, then MongoDB, and stores
 * its counts only if the version has not moved and no write was between its two calls: a fact
 * that MongoDB already holds but whose increment is still to come would otherwise be counted
 * twice, and one whose increment was skipped during the read would be lost. Refused, it reads
 * again; after `maxRebuildRounds` the reader gets the counts it read, unstored, and the next
 * read tries again. (A writer that dies between its two calls holds rebuilds off until its
 * mark expires, `pendingTtlSeconds`.)
 *
 * Increments can be made idempotent with a guard (`once`): the effects of a write may run
 * again after a failure (infra/effects.ts), and a guarded increment applies only once. And an
 * increment carries the Redis epoch of its `expect` (infra/redis-epoch.ts): if Redis lost its
 * data since, it drops the hash instead of changing it, and the next read counts from MongoDB,
 * which holds its fact by then.
 *
 * With Redis unreachable, reads count from MongoDB (slowly, and nothing is kept), so an answer
 * that shows counts (a mutation's payload above all) does not fail with Redis.
 *
 * Counts read from Redis are kept in this process (infra/near-cache.ts) until they change:
 * every increment and every invalidation publishes the id from inside its script, built hash or
 * not, so no instance keeps a count that moved.
 */
export interface CounterStore<F extends string> {
  /** Counts for each id (one Redis round trip; MongoDB only for hashes that must be rebuilt). */
  get(ids: readonly string[]): Promise<Map<string, Readonly<Record<F, number>>>>;
  /**
   * Call before writing to MongoDB a fact that will change the counts of `ids`; pass what it
   * returns to the increments. Best effort: with Redis away it only notes the epoch (and the
   * write goes ahead).
   */
  expect(ids: readonly string[]): Promise<Expectation>;
  /**
   * Applies deltas atomically (after the fact is stored, following `expect`); returns the new
   * counts, or null when the hash is not built, the guard `once` (a key naming the fact and
   * effect) was already used, or Redis lost its data since `expected`.
   */
  increment(
    id: string,
    deltas: Partial<Record<F, number>>,
    options?: { once?: string; expected?: Expectation },
  ): Promise<Record<F, number> | null>;
  /** Creates zero counts for a thing about to be created (nothing happens if it has counts). */
  seed(id: string): Promise<void>;
  /** Forgets the counts of `id` (the next read rebuilds them). */
  invalidate(id: string): Promise<void>;
  /** The counts of `id` if this process holds a current copy of them; no I/O. */
  peek(id: string): Readonly<Record<F, number>> | undefined;
}

/** What `expect` returns: the Redis epoch the fact was written under. */
export interface Expectation {
  readonly epoch: string | null;
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

// KEYS: per id its state. ARGV: ttl of the state.
const expectScript = createScript(`
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'v', 1)
  redis.call('HINCRBY', key, 'p', 1)
  redis.call('EXPIRE', key, ARGV[1])
end
return 1
`);

// KEYS: the hash, its state, the guard ('' for none), the epoch. ARGV: ttl, the invalidation
// channel, the id, guard ttl, state ttl, expected epoch ('' for any), then field/delta pairs.
// An increment whose fact was written under another epoch (Redis lost its data in between)
// cannot know whether the hash, if rebuilt since, counted it: it drops the hash instead, and
// the next read rebuilds it from MongoDB, which holds the fact by now.
const incrementScript = createScript(`
if KEYS[3] ~= '' and not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then return false end
redis.call('HINCRBY', KEYS[2], 'v', 1)
if tonumber(redis.call('HGET', KEYS[2], 'p') or '0') > 0 then redis.call('HINCRBY', KEYS[2], 'p', -1) end
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[2], ARGV[3])
if ARGV[6] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[6] then
  redis.call('DEL', KEYS[1])
  return false
end
if redis.call('HEXISTS', KEYS[1], '_built') == 0 then return false end
for i = 7, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])
`);

// KEYS: the hash. ARGV: ttl, then field names.
const seedScript = createScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local args = { '_built', '1' }
for i = 2, #ARGV do
  args[#args + 1] = ARGV[i]
  args[#args + 1] = '0'
end
redis.call('HSET', KEYS[1], unpack(args))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`);

// KEYS: the hash, its state. ARGV: the invalidation channel, the id.
const invalidateScript = createScript(`
redis.call('DEL', KEYS[1])
redis.call('HINCRBY', KEYS[2], 'v', 1)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`);

// KEYS: per id its hash then its state. ARGV: ttl, field count n, the n field names, then per
// id the version its MongoDB read began at and its n values. A hash whose version moved, or
// with a write between `expect` and `increment`, is left unbuilt: its reply is false.
const buildScript = createScript(`
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS / 2 do
  local key = KEYS[2 * i - 1]
  local base = 2 + n + (i - 1) * (n + 1)
  if redis.call('HEXISTS', key, '_built') == 0 then
    local state = redis.call('HMGET', KEYS[2 * i], 'v', 'p')
    if (state[1] or '0') == ARGV[base + 1] and tonumber(state[2] or '0') <= 0 then
      redis.call('DEL', key)
      local args = { '_built', '1' }
      for j = 1, n do
        args[#args + 1] = ARGV[2 + j]
        args[#args + 1] = ARGV[base + 1 + j]
      end
      redis.call('HSET', key, unpack(args))
      redis.call('EXPIRE', key, ttl)
    end
  end
  local all = redis.call('HGETALL', key)
  if #all == 0 then out[i] = false else out[i] = all end
end
return out
`);

const maxRebuildRounds = 5;
/** How long a write's `expect` mark holds rebuilds off if its writer never increments. */
const pendingTtlSeconds = 30;
/** How long an increment's guard is kept: longer than any retry of its effects. */
const guardTtlSeconds = 2 * 24 * 3_600;

export function createCounterStore<F extends string>(options: {
  redis: RedisClients;
  epoch: RedisEpoch;
  family: string;
  fields: readonly F[];
  ttlSeconds: number;
  /** Counts from MongoDB for ids whose hash is missing; ids absent from the map count zero. */
  rebuild: (ids: readonly string[]) => Promise<Map<string, Partial<Record<F, number>>>>;
  logger: Logger;
}): CounterStore<F> {
  const { redis, fields, ttlSeconds } = options;
  const keyOf = (id: string) => `${redis.namespace}:cnt:${options.family}:${id}`;
  const stateOf = (id: string) => `${redis.namespace}:cnt:${options.family}:v:${id}`;
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

  /**
   * Rebuilds the hashes of `ids` from MongoDB, storing only what no write raced with (see the
   * interface's comment); what stays contended is answered as read, unstored.
   */
  const rebuildExactly = async (ids: readonly string[]) => {
    const counts = new Map<string, Readonly<Record<F, number>>>();
    let pending = [...ids];
    for (let round = 1; pending.length > 0; round++) {
      const versions = await Promise.all(pending.map((id) => redis.command.hget(stateOf(id), 'v')));
      const rebuilt = await options.rebuild(pending);
      const valuesOf = (id: string) => {
        const found: Partial<Record<F, number>> = rebuilt.get(id) ?? {};
        return fields.map((field) => Math.max(0, found[field] ?? 0));
      };
      if (round === maxRebuildRounds) {
        options.logger.debug(
          { family: options.family, ids: pending.length },
          'counts keep changing while being rebuilt; answered unstored',
        );
        for (const id of pending) {
          const values = valuesOf(id);
          counts.set(
            id,
            Object.fromEntries(fields.map((field, j) => [field, values[j]!])) as Record<F, number>,
          );
        }
        break;
      }
      const stored = (await buildScript.run(
        redis.command,
        pending.flatMap((id) => [keyOf(id), stateOf(id)]),
        [
          ttlSeconds,
          fields.length,
          ...fields,
          ...pending.flatMap((id, i) => [versions[i] ?? '0', ...valuesOf(id)]),
        ],
      )) as unknown[];
      const again: string[] = [];
      pending.forEach((id, i) => {
        const parsed = parse(stored[i]);
        if (parsed) counts.set(id, parsed);
        else again.push(id);
      });
      pending = again;
    }
    return counts;
  };

  return {
    peek: (id) => near.get(id),

    async get(ids) {
      const result = new Map<string, Readonly<Record<F, number>>>();
      const remote = near.collect(new Set(ids), result);
      if (remote.length === 0) return result;
      const token = near.begin();
      let raw: string[];
      try {
        raw = (await readScript.run(redis.command, remote.map(keyOf), fields)) as string[];
      } catch (error) {
        if (!isUnavailableError(error)) throw error;
        // Redis away: counts straight from MongoDB, kept nowhere.
        options.logger.warn({ err: error, family: options.family }, 'counts read from MongoDB');
        const rebuilt = await options.rebuild(remote);
        for (const id of remote) {
          const found: Partial<Record<F, number>> = rebuilt.get(id) ?? {};
          result.set(
            id,
            Object.fromEntries(
              fields.map((field) => [field, Math.max(0, found[field] ?? 0)]),
            ) as Record<F, number>,
          );
        }
        return result;
      }
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
        for (const [id, counts] of await rebuildExactly(missing)) result.set(id, counts);
      }
      return result;
    },

    async expect(ids) {
      const expectation = { epoch: options.epoch.current };
      if (ids.length === 0) return expectation;
      await expectScript
        .run(redis.command, ids.map(stateOf), [pendingTtlSeconds])
        .catch((error: unknown) =>
          options.logger.debug(
            { err: error, family: options.family },
            'count change not announced',
          ),
        );
      return expectation;
    },

    async increment(id, deltas, incrementOptions = {}) {
      const args: (string | number)[] = [
        ttlSeconds,
        near.channel,
        id,
        guardTtlSeconds,
        pendingTtlSeconds,
        incrementOptions.expected?.epoch ?? '',
      ];
      for (const [field, delta] of Object.entries(deltas) as [F, number][]) {
        if (delta) args.push(field, delta);
      }
      if (args.length === 6) return null;
      near.forget(id);
      const guard = incrementOptions.once ? `${redis.namespace}:once:${incrementOptions.once}` : '';
      return parse(
        await incrementScript.run(
          redis.command,
          [keyOf(id), stateOf(id), guard, options.epoch.key],
          args,
        ),
      );
    },

    async seed(id) {
      await seedScript.run(redis.command, [keyOf(id)], [ttlSeconds, ...fields]);
    },

    async invalidate(id) {
      near.forget(id);
      await invalidateScript.run(redis.command, [keyOf(id), stateOf(id)], [near.channel, id]);
    },
  };
}
