import { createHash } from 'node:crypto';
import type { Redis } from './redis.js';

/**
 * A Lua script run with EVALSHA, falling back to EVAL once when Redis does not know it yet
 * (first use, or after a Redis restart flushed the script cache). One round trip normally.
 */
export function createScript(source: string) {
  const sha = createHash('sha1').update(source).digest('hex');
  return {
    async run(
      client: Redis,
      keys: readonly string[],
      args: readonly (string | number)[],
    ): Promise<unknown> {
      try {
        return await client.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return client.eval(source, keys.length, ...keys, ...args);
      }
    },
  };
}
