import { ServiceUnavailableError } from '../lib/errors.js';
import { tryAcquireLease, type Lease } from './lock.js';
import type { Logger } from './logger.js';
import { nearCacheEntries } from './near-cache.js';
import { deleteKeys, type Redis, type RedisClients } from './redis.js';
import { createScript } from './redis-script.js';
import { commonSlot, slotCount, slotOf, tagOfSlot } from './slots.js';
import { createTickBatches } from './tick-batch.js';

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
   * Copies of its values each near cache of this instance keeps (infra/near-cache.ts): the
   * size every family's cache is given (its hashes' ten times as many fields); 0: none.
   */
  readonly nearCacheEntries: number;
  /**
   * A Lua script over the model. The marker is checked before `source` runs (it is passed as
   * an extra first key and taken off `KEYS`, so `source` sees only its own keys).
   */
  script(source: string, options?: ScriptOptions): ModelScript;
  /**
   * The values of string keys of the model (null where absent), in order: one MGET per slot
   * with that slot's marker among the keys, so that the values are read in the same step as
   * the completeness check, as a script's are, at a plain command's cost (no Lua, which costs
   * Redis more than the reads themselves on a page of records). The reads of one turn of the
   * event loop, by every request in flight, share that MGET (infra/tick-batch.ts).
   */
  values(client: Redis, keys: readonly string[]): Promise<(string | null)[]>;
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

export interface ScriptOptions {
  /**
   * The script only reads, and each item's results depend on that item alone: the
   * `runSpread` calls that everything in flight makes in one turn of the event loop, with the
   * same `perItem` and `shared` args, go out as one call per slot (infra/tick-batch.ts).
   */
  joined?: boolean;
}

export interface ModelScript {
  /** Runs the script over `keys`, which must all be in one hash slot (infra/slots.ts). */
  run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /**
   * Runs the script over many items whose keys may be in different slots: once per slot, in
   * parallel, with each group's keys and args concatenated in item order after `shared` args;
   * the results (`perItem` per item, in item order) are put back in the items' order. On a
   * single Redis every item is in one call, whatever its slot.
   */
  runSpread(
    redis: Redis,
    items: readonly SpreadItem[],
    options?: { perItem?: number; shared?: readonly (string | number)[] },
  ): Promise<unknown[]>;
}

/** One item of `ModelScript.runSpread`: its keys (one slot) and its args. */
export interface SpreadItem {
  readonly keys: readonly string[];
  readonly args?: readonly (string | number)[];
}

/** One caller's part of a joined MGET: the slot's marker and its keys. */
interface ValuesPart {
  ready: string;
  keys: readonly string[];
}
/** One caller's part of a joined script run: its items' keys and args, in one slot. */
interface RunPart {
  ready: string;
  slot: number;
  keys: readonly string[];
  args: readonly (string | number)[];
  shared: readonly (string | number)[];
  perItem: number;
  items: number;
}

/** The most keys (MGET) or items (script) one joined call carries before another is opened. */
const maxBatchWeight = 2_000;

/** One `make(client)` per Redis client, made on first use. */
function perClient<T>(make: (client: Redis) => T): (client: Redis) => T {
  const made = new WeakMap<Redis, T>();
  return (client) => {
    let value = made.get(client);
    if (value === undefined) {
      value = make(client);
      made.set(client, value);
    }
    return value;
  };
}

/** Thrown by model scripts while the model is incomplete. */
export class ModelNotReadyError extends ServiceUnavailableError {
  override name = 'ModelNotReadyError';
}

/** A rebuild found its lease gone (Redis lost it, or another instance took over). */
class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  constructor() {
    super('the read model lease was lost');
  }
}

const notReady = 'NOTREADY';

/** The name of the lease one instance rebuilds the model under (infra/lock.ts). */
export const rebuildLease = 'model:rebuild';

/** The version of the model's key layout (2: every key tagged for Redis Cluster). */
const modelLayout = 2;

/**
 * Runs before every model script: the completeness check (the marker is an extra first key,
 * taken off `KEYS`), and `publish(channel, message)`, which a script uses for every notice it
 * sends: PUBLISH on a single Redis; on a cluster SPUBLISH on its slot's channel, since a script
 * may reach only its own slot (infra/redis.ts, `slotChannel`). The slot channel is an extra
 * first arg ('' on a single Redis), taken off `ARGV`.
 */
const prelude = `
local __ready = table.remove(KEYS, 1)
local __channel = table.remove(ARGV, 1)
if redis.call('EXISTS', __ready) == 0 then
  return redis.error_reply('${notReady} the read model is being rebuilt')
end
local function publish(channel, message)
  if __channel == '' then
    redis.call('PUBLISH', channel, message)
  else
    redis.call('SPUBLISH', __channel, channel .. '\\n' .. message)
  end
end
`;

/** Sets the marker, unless a newer rebuild replaced ours (the lease fence decides). */
const markReadyScript = createScript(`
redis.call('SET', KEYS[1], ARGV[1])
return 1
`);

/**
 * The run id of the Redis server behind `redis` (changes on every restart); on a cluster, those
 * of every master (a failover or a restart changes them).
 */
async function runIdOf(redis: RedisClients): Promise<string> {
  let masters = redis.masters();
  // A cluster client learns its masters in its first moments: wait for them, briefly.
  for (let waited = 0; masters.length === 0 && waited < 5_000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    masters = redis.masters();
  }
  if (masters.length === 0) throw new Error('the Redis Cluster topology is not known yet');
  const ids = await Promise.all(
    masters.map(async (master) => {
      const info = await master.info('server');
      const match = /run_id:(\w+)/.exec(info);
      if (!match) throw new Error('Redis did not report its run_id');
      return match[1]!;
    }),
  );
  return ids.sort().join(',');
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
  /** `ReadModel.nearCacheEntries`: `nearCacheEntries` unless given. */
  nearCacheEntries?: number;
}): ReadModel {
  const { redis, logger } = options;
  const prefix = `${redis.namespace}:m:`;
  // The marker names the layout of the model's keys: a Verity whose layout differs (keys
  // renamed, hash tags added) finds no marker and rebuilds, which also clears the old keys.
  const readyKey = `${prefix}ready@${modelLayout}`;
  /**
   * On a cluster, each slot has its own marker (a script can read only its slot's keys), set
   * before `readyKey` by a rebuild and checked by every script running in that slot.
   */
  const slotReadyKey = (slot: number) =>
    redis.cluster ? `${prefix}ready:{${tagOfSlot(slot)}}` : readyKey;
  /**
   * Whether a script's keys are checked to be in one slot before it runs. Always on a cluster
   * (where Redis would refuse them anyway); on a single Redis with VERITY_STRICT_SLOTS, for
   * tests: `1` checks every script, or a comma-separated list of key families (`rel:,tl:`)
   * only the scripts whose first key is of one of them.
   */
  const strictSetting = process.env['VERITY_STRICT_SLOTS'] ?? '';
  const strictFamilies =
    strictSetting === '' || strictSetting === '1' ? null : strictSetting.split(',');
  const strictSlots = redis.cluster || strictSetting !== '';
  const checked = (keys: readonly string[]) =>
    redis.cluster ||
    strictFamilies === null ||
    (keys.length > 0 && strictFamilies.some((family) => keys[0]!.startsWith(`${prefix}${family}`)));
  const waitMs = options.waitMs ?? 10_000;
  const families: { name: string; rebuild: (redis: Redis) => Promise<void> }[] = [];
  const rebuiltListeners = new Set<() => void>();
  let building: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const resetChannel = `${redis.namespace}:inv:model`;

  const clear = () => deleteKeys(redis, `${prefix}*`);

  /** Runs `each` for every slot's marker, 1,024 at a time (on a cluster only). */
  const everySlot = async (each: (key: string) => Promise<unknown>) => {
    if (!redis.cluster) return;
    for (let slot = 0; slot < slotCount; slot += 1_024) {
      await Promise.all(Array.from({ length: 1_024 }, (_, i) => each(slotReadyKey(slot + i))));
    }
  };

  /** Sets the marker (every slot's first, on a cluster). */
  const markReady = async (runId: string) => {
    await everySlot((key) => redis.command.set(key, runId));
    await markReadyScript.run(redis.command, [readyKey], [runId]);
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
      if (!held || !(await lease.renew())) throw new LeaseLostError();
    };
    try {
      const runId = await runIdOf(redis);
      logger.warn('the read model is incomplete; rebuilding it from MongoDB');
      // Every slot's marker goes before any key does: a clear in key order would leave slots
      // still marked complete after their keys had gone, and a read there would take a key
      // cleared a moment ago for a fact that does not exist.
      await everySlot((key) => redis.command.del(key));
      await clear();
      for (const family of families) {
        await stillHeld();
        const familyStarted = Date.now();
        await family.rebuild(redis.command);
        logger.info({ family: family.name, ms: Date.now() - familyStarted }, 'rebuilt');
      }
      await stillHeld();
      await markReady(runId);
      await redis.publish(resetChannel, 'rebuilt');
      logger.warn({ ms: Date.now() - started }, 'the read model is rebuilt');
    } finally {
      clearInterval(renewing);
    }
  };

  /** One attempt to make the model complete: rebuild it, or wait while another instance does. */
  const settle = async (deadline: number) => {
    for (let delayMs = 20; ; delayMs = Math.min(delayMs * 2, 500)) {
      if ((await redis.command.exists(readyKey)) === 1) return;
      const lease = await tryAcquireLease(redis, rebuildLease, { ttlMs: 15_000, minFence: 0 });
      if (lease) {
        try {
          // Another instance may have finished between our check and our lease.
          if ((await redis.command.exists(readyKey)) === 0) await rebuild(lease);
          return;
        } catch (error) {
          // Redis lost the lease with the rest (a restart mid-rebuild), or this instance
          // stalled and another took over: look again, and rebuild or wait as then fits.
          if (!(error instanceof LeaseLostError)) throw error;
          logger.warn('the read model lease was lost during a rebuild; starting over');
        } finally {
          await lease.release();
        }
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
    const [marker, runId] = await Promise.all([redis.command.get(readyKey), runIdOf(redis)]);
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

  /**
   * Runs `read` (given the marker key of `slot`) until it does not find the model incomplete:
   * a read that finds no marker waits for the rebuild and runs again.
   */
  const whenReady = async <T>(slot: number, read: (ready: string) => Promise<T>): Promise<T> => {
    const ready = slotReadyKey(slot);
    for (let attempt = 0; ; attempt++) {
      try {
        return await read(ready);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.includes(notReady) || attempt > 2) {
          throw error;
        }
        // A slot without its marker while the model says it is complete: that slot's
        // master lost its data (a failover to a replica that had not caught up, a restart).
        if (redis.cluster && ready !== readyKey && (await redis.command.exists(readyKey))) {
          logger.warn({ slot }, 'a slot of the read model is missing; rebuilding');
          await redis.command.del(readyKey);
        }
        await ensure();
      }
    }
  };

  /**
   * Each client's value reads of one turn, joined per slot into one MGET with the slot's marker
   * among its keys (infra/tick-batch.ts), a key read by several parts read once.
   */
  const joinedValues = perClient((client) =>
    createTickBatches<ValuesPart, (string | null)[]>({
      weightOf: (part) => part.keys.length,
      maxWeight: maxBatchWeight,
      run: async (_slot, parts) => {
        const positions = new Map<string, number>();
        for (const part of parts) {
          for (const key of part.keys) if (!positions.has(key)) positions.set(key, positions.size);
        }
        // As Buffers: ioredis turns a large reply into strings at about twice the cost.
        const [marker, ...values] = await client.mgetBuffer(parts[0]!.ready, ...positions.keys());
        if (marker === null) throw new Error(`${notReady} the read model is being rebuilt`);
        return parts.map((part) =>
          part.keys.map((key) => values[positions.get(key)!]?.toString() ?? null),
        );
      },
    }),
  );

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
    nearCacheEntries: options.nearCacheEntries ?? nearCacheEntries,

    script(source, scriptOptions = {}) {
      const script = createScript(`${prelude}\n${source}`);
      const run = (client: Redis, keys: readonly string[], args: readonly (string | number)[]) => {
        const slot = strictSlots && checked(keys) ? commonSlot(keys) : 0;
        const channel = redis.slotChannel(slot) ?? '';
        return whenReady(slot, (ready) => script.run(client, [ready, ...keys], [channel, ...args]));
      };
      /** One slot's items of a spread call: the script run once over them (`indexes` of `items`). */
      const runGroup = async (
        client: Redis,
        slot: number,
        items: readonly SpreadItem[],
        indexes: readonly number[],
        perItem: number,
        shared: readonly (string | number)[],
      ): Promise<unknown[]> => {
        const keys: string[] = [];
        const args: (string | number)[] = [];
        for (const index of indexes) {
          keys.push(...items[index]!.keys);
          if (items[index]!.args) args.push(...items[index]!.args);
        }
        if (!scriptOptions.joined) {
          return (await run(client, keys, [...shared, ...args])) as unknown[];
        }
        const join = joinedRuns(client);
        const group = JSON.stringify([slot, perItem, shared]);
        return whenReady(slot, (ready) =>
          join(group, { ready, slot, keys, args, shared, perItem, items: indexes.length }),
        );
      };
      /** Each client's spread calls of one turn, joined per slot and shared args. */
      const joinedRuns = perClient((client) =>
        createTickBatches<RunPart, unknown[]>({
          weightOf: (part) => part.items,
          maxWeight: maxBatchWeight,
          run: async (_group, parts) => {
            const { ready, slot, shared, perItem } = parts[0]!;
            const keys = parts.flatMap((part) => part.keys);
            const args = parts.flatMap((part) => part.args);
            const channel = redis.slotChannel(slot) ?? '';
            const results = (await script.run(
              client,
              [ready, ...keys],
              [channel, ...shared, ...args],
            )) as unknown[];
            let offset = 0;
            return parts.map((part) => {
              const mine = results.slice(offset, offset + part.items * perItem);
              offset += part.items * perItem;
              return mine;
            });
          },
        }),
      );
      return {
        run,
        async runSpread(client, items, spreadOptions = {}) {
          const perItem = spreadOptions.perItem ?? 1;
          const shared = spreadOptions.shared ?? [];
          if (items.length === 0) return [];
          const groups = new Map<number, number[]>();
          items.forEach((item, index) => {
            const slot = strictSlots ? commonSlot(item.keys) : 0;
            const group = groups.get(slot);
            if (group) group.push(index);
            else groups.set(slot, [index]);
          });
          const out: unknown[] = new Array<unknown>(items.length * perItem);
          await Promise.all(
            [...groups].map(async ([slot, indexes]) => {
              const results = await runGroup(client, slot, items, indexes, perItem, shared);
              indexes.forEach((index, k) => {
                for (let j = 0; j < perItem; j++) {
                  out[index * perItem + j] = results[k * perItem + j];
                }
              });
            }),
          );
          return out;
        },
      };
    },

    async values(client, keys) {
      if (keys.length === 0) return [];
      const groups = new Map<number, number[]>();
      keys.forEach((key, index) => {
        const slot = strictSlots ? slotOf(key) : 0;
        const group = groups.get(slot);
        if (group) group.push(index);
        else groups.set(slot, [index]);
      });
      const out = new Array<string | null>(keys.length);
      const join = joinedValues(client);
      await Promise.all(
        [...groups].map(([slot, indexes]) =>
          whenReady(slot, async (ready) => {
            const texts = await join(String(slot), {
              ready,
              keys: indexes.map((index) => keys[index]!),
            });
            indexes.forEach((index, k) => {
              out[index] = texts[k]!;
            });
          }),
        ),
      );
      return out;
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
