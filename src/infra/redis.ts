import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

export type { Redis };

/**
 * Verity's three Redis connections. Pub/sub needs its own subscriber connection, and publishing
 * on a separate one keeps a burst of events from queueing behind timeline writes.
 */
export interface RedisClients {
  /** Timelines, counters, sequences, locks, rate limits. */
  readonly command: Redis;
  readonly publisher: Redis;
  /** Only SUBSCRIBE/UNSUBSCRIBE; owned by the event bus. */
  readonly subscriber: Redis;
  /** Prefix of every key and channel, so several deployments (or test files) share a server. */
  readonly namespace: string;
  quit(): Promise<void>;
}

/**
 * Bounded failure: ioredis 6 would otherwise let a command wait about 73 s for a dead server.
 * With these settings a command fails within about two seconds while ioredis keeps reconnecting
 * in the background, and the service recovers on its own when Redis is back.
 */
const baseOptions: RedisOptions = {
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  maxRetriesPerRequest: 1,
  retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1_000),
  // Reconnect only when a failover left us on a replica. Reconnecting on every error reply
  // would drop the connection for an ordinary NOSCRIPT (the first EVALSHA of a script after a
  // Redis restart, which redis-script.ts answers with EVAL).
  reconnectOnError: (error) => error.message.startsWith('READONLY'),
};

export function createRedisClients(options: {
  url: string;
  namespace: string;
  logger: Logger;
  /** How often the subscriber connection is checked (see below); 2 s unless given. */
  subscriberHeartbeatMs?: number;
}): RedisClients {
  const make = (role: string, extra: RedisOptions = {}) => {
    const client = new Redis(options.url, {
      ...baseOptions,
      ...extra,
      connectionName: `verity:${role}`,
    });
    let down = false;
    client.on('error', (error: Error) => {
      if (!down) options.logger.warn({ role, err: error.message }, 'Redis connection error');
      down = true;
    });
    client.on('ready', () => {
      if (down) options.logger.info({ role }, 'Redis connection restored');
      down = false;
    });
    return client;
  };
  // Commands issued in the same tick (a page's loaders) share one write and one round trip.
  const command = make('command', { enableAutoPipelining: true });
  const publisher = make('publisher');
  // A subscriber's commands are only (UN)SUBSCRIBE; it must wait for Redis instead of failing.
  // After a reconnect each owner of channels subscribes them again on 'ready' (the event bus,
  // the near caches, the read model), with its own error handling: ioredis's own re-subscribing
  // leaves its command's promise unhandled, so a connection that closes while it runs (an
  // instance stopping just after a reconnect) would raise an unhandled rejection.
  const subscriber = make('subscriber', {
    commandTimeout: undefined,
    maxRetriesPerRequest: null,
    autoResubscribe: false,
  });
  // Every near cache, the event bus and the read model listen to this one connection's
  // 'message' and 'ready' events: a fixed number per process, not a leak.
  subscriber.setMaxListeners(64);
  // A subscriber connection can die without closing (a network cut, a frozen server): its
  // channels would stay subscribed in ioredis's eyes while no message arrives, so live feeds
  // would go quiet and in-process copies (near-cache.ts) would miss their invalidations. It is
  // PINGed every heartbeat; one still unanswered at the next is dropped, which tells everyone
  // listening for 'close'; ioredis reconnects, and the channels' owners subscribe again.
  let awaitingPong = false;
  const heartbeat = setInterval(() => {
    if (subscriber.status !== 'ready') {
      awaitingPong = false;
      return;
    }
    if (awaitingPong) {
      awaitingPong = false;
      options.logger.warn(
        { role: 'subscriber' },
        'Redis subscriber connection stopped answering; reconnecting',
      );
      subscriber.disconnect(true);
      return;
    }
    awaitingPong = true;
    subscriber.ping().then(
      () => {
        awaitingPong = false;
      },
      () => undefined,
    );
  }, options.subscriberHeartbeatMs ?? 2_000);
  heartbeat.unref();
  return {
    command,
    publisher,
    subscriber,
    namespace: options.namespace,
    async quit() {
      clearInterval(heartbeat);
      const clients = [command, publisher, subscriber];
      // QUIT lets pending replies arrive; with Redis gone it would never answer, so give up
      // after a second and drop the sockets.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(clients.map((client) => client.quit())),
        new Promise((resolve) => {
          timer = setTimeout(resolve, 1_000);
        }),
      ]);
      clearTimeout(timer);
      for (const client of clients) client.disconnect();
    },
  };
}

/** True when Redis answers PING within `timeoutMs`. */
export async function pingRedis(client: Redis, timeoutMs = 1_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      client.ping().then((reply) => reply === 'PONG'),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** True when a Redis server answers at `url` within `timeoutMs` (used to find a local one). */
export async function isRedisReachable(url: string, timeoutMs = 500): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return await pingRedis(probe, timeoutMs);
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
