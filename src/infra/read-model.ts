import { ServiceUnavailableError } from '../lib/errors.js';
import { tryAcquireLease, type Lease } from './lock.js';
import type { Logger } from './logger.js';
import type { Redis, RedisClients } from './redis.js';
import { createScript } from './redis-script.js';

/**
 * Verity's read model: everything a request reads lives in Redis, complete, under one prefix
 * (`<ns>:m:`), so that no request reads a MongoDB collection that grows with the network (on
 * the embedded database every read scans its collection). MongoDB holds the facts, written as
 * inserts; each module keeps its part of the model in step with them (scripts that apply a
 * fact idempotently, in the same step as its counts and its invalidation notice), and knows how
 * to rebuild its part from MongoDB.
 *
 * Completeness is one marker, `<ns>:m:ready`, holding the run id of the Redis server it was
 * built on. Every model script checks it first (`script`), so a missing key is never taken for
 * a missing fact: without the marker a script answers NOTREADY, the caller waits for the
 * rebuild and runs it again. The marker goes missing when Redis loses its data (a restart
 * without persistence, a flush) or when it restarted at all (its run id changed; a snapshot
 * may miss the latest facts) unless `durable` says Redis keeps everything it acknowledged.
 *
 * The rebuild: one instance at a time (a renewed lease) clears the prefix, lets every family
 * rebuild its keys from MongoDB in registration order, then sets the marker. Scans of whole
 * collections happen there and only there. Requests wait for it up to `waitMs`, then get a
 * retryable error; writes already stored in MongoDB apply their (idempotent) changes once it
 * is done (infra/effects.ts retries them).
 */
export interface ReadModel {
  /** `<ns>:m:`, the prefix of every model key. */
  readonly prefix: string;
  readonly readyKey: string;
  /**
   * A Lua script over the model. The marker is checked before `source` runs (it is passed as
   * an extra first key and taken off `KEYS`, so `source` sees only its own keys).
   */
  script(source: string): ModelScript;
  /** Adds a family of keys and how to rebuild it from MongoDB; rebuilt in the order added. */
  family(name: string, rebuild: (redis: Redis) => Promise<void>): void;
  /**
   * Resolves once the model is complete, rebuilding it if needed; a request waits up to
   * `waitMs` (then a retryable error), start-up as long as it takes.
   */
  ensure(options?: { wait?: 'request' | 'start' }): Promise<void>;
  /**
   * Rebuilds the model from MongoDB now (for data written to MongoDB behind Verity's back: a
   * migration, a bulk load, a benchmark's seed).
   */
  rebuild(): Promise<void>;
  /** Calls `listener` after each rebuild (in-process copies of model values must go). */
  onRebuilt(listener: () => void): () => void;
  /** Starts watching for a lost or stale model (every instance does). */
  start(): void;
  stop(): void;
}

export interface ModelScript {
  run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
}

/** Thrown by model scripts while the model is incomplete. */
export class ModelNotReadyError extends ServiceUnavailableError {
  override name = 'ModelNotReadyError';
}

const notReady = 'NOTREADY';

const readyCheck = `
local __ready = table.remove(KEYS, 1)
if redis.call('EXISTS', __ready) == 0 then
  return redis.error_reply('${notReady} the read model is being rebuilt')
end
`;

/** Sets the marker, unless a newer rebuild replaced ours (the lease fence decides). */
const markReadyScript = createScript(`
redis.call('SET', KEYS[1], ARGV[1])
return 1
`);

/** The run id of the Redis server behind `redis` (changes on every restart). */
async function runIdOf(redis: Redis): Promise<string> {
  const info = await redis.info('server');
  const match = /run_id:(\w+)/.exec(info);
  if (!match) throw new Error('Redis did not report its run_id');
  return match[1]!;
}

export function createReadModel(options: {
  redis: RedisClients;
  logger: Logger;
  /** How long a request waits for a rebuild before its retryable error. */
  waitMs?: number;
  /** Redis keeps every acknowledged write across restarts (AOF, appendfsync always). */
  durable?: boolean;
  /** How often every instance checks the marker (it is also checked after each reconnect). */
  checkEveryMs?: number;
}): ReadModel {
  const { redis, logger } = options;
  const prefix = `${redis.namespace}:m:`;
  const readyKey = `${prefix}ready`;
  const waitMs = options.waitMs ?? 10_000;
  const families: { name: string; rebuild: (redis: Redis) => Promise<void> }[] = [];
  const rebuiltListeners = new Set<() => void>();
  let building: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const resetChannel = `${redis.namespace}:inv:model`;

  const clear = async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.command.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      cursor = next;
      if (keys.length > 0) await redis.command.unlink(...keys);
    } while (cursor !== '0');
  };

  /**
   * Rebuilds under `lease`, renewing it meanwhile. A holder that lost its lease (it stalled
   * past the TTL, and another instance took over) stops at the next family and never marks
   * the model ready.
   */
  const rebuild = async (lease: Lease) => {
    let held = true;
    const renewing = setInterval(() => {
      lease.renew().then(
        (renewed) => {
          held &&= renewed;
        },
        (error: unknown) => logger.warn({ err: error }, 'read model lease not renewed'),
      );
    }, 5_000);
    renewing.unref();
    const started = Date.now();
    const stillHeld = async () => {
      if (!held || !(await lease.renew())) throw new Error('the read model lease was lost');
    };
    try {
      const runId = await runIdOf(redis.command);
      logger.warn('the read model is incomplete; rebuilding it from MongoDB');
      await clear();
      for (const family of families) {
        await stillHeld();
        const familyStarted = Date.now();
        await family.rebuild(redis.command);
        logger.info({ family: family.name, ms: Date.now() - familyStarted }, 'rebuilt');
      }
      await stillHeld();
      await markReadyScript.run(redis.command, [readyKey], [runId]);
      await redis.publisher.publish(resetChannel, 'rebuilt');
      logger.warn({ ms: Date.now() - started }, 'the read model is rebuilt');
    } finally {
      clearInterval(renewing);
    }
  };

  /** One attempt to make the model complete: rebuild it, or wait while another instance does. */
  const settle = async (deadline: number) => {
    for (let delayMs = 20; ; delayMs = Math.min(delayMs * 2, 500)) {
      if ((await redis.command.exists(readyKey)) === 1) return;
      const lease = await tryAcquireLease(redis, 'model:rebuild', { ttlMs: 15_000, minFence: 0 });
      if (lease) {
        try {
          // Another instance may have finished between our check and our lease.
          if ((await redis.command.exists(readyKey)) === 0) await rebuild(lease);
        } finally {
          await lease.release();
        }
        return;
      }
      if (Date.now() > deadline) throw new ModelNotReadyError('the read model is being rebuilt');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  };

  const ensure = async (ensureOptions: { wait?: 'request' | 'start' } = {}): Promise<void> => {
    building ??= settle(Number.POSITIVE_INFINITY).finally(() => {
      building = null;
    });
    if (ensureOptions.wait === 'start') return building;
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        building,
        new Promise<never>((_, reject) => {
          timeout = setTimeout(
            () => reject(new ModelNotReadyError('the read model is being rebuilt')),
            waitMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timeout);
    }
  };

  /** Whether the marker still belongs to this Redis server; drops it when it does not. */
  const check = async () => {
    const [marker, runId] = await Promise.all([
      redis.command.get(readyKey),
      runIdOf(redis.command),
    ]);
    if (marker === null) {
      await ensure();
      return;
    }
    if (marker === runId) return;
    if (options.durable) {
      await redis.command.set(readyKey, runId, 'XX');
      return;
    }
    logger.warn('Redis restarted: its data may predate the latest facts; rebuilding');
    await redis.command.del(readyKey);
    await ensure();
  };

  const tryCheck = () => {
    check().catch((error: unknown) => logger.debug({ err: error }, 'read model check failed'));
  };

  const onReset = (channel: string) => {
    if (channel !== resetChannel) return;
    for (const listener of [...rebuiltListeners]) listener();
  };

  const subscribeReset = () => {
    redis.subscriber.subscribe(resetChannel).catch((error: unknown) => {
      logger.warn({ err: error }, 'read model channel not confirmed');
    });
  };

  return {
    prefix,
    readyKey,

    script(source) {
      const script = createScript(`${readyCheck}\n${source}`);
      return {
        async run(client, keys, args) {
          for (let attempt = 0; ; attempt++) {
            try {
              return await script.run(client, [readyKey, ...keys], args);
            } catch (error) {
              if (!(error instanceof Error) || !error.message.includes(notReady) || attempt > 2) {
                throw error;
              }
              await ensure();
            }
          }
        },
      };
    },

    family(name, rebuildFamily) {
      families.push({ name, rebuild: rebuildFamily });
    },

    ensure,

    async rebuild() {
      await redis.command.del(readyKey);
      await ensure({ wait: 'start' });
    },

    onRebuilt(listener) {
      rebuiltListeners.add(listener);
      return () => rebuiltListeners.delete(listener);
    },

    start() {
      redis.subscriber.on('message', onReset);
      subscribeReset();
      // Subscribed again after every reconnect (ioredis does not, see infra/redis.ts).
      redis.subscriber.on('ready', subscribeReset);
      redis.command.on('ready', tryCheck);
      timer = setInterval(tryCheck, options.checkEveryMs ?? 2_000);
      timer.unref();
    },

    stop() {
      clearInterval(timer);
      redis.command.off('ready', tryCheck);
      redis.subscriber.off('message', onReset);
      redis.subscriber.off('ready', subscribeReset);
    },
  };
}
