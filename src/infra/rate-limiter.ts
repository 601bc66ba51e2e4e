import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimitSetting } from '../config.js';
import type { Logger } from './logger.js';
import type { RedisClients } from './redis.js';

/** `points` taken from `bucket`'s counter for `key` (an address, an account). */
export interface RateCharge<Bucket extends string> {
  readonly bucket: Bucket;
  readonly key: string;
  readonly points: number;
}

/** Why a set of charges was refused: the bucket that is spent, and when it allows again. */
export interface RateRefusal<Bucket extends string> {
  readonly bucket: Bucket;
  /** Whole seconds, at least 1. */
  readonly retryAfterSeconds: number;
}

/** Named buckets of fixed-window counters, each with its own limit (`createRateLimiter`). */
export interface RateLimiter<Bucket extends string> {
  /**
   * Takes every charge, in order, or none: at the first bucket that refuses, the points taken
   * so far are given back and its refusal is returned. Never rejects: with Redis unreachable
   * the in-process fallback decides.
   */
  charge(charges: readonly RateCharge<Bucket>[]): Promise<RateRefusal<Bucket> | undefined>;
  /** Counters the in-process fallback holds now (at most `fallbackMaxKeys`). */
  readonly fallbackKeys: number;
  /** True while Redis is taken for unreachable and the fallback counts. */
  readonly inProcess: boolean;
  close(): Promise<void>;
}

/** A fixed window's count in the in-process fallback. */
interface FallbackCounter {
  consumed: number;
  resetsAt: number;
}

/**
 * The in-process stand-in for one bucket while Redis is unreachable, given to
 * rate-limiter-flexible as its `insuranceLimiter`. `RateLimiterMemory` itself keeps a Map entry
 * and a timer per key until its window ends, so a flood of distinct keys during an outage
 * (addresses across IPv6 ranges, invented usernames) would grow it without bound; this one keeps
 * its counters in an LRU shared by every bucket, whose least recently used counters are
 * forgotten when it is full (at worst, a forgotten key starts a fresh window).
 */
class FallbackLimiter extends RateLimiterMemory {
  constructor(
    private readonly counters: LRUCache<string, FallbackCounter>,
    options: { keyPrefix: string; points: number; duration: number },
    /** Called when rate-limiter-flexible falls back here: Redis just failed. */
    private readonly onRedisFailure: () => void,
  ) {
    super(options);
  }

  /** Adds `points` to the key's counter (in a new window if it had none or it ended). */
  add(key: string | number, points: number): RateLimiterRes {
    const now = Date.now();
    const name = this.getKey(key);
    let counter = this.counters.get(name);
    const first = !counter || counter.resetsAt <= now;
    if (!counter || first) {
      counter = { consumed: 0, resetsAt: now + this.msDuration };
      this.counters.set(name, counter);
    }
    counter.consumed += points;
    return new RateLimiterRes(
      Math.max(this.points - counter.consumed, 0),
      counter.resetsAt - now,
      counter.consumed,
      first,
    );
  }

  /** Consumes as `consume` does, without reporting a Redis failure (the caller knows). */
  take(key: string | number, points: number): Promise<RateLimiterRes> {
    const res = this.add(key, points);
    // rate-limiter-flexible's contract: a refusal rejects with the RateLimiterRes itself.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    return res.consumedPoints > this.points ? Promise.reject(res) : Promise.resolve(res);
  }

  override consume(key: string | number, points = 1): Promise<RateLimiterRes> {
    this.onRedisFailure();
    return this.take(key, points);
  }

  override penalty(key: string | number, points = 1): Promise<RateLimiterRes> {
    this.onRedisFailure();
    return Promise.resolve(this.add(key, points));
  }

  override reward(key: string | number, points = 1): Promise<RateLimiterRes> {
    this.onRedisFailure();
    return Promise.resolve(this.add(key, -points));
  }

  override get(key: string | number): Promise<RateLimiterRes | null> {
    const counter = this.counters.get(this.getKey(key));
    const left = counter ? counter.resetsAt - Date.now() : 0;
    if (!counter || left <= 0) return Promise.resolve(null);
    return Promise.resolve(
      new RateLimiterRes(Math.max(this.points - counter.consumed, 0), left, counter.consumed),
    );
  }

  override set(key: string | number, points: number, seconds: number): Promise<RateLimiterRes> {
    const windowMs = seconds > 0 ? seconds * 1_000 : this.msDuration;
    this.counters.set(this.getKey(key), { consumed: points, resetsAt: Date.now() + windowMs });
    return Promise.resolve(new RateLimiterRes(Math.max(this.points - points, 0), windowMs, points));
  }

  override block(key: string | number, seconds: number): Promise<RateLimiterRes> {
    return this.set(key, this.points + 1, seconds);
  }

  override delete(key: string | number): Promise<boolean> {
    return Promise.resolve(this.counters.delete(this.getKey(key)));
  }
}

/** After Redis failed, how long charges go straight to the fallback before Redis is tried again. */
const redisRetryMs = 1_000;

/**
 * Rate limits counted in Redis, so that every instance shares them (rate-limiter-flexible's
 * fixed windows: one counter per bucket and key, under `<namespace>:rl:<bucket>:<key>`, which
 * expires with its window).
 *
 * A Redis outage neither fails requests nor lifts the limits: each instance counts in process
 * (`FallbackLimiter`, at most `fallbackMaxKeys` counters) until Redis answers again. Its own
 * connection fails a command at once while disconnected (no offline queue) and within
 * `commandTimeoutMs` when Redis stops answering; after a failure, charges skip Redis for a
 * second, so a frozen Redis costs one timeout a second, not one per request. While the fallback
 * counts, each instance allows a bucket's full limit on its own.
 *
 * Resolves once its connection is made (or failed: the fallback counts until it is made), so
 * that the first requests are counted in Redis like the others.
 */
export async function createRateLimiter<Bucket extends string>(options: {
  /** Where the limiter opens a connection of its own, with fail-fast settings. */
  redis: RedisClients;
  namespace: string;
  limits: Readonly<Record<Bucket, RateLimitSetting>>;
  fallbackMaxKeys: number;
  commandTimeoutMs?: number;
  logger: Logger;
}): Promise<RateLimiter<Bucket>> {
  const { logger } = options;
  const client = options.redis.connection('rate-limits', {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 500,
  });
  // Failures are reported below, once per outage; without a listener ioredis prints each one.
  client.on('error', () => undefined);
  // A failure here is an outage like any other: ioredis keeps trying.
  await client.connect().catch(() => undefined);

  // Until Redis has answered once there is no outage to warn of (app.ts waited for Redis).
  let connectedOnce = client.status === 'ready';
  client.once('ready', () => {
    connectedOnce = true;
  });
  let fallingBack = false;
  let warned = false;
  let lastRedisFailure = 0;
  const onRedisFailure = () => {
    lastRedisFailure = Date.now();
    if (fallingBack) return;
    fallingBack = true;
    if (!connectedOnce) return;
    warned = true;
    logger.warn('Redis is unreachable: rate limits are counted in process until it is back');
  };

  const counters = new LRUCache<string, FallbackCounter>({ max: options.fallbackMaxKeys });
  const buckets = new Map<Bucket, { redis: RateLimiterRedis; fallback: FallbackLimiter }>();
  for (const [bucket, limit] of Object.entries(options.limits) as [Bucket, RateLimitSetting][]) {
    const keyPrefix = `${options.namespace}:rl:${bucket}`;
    const fallback = new FallbackLimiter(
      counters,
      { keyPrefix, points: limit.points, duration: limit.windowSeconds },
      onRedisFailure,
    );
    const redis = new RateLimiterRedis({
      storeClient: client,
      keyPrefix,
      points: limit.points,
      duration: limit.windowSeconds,
      insuranceLimiter: fallback,
      rejectIfRedisNotReady: true,
    });
    buckets.set(bucket, { redis, fallback });
  }
  const bucketOf = (name: Bucket) => {
    const bucket = buckets.get(name);
    if (!bucket) throw new Error(`no rate limit bucket ${name}`);
    return bucket;
  };

  return {
    async charge(charges) {
      if (charges.length === 0) return undefined;
      const startedAt = Date.now();
      const direct = fallingBack && startedAt - lastRedisFailure < redisRetryMs;
      // One after another, in order, stopping at the first refusal: a bucket after it is not
      // touched, so a flood that its address's limit already stops (logIn with made-up names)
      // makes no counters for the later buckets in Redis.
      let refusal: RateRefusal<Bucket> | undefined;
      const counted: RateCharge<Bucket>[] = [];
      for (const charge of charges) {
        const { bucket, key, points } = charge;
        try {
          await (direct
            ? bucketOf(bucket).fallback.take(key, points)
            : bucketOf(bucket).redis.consume(key, points));
          counted.push(charge);
        } catch (reason) {
          if (!(reason instanceof RateLimiterRes)) {
            // Neither Redis nor the fallback decided (the fallback does not fail): let it
            // pass rather than refuse everyone.
            logger.error({ err: reason, bucket }, 'rate limit check failed');
            continue;
          }
          // The refused charge was counted too (its counter went past the limit).
          counted.push(charge);
          refusal = {
            bucket,
            retryAfterSeconds: Math.max(1, Math.ceil(reason.msBeforeNext / 1_000)),
          };
          break;
        }
      }
      if (fallingBack && !direct && lastRedisFailure < startedAt) {
        fallingBack = false;
        if (warned) {
          logger.info('Redis answers again: rate limits are shared by every instance again');
          warned = false;
        }
      }
      // A refused operation leaves every bucket as it found it.
      if (refusal && direct) {
        for (const { bucket, key, points } of counted) bucketOf(bucket).fallback.add(key, -points);
      } else if (refusal) {
        await Promise.allSettled(
          counted.map(({ bucket, key, points }) => bucketOf(bucket).redis.reward(key, points)),
        );
      }
      return refusal;
    },

    get fallbackKeys() {
      return counters.size;
    },

    get inProcess() {
      return fallingBack;
    },

    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}
