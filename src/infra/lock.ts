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
