import DataLoader from 'dataloader';
import { isUnavailableError } from '../lib/errors.js';
import type { Logger } from './logger.js';
import { createNearCache } from './near-cache.js';
import type { RedisClients } from './redis.js';
import { createScript } from './redis-script.js';

/**
 * A per-owner Redis hash that mirrors a set of MongoDB facts (a user's reactions, their
 * retruths, their relations), so that hot reads need no query: `<ns>:<family>:<owner>`, with a
 * `_built` marker, and a version counter `<ns>:<family>:v:<owner>`.
 *
 * Exact under concurrency: every change bumps the owner's version (and edits a built hash in
 * the same script); a rebuild reads the version, loads from MongoDB, and stores its result only
 * if the version has not moved, so a rebuild can never overwrite a change it did not see. A
 * missing hash (never built, expired, or lost with Redis) is rebuilt on the next read.
 *
 * With Redis unreachable, reads load from MongoDB (kept nowhere), so answers that show the
 * viewer's own state do not fail with Redis.
 *
 * What a process has read of an owner's mirror is kept in it (infra/near-cache.ts) until the
 * owner's mirror changes: every change publishes the owner from inside its script.
 */
export interface HashMirror {
  /** The values of `fields` for `owner`, null where absent. */
  get(owner: string, fields: readonly string[]): Promise<(string | null)[]>;
  /** Every field of `owner`'s mirror (shared between callers: read only). */
  getAll(owner: string): Promise<ReadonlyMap<string, string>>;
  /** Records a change already written to MongoDB: sets `field`, or removes it for null. */
  set(owner: string, field: string, value: string | null): Promise<void>;
  /** Forgets `owner`'s mirror; the next read rebuilds it. */
  invalidate(owner: string): Promise<void>;
  /**
   * The value of `field` (null: absent) if this process holds a current copy of it, undefined
   * if it must be read; no I/O.
   */
  peek(owner: string, field: string): string | null | undefined;
}

const readFieldsScript = createScript(`
if redis.call('HEXISTS', KEYS[1], '_built') == 0 then return false end
redis.call('EXPIRE', KEYS[1], ARGV[1])
if #ARGV == 1 then return {} end
return redis.call('HMGET', KEYS[1], unpack(ARGV, 2))
`);

const readAllScript = createScript(`
if redis.call('HEXISTS', KEYS[1], '_built') == 0 then return false end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])
`);

// KEYS: hash, version. ARGV: ttl, expected version, then field/value pairs.
const fillScript = createScript(`
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '_built', '1')
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`);

// KEYS: hash, version. ARGV: field, value ('' removes), version ttl, channel, owner.
const setScript = createScript(`
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
if redis.call('HEXISTS', KEYS[1], '_built') == 1 then
  if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
end
return 1
`);

// KEYS: hash, version. ARGV: version ttl, channel, owner.
const invalidateScript = createScript(`
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`);

/** What a process holds of one owner's mirror: the fields read so far (null: absent), or all. */
interface HeldMirror {
  complete: boolean;
  fields: Map<string, string | null>;
}

export function createHashMirror(options: {
  redis: RedisClients;
  family: string;
  ttlSeconds: number;
  /** Every field of `owner`'s mirror, read from MongoDB. */
  load(owner: string): Promise<Map<string, string>>;
  logger: Logger;
}): HashMirror {
  const { redis, ttlSeconds } = options;
  const near = createNearCache<HeldMirror>({
    redis,
    family: `mirror:${options.family}`,
    logger: options.logger,
    // Owners' mirrors differ in size by orders of magnitude: bounded by fields, not owners.
    maxSize: 200_000,
    sizeOf: (entry) => entry.fields.size + 1,
  });
  const maxKnownFields = 10_000;
  /** `field` of a held mirror (null: absent), or undefined when the copy does not know it. */
  const held = (known: HeldMirror | undefined, field: string) =>
    known && (known.complete || known.fields.has(field))
      ? (known.fields.get(field) ?? null)
      : undefined;
  // Versions outlive the hashes they guard, so a rebuild racing with an expiry still sees changes.
  const versionTtlSeconds = ttlSeconds * 2;
  const keysOf = (owner: string) => [
    `${redis.namespace}:${options.family}:${owner}`,
    `${redis.namespace}:${options.family}:v:${owner}`,
  ];

  /** With Redis unreachable: the owner's fields straight from MongoDB, kept nowhere. */
  const loadDirectly = (owner: string, error: unknown) => {
    options.logger.warn({ err: error, family: options.family }, 'mirror read from MongoDB');
    return options.load(owner);
  };

  const rebuild = async (owner: string): Promise<Map<string, string>> => {
    const keys = keysOf(owner);
    const version = (await redis.command.get(keys[1]!)) ?? '0';
    const fields = await options.load(owner);
    const args: string[] = [String(ttlSeconds), version];
    for (const [field, value] of fields) args.push(field, value);
    await fillScript.run(redis.command, keys, args);
    return fields;
  };

  return {
    peek: (owner, field) => held(near.get(owner), field),

    async get(owner, fields) {
      const known = near.get(owner);
      const copies = fields.map((field) => held(known, field));
      if (!copies.includes(undefined)) return copies as (string | null)[];
      const token = near.begin();
      let values: unknown;
      try {
        values = await readFieldsScript.run(redis.command, keysOf(owner), [ttlSeconds, ...fields]);
      } catch (error) {
        if (!isUnavailableError(error)) throw error;
        const all = await loadDirectly(owner, error);
        return fields.map((field) => all.get(field) ?? null);
      }
      if (!Array.isArray(values)) {
        const all = await rebuild(owner);
        return fields.map((field) => all.get(field) ?? null);
      }
      const read = values as (string | null)[];
      const merged = new Map(known && known.fields.size < maxKnownFields ? known.fields : []);
      fields.forEach((field, i) => merged.set(field, read[i] ?? null));
      near.fill(token, owner, { complete: false, fields: merged });
      return read;
    },

    async getAll(owner) {
      const known = near.get(owner);
      if (known?.complete) return known.fields as ReadonlyMap<string, string>;
      const token = near.begin();
      let flat: unknown;
      try {
        flat = await readAllScript.run(redis.command, keysOf(owner), [ttlSeconds]);
      } catch (error) {
        if (!isUnavailableError(error)) throw error;
        return loadDirectly(owner, error);
      }
      if (!Array.isArray(flat)) return rebuild(owner);
      const all = new Map<string, string>();
      for (let i = 0; i < flat.length; i += 2) {
        const field = String(flat[i]);
        if (field !== '_built') all.set(field, String(flat[i + 1]));
      }
      near.fill(token, owner, { complete: true, fields: all });
      return all;
    },

    async set(owner, field, value) {
      near.forget(owner);
      await setScript.run(redis.command, keysOf(owner), [
        field,
        value ?? '',
        versionTtlSeconds,
        near.channel,
        owner,
      ]);
    },

    async invalidate(owner) {
      near.forget(owner);
      await invalidateScript.run(redis.command, keysOf(owner), [
        versionTtlSeconds,
        near.channel,
        owner,
      ]);
    },
  };
}

/**
 * A loader over a mirror keyed by `<owner>:<field>`, for any number of owners at once: one
 * script call per owner in the batch, sent together (auto-pipelined) in one round trip.
 */
export function createMirrorByViewerLoader<V>(
  mirror: HashMirror,
  toValue: (raw: string | null) => V,
  options: { cache: boolean },
) {
  return new DataLoader<string, V>(
    async (keys) => {
      const byOwner = new Map<string, string[]>();
      for (const key of keys) {
        const colon = key.indexOf(':');
        const owner = key.slice(0, colon);
        const fields = byOwner.get(owner);
        if (fields) fields.push(key.slice(colon + 1));
        else byOwner.set(owner, [key.slice(colon + 1)]);
      }
      const values = new Map<string, string | null>();
      await Promise.all(
        [...byOwner].map(async ([owner, fields]) => {
          const found = await mirror.get(owner, fields);
          fields.forEach((field, i) => values.set(`${owner}:${field}`, found[i] ?? null));
        }),
      );
      return keys.map((key) => toValue(values.get(key) ?? null));
    },
    { cache: options.cache, maxBatchSize: 1_000 },
  );
}
