import { randomUUID } from 'node:crypto';
import { ServiceUnavailableError } from '../lib/errors.js';
import type { RedisClients } from './redis.js';
import { createScript } from './redis-script.js';

const releaseScript = createScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

/**
 * Runs `task` while holding a short Redis lock named `name` (across every instance), waiting up
 * to `waitMs` for it. Used where FerretDB cannot serialise concurrent updates of one document.
 * The lock expires after `ttlMs` even if this process dies; release only deletes our own lock.
 */
export async function withLock<T>(
  redis: RedisClients,
  name: string,
  task: () => Promise<T>,
  options: { ttlMs?: number; waitMs?: number } = {},
): Promise<T> {
  const key = `${redis.namespace}:lock:${name}`;
  const token = randomUUID();
  const ttlMs = options.ttlMs ?? 5_000;
  const deadline = Date.now() + (options.waitMs ?? 3_000);
  let delayMs = 5;
  while ((await redis.command.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') {
    if (Date.now() > deadline) throw new ServiceUnavailableError(`lock ${name} is busy`);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 100);
  }
  try {
    return await task();
  } finally {
    await releaseScript.run(redis.command, [key], [token]).catch(() => undefined);
  }
}

const acquireLeaseScript = createScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return false end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < tonumber(ARGV[3]) then redis.call('SET', KEYS[2], ARGV[3]) end
return redis.call('INCR', KEYS[2])
`);

/** A held lease: its fencing token, and how to give it back early. */
export interface Lease {
  /**
   * Strictly greater than the token of every earlier lease of the same name, even across a
   * Redis restart (the caller passes the highest token it has stored durably as `minFence`).
   */
  readonly fence: number;
  /** Extends the lease by its TTL; false when it is no longer ours (it expired, or was lost). */
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

const renewScript = createScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`);

/**
 * The keys of the lease `name`: who holds it, and its fence counter. Tagged by the lease's
 * name: both in one Redis Cluster slot, for the one script.
 */
export const leaseKeys = (redis: RedisClients, name: string) => ({
  key: `${redis.namespace}:lock:{lease:${name}}`,
  fenceKey: `${redis.namespace}:fence:{lease:${name}}`,
});

/**
 * Tries once to take the lease `name` for `ttlMs`; null when another instance holds it.
 *
 * A lease can outlive its usefulness: a holder that stalls past `ttlMs` (a GC pause, a slow
 * database) may still act after another instance took over. So every durable write done under
 * a lease must be conditional on its `fence` being newer than the one stored with the data;
 * the stale holder's write then matches nothing. The fence counter lives in Redis; after a
 * Redis loss it restarts from `minFence`, the highest fence the caller has stored durably.
 */
export async function tryAcquireLease(
  redis: RedisClients,
  name: string,
  options: { ttlMs: number; minFence: number },
): Promise<Lease | null> {
  const { key, fenceKey } = leaseKeys(redis, name);
  const token = randomUUID();
  const fence = await acquireLeaseScript.run(
    redis.command,
    [key, fenceKey],
    [token, options.ttlMs, options.minFence],
  );
  if (typeof fence !== 'number') return null;
  return {
    fence,
    renew: async () => (await renewScript.run(redis.command, [key], [token, options.ttlMs])) === 1,
    release: async () => {
      await releaseScript.run(redis.command, [key], [token]).catch(() => undefined);
    },
  };
}
