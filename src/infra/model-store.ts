import DataLoader from 'dataloader';
import type { Logger } from './logger.js';
import { createNearCache } from './near-cache.js';
import type { ReadModel } from './read-model.js';
import type { RedisClients } from './redis.js';

/**
 * Typed views over read-model keys (infra/read-model.ts), each kept in this process as well
 * (infra/near-cache.ts): records by id, hashes by owner, counts by id. The model is complete,
 * so a key that is not there is a record that does not exist, an empty hash, zero counts.
 *
 * Writers change these keys inside their own module's scripts, together with everything that
 * changes with them, and publish each changed id on the view's `channel` from the same script;
 * every instance then drops its copy. A writer calls `forget` first, so its own next read
 * sees the change at once. Every copy goes when the model is rebuilt.
 */

/**
 * The key of `family`'s value for entity `id`: `<ns>:m:<family>:{<id>}`. The id is the key's
 * hash tag, so that every key of one entity (a user's, a truth's) is in one Redis Cluster slot
 * and one script can change them together (infra/slots.ts).
 */
export const modelKey = (model: ReadModel, family: string, id: string) =>
  `${model.prefix}${family}:{${id}}`;

/** Records by id: one JSON string each, `<ns>:m:<family>:{<id>}`. */
export interface ModelRecords<T> {
  /** The records for `ids` (missing ones absent): none, or one Redis round trip. */
  getMany(ids: Iterable<string>): Promise<Map<string, T>>;
  /** The record if this process holds a current copy of it; no I/O. */
  peek(id: string): T | undefined;
  keyOf(id: string): string;
  encode(record: T): string;
  /** This process changed `id`: drop its copy now. */
  forget(id: string): void;
  /**
   * For a record read by another script of the same module (one that reads `keyOf(id)` with
   * keys of its own, in one step): call before that read, and pass the token to `adopt`.
   */
  begin(): number;
  /**
   * The record in `text` (null: none), read after `begin()` gave `token`; kept like `getMany`'s,
   * or, for `viewer`, as a viewer's own (see `viewerSize`).
   */
  adopt(token: number, id: string, text: string | null, options?: { viewer?: boolean }): T | null;
  readonly channel: string;
}

export function createModelRecords<T extends object>(options: {
  model: ReadModel;
  redis: RedisClients;
  family: string;
  encode: (record: T) => string;
  decode: (text: string) => T;
  logger: Logger;
  /** Records held besides the rest for viewers' own (`adopt(…, { viewer: true })`): none. */
  viewerSize?: number;
}): ModelRecords<T> {
  const { model, redis } = options;
  const keyOf = (id: string) => modelKey(model, options.family, id);
  const near = createNearCache<T>({
    redis,
    family: `m:${options.family}`,
    logger: options.logger,
    maxSize: model.nearCacheEntries,
    ...(options.viewerSize ? { viewerSize: options.viewerSize } : {}),
  });
  model.onRebuilt(() => near.clear());
  const adopt = (
    token: number,
    id: string,
    text: string | null,
    adoptOptions?: { viewer?: boolean },
  ) => {
    if (!text) return null;
    const record = Object.freeze(options.decode(text));
    near.fill(token, id, record, adoptOptions);
    return record;
  };

  return {
    keyOf,
    encode: options.encode,
    channel: near.channel,
    forget: (id) => near.forget(id),
    peek: (id) => near.get(id),
    begin: () => near.begin(),
    adopt,

    async getMany(ids) {
      const found = new Map<string, T>();
      const remote = near.collect(new Set(ids), found);
      if (remote.length === 0) return found;
      const token = near.begin();
      const texts = await model.values(redis.command, remote.map(keyOf));
      remote.forEach((id, i) => {
        const record = adopt(token, id, texts[i] ?? null);
        if (record) found.set(id, record);
      });
      return found;
    },
  };
}

/** Per-owner hashes (a viewer's reactions, retruths, ...): `<ns>:m:<family>:{<owner>}`. */
export interface ModelHashes {
  /** The values of `fields` for `owner`, null where absent. */
  get(owner: string, fields: readonly string[]): Promise<(string | null)[]>;
  /**
   * One field of each of many owners (a truth's reaction by each of its viewers), null where
   * absent: the ones this process holds, and the rest in one script call.
   */
  getPairs(
    pairs: readonly (readonly [owner: string, field: string])[],
    options?: { keep?: boolean },
  ): Promise<(string | null)[]>;
  /** Every field of `owner`'s hash (shared between callers: read only). */
  getAll(owner: string): Promise<ReadonlyMap<string, string>>;
  /** `field` of `owner` (null: absent) if this process holds a current copy; no I/O. */
  peek(owner: string, field: string): string | null | undefined;
  keyOf(owner: string): string;
  forget(owner: string): void;
  readonly channel: string;
}

/** What a process holds of one owner's hash: the fields read so far (null: absent), or all. */
interface HeldHash {
  complete: boolean;
  fields: Map<string, string | null>;
}

const getFieldsSource = `
if #ARGV == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(ARGV))
`;
const getAllSource = `return redis.call('HGETALL', KEYS[1])`;
// KEYS: owners' hashes; ARGV: one field of each.
const getPairsSource = `
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGET', KEYS[i], ARGV[i]) end
return out
`;

export function createModelHashes(options: {
  model: ReadModel;
  redis: RedisClients;
  family: string;
  logger: Logger;
}): ModelHashes {
  const { model, redis } = options;
  const keyOf = (owner: string) => modelKey(model, options.family, owner);
  const near = createNearCache<HeldHash>({
    redis,
    family: `m:${options.family}`,
    logger: options.logger,
    // Owners' hashes differ in size by orders of magnitude: bounded by fields, not owners.
    maxSize: 10 * model.nearCacheEntries,
    sizeOf: (entry) => entry.fields.size + 1,
  });
  model.onRebuilt(() => near.clear());
  const getFields = model.script(getFieldsSource);
  const getAll = model.script(getAllSource);
  const getPairs = model.script(getPairsSource, { joined: true });
  const maxKnownFields = 10_000;
  const held = (known: HeldHash | undefined, field: string) =>
    known && (known.complete || known.fields.has(field))
      ? (known.fields.get(field) ?? null)
      : undefined;

  return {
    keyOf,
    channel: near.channel,
    forget: (owner) => near.forget(owner),
    peek: (owner, field) => held(near.get(owner), field),

    async get(owner, fields) {
      const known = near.get(owner);
      const copies = fields.map((field) => held(known, field));
      if (!copies.includes(undefined)) return copies as (string | null)[];
      const token = near.begin();
      const read = (await getFields.run(redis.command, [keyOf(owner)], fields)) as (
        string | null
      )[];
      const merged = new Map(known && known.fields.size < maxKnownFields ? known.fields : []);
      fields.forEach((field, i) => merged.set(field, read[i] ?? null));
      near.fill(token, owner, { complete: false, fields: merged });
      return read.map((value) => value ?? null);
    },

    async getPairs(pairs, options = {}) {
      const values = new Array<string | null>(pairs.length);
      const remote: number[] = [];
      pairs.forEach(([owner, field], i) => {
        const copy = held(near.get(owner), field);
        if (copy === undefined) remote.push(i);
        else values[i] = copy;
      });
      if (remote.length === 0) return values;
      const token = near.begin();
      const read = (await getPairs.runSpread(
        redis.command,
        remote.map((i) => ({ keys: [keyOf(pairs[i]![0])], args: [pairs[i]![1]] })),
      )) as (string | false | null)[];
      remote.forEach((i, k) => {
        const [owner, field] = pairs[i]!;
        const value = read[k] || null;
        values[i] = value;
        if (options.keep === false) return;
        const known = near.get(owner);
        const merged = new Map(known && known.fields.size < maxKnownFields ? known.fields : []);
        merged.set(field, value);
        near.fill(token, owner, { complete: false, fields: merged });
      });
      return values;
    },

    async getAll(owner) {
      const known = near.get(owner);
      if (known?.complete) return known.fields as ReadonlyMap<string, string>;
      const token = near.begin();
      const flat = (await getAll.run(redis.command, [keyOf(owner)], [])) as string[];
      const all = new Map<string, string>();
      for (let i = 0; i < flat.length; i += 2) all.set(flat[i]!, flat[i + 1]!);
      near.fill(token, owner, { complete: true, fields: all });
      return all;
    },
  };
}

/** Counts per id, `<ns>:m:<family>:{<id>}` hashes of `fields` (absent: zero). */
export interface ModelCounts<F extends string> {
  /** Counts for each id: none, or one Redis round trip. */
  get(ids: Iterable<string>): Promise<Map<string, Readonly<Record<F, number>>>>;
  peek(id: string): Readonly<Record<F, number>> | undefined;
  keyOf(id: string): string;
  forget(id: string): void;
  readonly channel: string;
}

// ARGV: the field names. One string per key, its values in ARGV order joined by ',', so a page
// of counts is a handful of reply elements, not hundreds.
const getCountsSource = `
local out = {}
for i, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, unpack(ARGV))
  for j = 1, #values do values[j] = values[j] or '0' end
  out[i] = table.concat(values, ',')
end
return out
`;

export function createModelCounts<F extends string>(options: {
  model: ReadModel;
  redis: RedisClients;
  family: string;
  fields: readonly F[];
  logger: Logger;
}): ModelCounts<F> {
  const { model, redis, fields } = options;
  const keyOf = (id: string) => modelKey(model, options.family, id);
  const near = createNearCache<Readonly<Record<F, number>>>({
    redis,
    family: `m:${options.family}`,
    logger: options.logger,
    maxSize: model.nearCacheEntries,
  });
  model.onRebuilt(() => near.clear());
  const getScript = model.script(getCountsSource, { joined: true });

  return {
    keyOf,
    channel: near.channel,
    forget: (id) => near.forget(id),
    peek: (id) => near.get(id),

    async get(ids) {
      const result = new Map<string, Readonly<Record<F, number>>>();
      const remote = near.collect(new Set(ids), result);
      if (remote.length === 0) return result;
      const token = near.begin();
      const joined = (await getScript.runSpread(
        redis.command,
        remote.map((id) => ({ keys: [keyOf(id)] })),
        { shared: fields },
      )) as string[];
      remote.forEach((id, i) => {
        const parts = joined[i]!.split(',');
        const values = {} as Record<F, number>;
        fields.forEach((field, j) => {
          values[field] = Math.max(0, Number(parts[j]));
        });
        const frozen = Object.freeze(values);
        near.fill(token, id, frozen);
        result.set(id, frozen);
      });
      return result;
    },
  };
}

/**
 * A loader over model hashes keyed `<owner>:<field>` (a viewer's reaction to a truth), for any
 * number of owners at once: one script call for the whole batch.
 */
export function createHashFieldBatch<V>(
  hashes: ModelHashes,
  toValue: (raw: string | null) => V,
  options: { cache: boolean },
) {
  return new DataLoader<string, V>(
    async (keys) => {
      const pairs = keys.map((key) => {
        const colon = key.indexOf(':');
        return [key.slice(0, colon), key.slice(colon + 1)] as const;
      });
      const values = await hashes.getPairs(pairs);
      return values.map((value) => toValue(value));
    },
    { cache: options.cache, maxBatchSize: 1_000 },
  );
}

/** The peek of such a loader: the value if this process holds the owner's field. */
export const peekHashField =
  <V>(hashes: ModelHashes, toValue: (raw: string | null) => V) =>
  (key: string): V | undefined => {
    const colon = key.indexOf(':');
    const raw = hashes.peek(key.slice(0, colon), key.slice(colon + 1));
    return raw === undefined ? undefined : toValue(raw);
  };
