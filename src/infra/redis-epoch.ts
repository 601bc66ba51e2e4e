import { randomUUID } from 'node:crypto';
import type { Logger } from './logger.js';
import type { RedisClients } from './redis.js';

/**
 * Which Redis dataset this process is talking to: a random value in `<ns>:epoch`, created by
 * the first process to find it missing. A Redis that restarted empty (or was flushed) has a new
 * epoch, so a change prepared before the loss can tell that it belongs to data that is gone,
 * and that whatever was rebuilt from MongoDB since already holds it. Read at start, after
 * every reconnection and every few seconds; `current` is the last value seen (null before the
 * first), whatever Redis is doing now.
 */
export interface RedisEpoch {
  readonly key: string;
  readonly current: string | null;
  close(): void;
}

export function createRedisEpoch(options: {
  redis: RedisClients;
  logger: Logger;
  refreshMs?: number;
}): RedisEpoch {
  const { redis, logger } = options;
  const key = `${redis.namespace}:epoch`;
  let current: string | null = null;

  const refresh = async () => {
    const candidate = randomUUID();
    await redis.command.set(key, candidate, 'NX');
    const value = await redis.command.get(key);
    if (value !== null && value !== current) {
      if (current !== null) logger.warn('Redis lost its data (new epoch); rebuilding from MongoDB');
      current = value;
    }
  };
  const tryRefresh = () => {
    refresh().catch((error: unknown) => logger.debug({ err: error }, 'epoch not read'));
  };
  tryRefresh();
  redis.command.on('ready', tryRefresh);
  const timer = setInterval(tryRefresh, options.refreshMs ?? 5_000);
  timer.unref();

  return {
    key,
    get current() {
      return current;
    },
    close() {
      clearInterval(timer);
      redis.command.off('ready', tryRefresh);
    },
  };
}
