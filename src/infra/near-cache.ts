import { LRUCache } from 'lru-cache';
import type { Logger } from './logger.js';
import type { RedisClients } from './redis.js';

/**
 * A copy, in this process, of values that live in Redis and are read on every feed page
 * (records, counts, a viewer's reactions and relations), so that a warm page does not ask Redis
 * for them again. Every writer of such a value publishes its key on the family's invalidation
 * channel from inside the same Lua script that changes it (`invalidationChannel`), so the change
 * and its notice are one atomic step in Redis; each process drops its copy when the notice
 * arrives.
 *
 * Exact ordering across two connections: a read goes out on the command connection while
 * notices arrive on the subscriber connection, so a notice can overtake the reply of a read that
 * Redis ran before the change. Hence `begin()` before a read and `fill(token, …)` after it: the
 * value is kept only if no notice for that key arrived in between. A notice processed before
 * `begin()` was published by a change that Redis ran before the read, which therefore saw it.
 *
 * Lost notices: pub/sub is at-most-once, and a process whose subscriber connection drops cannot
 * know what changed meanwhile. So a dropped connection empties the cache and nothing is kept
 * until the channel is confirmed again. A connection that dies silently is dropped by the
 * subscriber's heartbeat (infra/redis.ts) within two beats, which closes it; `ttlMs` is the
 * last bound on how long a copy can outlive its value.
 */
export interface NearCache<V> {
  /** The copy for `key`, if this process holds a current one. */
  get(key: string): V | undefined;
  /** Puts the copies held for `keys` into `found`; returns the keys that must be read. */
  collect(keys: Iterable<string>, found: Map<string, V>): string[];
  /** Call before reading from Redis; pass the token to `fill`. */
  begin(): number;
  /**
   * Keeps `value`, read from Redis after `begin()` returned `token`, unless `key` changed since.
   * `viewer`: the value is a viewer's own (read on each of their requests), kept in room of its
   * own (`viewerSize`) that the values shown on pages do not push out.
   */
  fill(token: number, key: string, value: V, options?: { viewer?: boolean }): void;
  /** Drops this process's copy of `key` at once (it has just changed it). */
  forget(key: string): void;
  /** Drops every copy, and keeps no value read before now (the data behind them was replaced). */
  clear(): void;
  /** Channel that writers of the family publish changed keys on. */
  readonly channel: string;
  close(): void;
}

/** Copies each near cache of a read model holds unless told otherwise (NEAR_CACHE_ENTRIES). */
export const nearCacheEntries = 5_000;

/** Buckets of notice ticks (a power of two): 128 KiB a cache. */
const noticeBuckets = 1 << 14;

/** Buckets of probation's history of keys (a power of two): 512 KiB a cache. */
const historyBuckets = 1 << 16;
/**
 * How many of probation's latest puts its history answers for: a quarter of its buckets, so
 * that a key is seldom overwritten by another in its bucket before it ages out.
 */
const historyPuts = historyBuckets / 4;

/** FNV-1a over the key's UTF-16 code units, 32 bits. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

export const invalidationChannel = (namespace: string, family: string) =>
  `${namespace}:inv:${family}`;

export function createNearCache<V extends object>(options: {
  redis: RedisClients;
  family: string;
  logger: Logger;
  /**
   * Total size held at most (see `sizeOf`); the least recently read go first. Kept small on
   * purpose: every copy held is an object graph that each full garbage collection marks, and on
   * a network far larger than the cache a bigger one buys few hits for that cost (README,
   * "In-process copies of hot Redis values"). 0: no copy is kept, a viewer's neither, and
   * every read goes to Redis. Given by the read model (`ReadModel.nearCacheEntries`, from
   * NEAR_CACHE_ENTRIES), so that the setting reaches every cache.
   */
  maxSize: number;
  /** Size of one value, a positive integer: 1 (one entry) unless given. */
  sizeOf?: (value: V) => number;
  /** Longest a copy is kept without being confirmed by Redis. */
  ttlMs?: number;
  /**
   * Size held at most, besides `maxSize`, for viewers' own values (`fill(…, { viewer: true })`):
   * none unless given, and then such values are kept like the rest.
   */
  viewerSize?: number;
}): NearCache<V> {
  const { redis, logger } = options;
  const channel = invalidationChannel(redis.namespace, options.family);
  if (options.maxSize === 0) return keepingNothing(channel);
  const subscriber = redis.subscriber;
  const values = createSegments<V>({
    maxSize: options.maxSize,
    sizeOf: options.sizeOf ?? (() => 1),
    ttlMs: options.ttlMs ?? 60_000,
    viewerSize: options.viewerSize ?? 0,
  });

  /** Logical clock: one tick per notice or reset. */
  let clock = 0;
  /** Reads begun before this tick may have missed a notice: their values are not kept. */
  let floor = 1;
  let live = false;
  /**
   * Tick of the latest notice per key, in buckets by a hash of the key: a fixed array, so a
   * notice allocates nothing that outlives it (a map of changed keys holds each one until it is
   * evicted: up to 50,000 keys, some 13 MiB, garbage in the old generation on a network of many
   * keys). Two keys in one bucket share the later tick, which can only refuse a value, never
   * keep a stale one.
   */
  const changedAt = new Float64Array(noticeBuckets);
  const bucketOf = (key: string) => hashKey(key) & (noticeBuckets - 1);

  const reset = () => {
    live = false;
    floor = ++clock;
    values.clear();
  };

  const onMessage = (from: string, key: string) => {
    if (from !== channel) return;
    changedAt[bucketOf(key)] = ++clock;
    values.delete(key);
  };

  const confirm = () => {
    subscriber.subscribe(channel).then(
      () => {
        floor = ++clock;
        live = true;
      },
      (error: unknown) => {
        logger.warn({ err: error, channel }, 'near cache channel not confirmed; it stays off');
      },
    );
  };

  subscriber.on('message', onMessage);
  subscriber.on('close', reset);
  subscriber.on('ready', confirm);
  if (subscriber.status === 'ready') confirm();

  const get = (key: string) => (live ? values.get(key) : undefined);

  return {
    channel,
    get,
    collect(keys, found) {
      const missing: string[] = [];
      for (const key of keys) {
        const value = get(key);
        if (value) found.set(key, value);
        else missing.push(key);
      }
      return missing;
    },
    begin: () => clock,
    fill(token, key, value, fillOptions) {
      if (!live || token < floor) return;
      // A notice for `key` since `token` ticked the clock: without a tick, none came.
      if (clock > token && changedAt[bucketOf(key)]! > token) return;
      values.set(key, value, fillOptions?.viewer === true);
    },
    forget(key) {
      changedAt[bucketOf(key)] = ++clock;
      values.delete(key);
    },
    clear() {
      // Every tick in `changedAt` is below the new floor, which refuses those reads already.
      floor = ++clock;
      values.clear();
    },
    close() {
      subscriber.off('message', onMessage);
      subscriber.off('close', reset);
      subscriber.off('ready', confirm);
      reset();
    },
  };
}

/** A near cache that keeps no copy (`maxSize: 0`): every read goes to Redis. */
function keepingNothing<V>(channel: string): NearCache<V> {
  return {
    channel,
    get: () => undefined,
    collect: (keys) => [...keys],
    begin: () => 0,
    fill() {},
    forget() {},
    clear() {},
    close() {},
  };
}

/**
 * The copies of one near cache, in two least-recently-read segments: a copy is kept first on
 * probation (a fifth of the room) and moves to the protected rest when it is read again. A page
 * of people or truths read once (a search, a stranger's followers) does not push out what is
 * read again and again: the viewers' own records, hot authors, the counts on a busy feed. A
 * copy keeps the time it was filled when it moves (`ttlMs` counts from the read from Redis).
 *
 * Probation takes copies only while it has room: once full, a key read for the first time is
 * only remembered (below), and its copy is not kept. On a network far larger than the cache,
 * probation would otherwise take a copy of every stranger each page shows, each pushing out an
 * older one, all of them living long enough to be promoted by the collector and then collected
 * as old garbage (README, "Launch scale": with that, `searchUsers` cost more CPU on the launch
 * network than with no copies at all). Its copies leave when read again (then protected), when
 * a notice drops them, or, while it is full, once their time to live has passed (looked for at
 * most once a second).
 *
 * Probation also remembers the keys it was offered lately (`historyPuts` of them, copied or
 * not; keys only, in fixed arrays): a key read from Redis again while remembered is read again
 * and again, only less often than pages read once come by (a viewer's own record, between two
 * of their requests, on an instance where each request shows ten strangers), and its new copy
 * is protected at once.
 *
 * That does not hold a viewer's record when the strangers come back too: a viewer shown the
 * same 20 people on every request brings 20 copies a request that are read again, all
 * protected in turn, and many viewers' pages push everything else out of the protected room,
 * the viewers' records included. So a viewer's own value can be kept in a third segment
 * (`viewerSize`), which only viewers' values enter.
 */
function createSegments<V extends object>(options: {
  maxSize: number;
  sizeOf: (value: V) => number;
  ttlMs: number;
  viewerSize: number;
}) {
  const probationSize = Math.max(1, Math.floor(options.maxSize / 5));
  const segment = (maxSize: number) =>
    new LRUCache<string, V>({
      maxSize,
      sizeCalculation: options.sizeOf,
      ttl: options.ttlMs,
    });
  const probation = segment(probationSize);
  const kept = segment(Math.max(1, options.maxSize - probationSize));
  const viewers = options.viewerSize > 0 ? segment(options.viewerSize) : null;
  // Probation's history: per bucket of a hash of the key, the count of puts when a key was last
  // put on probation (0: none) and that key's whole hash, so that two keys in one bucket are
  // told apart; a later key in the bucket overwrites it (it is then only forgotten early).
  const putAt = new Uint32Array(historyBuckets);
  const putHash = new Uint32Array(historyBuckets);
  let puts = 0;
  // Copies on probation past their time to live are dropped only when looked for: a full
  // probation drops them all, at most once a second, to make room.
  let purgedAt = 0;
  const roomFreed = () => {
    const now = Date.now();
    if (now - purgedAt < 1_000) return false;
    purgedAt = now;
    return probation.purgeStale();
  };
  return {
    get(key: string): V | undefined {
      const value = kept.get(key) ?? viewers?.get(key);
      if (value !== undefined) return value;
      const trial = probation.get(key);
      if (trial === undefined) return undefined;
      // At least 1 ms: a time to live of 0 would keep it for good.
      const ttl = Math.max(1, probation.getRemainingTTL(key));
      probation.delete(key);
      kept.set(key, trial, { ttl });
      return trial;
    },
    set(key: string, value: V, viewer: boolean) {
      if (viewers && (viewer || viewers.has(key))) {
        kept.delete(key);
        probation.delete(key);
        viewers.set(key, value);
        return;
      }
      const size = options.sizeOf(value);
      // A copy too large for probation is kept at once.
      if (kept.has(key) || size > probationSize) {
        kept.set(key, value);
        return;
      }
      const hash = hashKey(key);
      const bucket = hash & (historyBuckets - 1);
      const put = putAt[bucket]!;
      if (put !== 0 && putHash[bucket] === hash && (puts - put) >>> 0 < historyPuts) {
        // On probation lately and read from Redis again: read again and again.
        putAt[bucket] = 0;
        probation.delete(key);
        kept.set(key, value);
        return;
      }
      // A 32-bit count that wraps past 0, which marks an empty bucket.
      puts = (puts + 1) >>> 0 || 1;
      putAt[bucket] = puts;
      putHash[bucket] = hash;
      // Probation full: the key is only remembered (above). Its copy would push out one that
      // waits to be read again, and on a network far larger than the cache it is itself read
      // once: it would live long enough to be promoted, then be collected as old garbage.
      if (probation.calculatedSize + size > probationSize && !roomFreed()) return;
      probation.set(key, value);
    },
    delete(key: string) {
      kept.delete(key);
      probation.delete(key);
      viewers?.delete(key);
    },
    clear() {
      kept.clear();
      probation.clear();
      viewers?.clear();
    },
  };
}
