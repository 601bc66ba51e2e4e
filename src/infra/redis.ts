import { EventEmitter } from 'node:events';
import { Cluster, Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';
import { groupBySlot, slotCount, tagOfSlot } from './slots.js';

export type { Redis };

/**
 * The subscriber side of pub/sub, as the event bus, the near caches and the read model use it:
 * a single Redis connection, or (on a cluster) one connection per master speaking sharded
 * pub/sub. 'message' gives (channel, message); 'close' says messages may have been lost;
 * 'ready' says the owners must subscribe their channels again.
 */
export interface Subscriber {
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  ping(): Promise<unknown>;
  readonly status: string;
  on(event: 'message', listener: (channel: string, message: string) => void): this;
  on(event: 'ready' | 'close', listener: () => void): this;
  once(event: 'ready' | 'close', listener: (...args: unknown[]) => void): this;
  off(event: 'message', listener: (channel: string, message: string) => void): this;
  off(event: 'ready' | 'close', listener: () => void): this;
  setMaxListeners(count: number): this;
  disconnect(reconnect?: boolean): void;
}

/**
 * Verity's three Redis connections. Pub/sub needs its own subscriber connection, and publishing
 * on a separate one keeps a burst of events from queueing behind timeline writes.
 */
export interface RedisClients {
  /** Timelines, counters, sequences, locks, rate limits. */
  readonly command: Redis;
  readonly publisher: Redis;
  /** Only (UN)SUBSCRIBE: the event bus's, the near caches', the read model's channels. */
  readonly subscriber: Subscriber;
  /** Prefix of every key and channel, so several deployments (or test files) share a server. */
  readonly namespace: string;
  /** Whether this is a Redis Cluster (`command` and `publisher` are then cluster clients). */
  readonly cluster: boolean;
  /**
   * The channel a Lua script running in `slot` publishes on (`publish` in model scripts): on a
   * cluster, a script may only reach its own slot, so it publishes there with SPUBLISH, the
   * logical channel as the message's first line, and every instance's subscriber hands the
   * message on as if it came on the logical channel. Null on a single Redis (plain PUBLISH).
   */
  slotChannel(slot: number): string | null;
  /**
   * Publishes from code (scripts publish with their `publish`): PUBLISH on a single Redis,
   * SPUBLISH on a cluster, so a message goes only to its channel's node.
   */
  publish(channel: string, message: string): Promise<unknown>;
  /** The masters: one client per server holding data (the single server on a single Redis). */
  masters(): Redis[];
  /**
   * A batch of commands sent together, answered like a pipeline's `exec`. On a single Redis it
   * is a pipeline; on a cluster each command goes to its own slot's master (auto-pipelined
   * there), since a cluster pipeline must stay on one node.
   */
  batch(): ChainableCommander;
  /**
   * A connection of its own (a cluster client on a cluster) with `extra` settings, not opened
   * until `connect()` is called; the caller owns it.
   */
  connection(role: string, extra: RedisOptions): Redis;
  quit(): Promise<void>;
}

/** `redis-cluster://host:port,host:port` (REDIS_CLUSTER_NODES in this form): the seed nodes. */
export const clusterUrlScheme = 'redis-cluster:';

export function clusterUrl(nodes: readonly string[]): string {
  return `redis-cluster://${nodes.join(',')}`;
}

function clusterNodesOf(url: string): { host: string; port: number }[] | null {
  if (!url.startsWith(`${clusterUrlScheme}//`)) return null;
  return url
    .slice(clusterUrlScheme.length + 2)
    .replace(/\/.*$/, '')
    .split(',')
    .filter(Boolean)
    .map((node) => {
      const colon = node.lastIndexOf(':');
      return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) };
    });
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

export interface RedisClientsOptions {
  /** `redis://…`, `rediss://…`, or `redis-cluster://host:port,…` for a Redis Cluster. */
  url: string;
  namespace: string;
  logger: Logger;
  /** How often the subscriber connections are checked (see below); 2 s unless given. */
  subscriberHeartbeatMs?: number;
}

export function createRedisClients(options: RedisClientsOptions): RedisClients {
  const nodes = clusterNodesOf(options.url);
  return nodes ? createClusterClients(options, nodes) : createSingleClients(options);
}

/** Logs the first error of an outage and the recovery, once each. */
function watchHealth(client: EventEmitter, role: string, logger: Logger): void {
  let down = false;
  client.on('error', (error: Error) => {
    if (!down) logger.warn({ role, err: error.message }, 'Redis connection error');
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.info({ role }, 'Redis connection restored');
    down = false;
  });
}

/**
 * A subscriber connection can die without closing (a network cut, a frozen server): its
 * channels would stay subscribed in ioredis's eyes while no message arrives, so live feeds
 * would go quiet and in-process copies (near-cache.ts) would miss their invalidations. Each is
 * PINGed every heartbeat; one still unanswered at the next is dropped, which tells everyone
 * listening for 'close'; it reconnects, and the channels' owners subscribe again.
 */
function heartbeat(
  connections: () => Iterable<Redis>,
  everyMs: number,
  logger: Logger,
): NodeJS.Timeout {
  const awaiting = new Set<Redis>();
  const timer = setInterval(() => {
    for (const connection of connections()) {
      if (connection.status !== 'ready') {
        awaiting.delete(connection);
        continue;
      }
      if (awaiting.has(connection)) {
        // After a stall of this process (a long collection, a busy loop) the answer may be
        // waiting unread in the socket while this timer runs first: judge after one turn of
        // reading, which comes before `setImmediate`.
        setImmediate(() => {
          if (!awaiting.delete(connection) || connection.status !== 'ready') return;
          logger.warn(
            { role: 'subscriber' },
            'Redis subscriber connection stopped answering; reconnecting',
          );
          connection.disconnect(true);
        });
        continue;
      }
      awaiting.add(connection);
      connection.ping().then(
        () => awaiting.delete(connection),
        () => undefined,
      );
    }
  }, everyMs);
  timer.unref();
  return timer;
}

/** QUIT lets pending replies arrive; with Redis gone it would never answer: a second at most. */
async function quitAll(clients: readonly (Redis | Cluster)[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(clients.map((client) => client.quit())),
    new Promise((resolve) => {
      timer = setTimeout(resolve, 1_000);
    }),
  ]);
  clearTimeout(timer);
  for (const client of clients) client.disconnect();
}

function createSingleClients(options: RedisClientsOptions): RedisClients {
  const make = (role: string, extra: RedisOptions = {}) => {
    const client = new Redis(options.url, {
      ...baseOptions,
      ...extra,
      connectionName: `verity:${role}`,
    });
    watchHealth(client, role, options.logger);
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
  const beat = heartbeat(
    () => [subscriber],
    options.subscriberHeartbeatMs ?? 2_000,
    options.logger,
  );
  return {
    command,
    publisher,
    subscriber,
    namespace: options.namespace,
    cluster: false,
    slotChannel: () => null,
    publish: (channel, message) => publisher.publish(channel, message),
    masters: () => [command],
    batch: () => command.pipeline(),
    connection: (role, extra) =>
      command.duplicate({ ...extra, connectionName: `verity:${role}`, lazyConnect: true }),
    async quit() {
      clearInterval(beat);
      await quitAll([command, publisher, subscriber]);
    },
  };
}

/**
 * A batch for a cluster: records commands like a pipeline and, at `exec`, sends each on its
 * own (the cluster client auto-pipelines those of one node into one write), answering
 * `[error, result]` per command as a pipeline does.
 */
function clusterBatch(client: Cluster): ChainableCommander {
  const calls: [string, unknown[]][] = [];
  const batch: ChainableCommander = new Proxy({} as ChainableCommander, {
    get(_target, name) {
      if (name === 'exec') {
        return async () =>
          Promise.all(
            calls.map(([command, args]) =>
              (client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
                command
              ]!(...args).then(
                (result): [Error | null, unknown] => [null, result],
                (error: Error): [Error | null, unknown] => [error, null],
              ),
            ),
          );
      }
      if (name === 'length') return calls.length;
      if (typeof name !== 'string' || name === 'then') return undefined;
      return (...args: unknown[]) => {
        calls.push([name, args]);
        return batch;
      };
    },
  });
  return batch;
}

/**
 * Sharded pub/sub on a cluster: one connection per master, each channel (SSUBSCRIBE) on the
 * master of its slot. Messages of the slot channels (`slotChannel`) carry their logical
 * channel on their first line and are handed on as messages of it. When the cluster's
 * topology changes (a failover) or a connection drops, every connection is replaced by ones to
 * the current masters, 'close' is emitted at once and 'ready' once they are all connected: the
 * owners then subscribe their channels again, each on its slot's new master.
 */
class ShardedSubscriber extends EventEmitter implements Subscriber {
  #connections = new Map<string, Redis>();
  #slots: string[] = [];
  #closed = false;
  #rebuilding: Promise<void> | null = null;
  #again = false;
  #ready = false;
  #connecting = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly redisOptions: RedisOptions,
    private readonly slotChannelPrefix: string,
    private readonly logger: Logger,
  ) {
    super();
    cluster.on('ready', () => this.#rebuild());
    cluster.on('+node', () => this.#rebuild());
    cluster.on('-node', () => this.#rebuild());
    if (cluster.status === 'ready') this.#rebuild();
  }

  get status(): string {
    return this.#ready ? 'ready' : 'connecting';
  }

  connections(): Iterable<Redis> {
    return this.#connections.values();
  }

  /**
   * Connects to the current masters, again and again until it succeeds; a request made while
   * one runs is remembered and run after it (the topology may have moved meanwhile).
   */
  #rebuild(): void {
    if (this.#closed) return;
    if (this.#rebuilding) {
      this.#again = true;
      return;
    }
    this.#rebuilding = (async () => {
      for (let attempt = 0; !this.#closed; attempt++) {
        try {
          await this.#connect();
          return;
        } catch (error) {
          // The first attempts often come before the client knows the slots table.
          if (attempt === 3) {
            this.logger.warn({ err: error }, 'sharded subscribers not connected; retrying');
          }
          this.#slots = [];
          await new Promise<void>((resolve) => {
            this.cluster.refreshSlotsCache(() => resolve());
          });
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    })().finally(() => {
      this.#rebuilding = null;
      if (this.#again) {
        this.#again = false;
        this.#rebuild();
      }
    });
  }

  async #connect(): Promise<void> {
    const slots = this.cluster.slots.map((nodeKeys) => nodeKeys[0] ?? '');
    const masters = new Set(slots);
    const same =
      this.#ready &&
      slots.length === this.#slots.length &&
      slots.every((node, slot) => node === this.#slots[slot]);
    if (same) return;
    const wasReady = this.#ready;
    this.#ready = false;
    this.#dropConnections();
    if (wasReady) this.emit('close');
    this.#slots = slots;
    for (const node of masters) {
      if (!node) continue;
      const colon = node.lastIndexOf(':');
      const connection = new Redis({
        ...this.redisOptions,
        host: node.slice(0, colon),
        port: Number(node.slice(colon + 1)),
        connectionName: 'verity:ssubscriber',
        lazyConnect: true,
        retryStrategy: () => null,
      });
      connection.on('error', () => undefined);
      connection.on('smessage', (channel: string, message: string) =>
        this.#message(channel, message),
      );
      connection.on('close', () => {
        if (this.#connections.get(node) !== connection || this.#closed) return;
        this.#ready = false;
        this.#slots = [];
        this.emit('close');
        // Its master may be gone: ask the cluster where the slots are now, then reconnect.
        this.cluster.refreshSlotsCache(() => this.#rebuild());
      });
      this.#connections.set(node, connection);
    }
    await Promise.all([...this.#connections.values()].map((connection) => connection.connect()));
    // Every slot's channel: the scripts' publications (see `slotChannel`).
    this.#connecting = true;
    try {
      await this.subscribe(
        ...Array.from({ length: slotCount }, (_, slot) => this.slotChannel(slot)),
      );
    } finally {
      this.#connecting = false;
    }
    this.#ready = true;
    this.emit('ready');
  }

  slotChannel(slot: number): string {
    return `${this.slotChannelPrefix}{${tagOfSlot(slot)}}`;
  }

  #message(channel: string, message: string): void {
    if (channel.startsWith(this.slotChannelPrefix)) {
      const newline = message.indexOf('\n');
      if (newline < 0) return;
      this.emit('message', message.slice(0, newline), message.slice(newline + 1));
      return;
    }
    this.emit('message', channel, message);
  }

  #connectionOf(slot: number): Redis {
    const connection = this.#connections.get(this.#slots[slot] ?? '');
    if (!connection) throw new Error('no Redis Cluster master for a channel yet');
    return connection;
  }

  /** Resolves once the connections to the current masters are up (at once if they are). */
  #whenReady(): Promise<void> {
    if (this.#ready) return Promise.resolve();
    return new Promise((resolve) => this.once('ready', () => resolve()));
  }

  async subscribe(...channels: string[]): Promise<unknown> {
    if (!this.#ready && !this.#connecting) await this.#whenReady();
    const groups = groupBySlot(channels, (channel) => channel);
    return Promise.all(
      [...groups].map(([slot, group]) => this.#connectionOf(slot).ssubscribe(...group)),
    );
  }

  async unsubscribe(...channels: string[]): Promise<unknown> {
    const groups = groupBySlot(channels, (channel) => channel);
    return Promise.all(
      [...groups].map(
        ([slot, group]) =>
          this.#connections.get(this.#slots[slot] ?? '')?.sunsubscribe(...group) ??
          Promise.resolve(),
      ),
    );
  }

  async ping(): Promise<unknown> {
    return Promise.all([...this.#connections.values()].map((connection) => connection.ping()));
  }

  /** Drops every connection; with `reconnect`, new ones are made as after a failure. */
  disconnect(reconnect = false): void {
    if (reconnect) {
      for (const connection of this.#connections.values()) connection.disconnect();
      return;
    }
    this.#closed = true;
    this.#dropConnections();
  }

  /** Closes every connection without telling anyone (its 'close' starts no reconnection). */
  #dropConnections(): void {
    for (const connection of this.#connections.values()) {
      connection.removeAllListeners();
      connection.on('error', () => undefined);
      connection.disconnect();
    }
    this.#connections.clear();
  }
}

function createClusterClients(
  options: RedisClientsOptions,
  seeds: { host: string; port: number }[],
): RedisClients {
  const make = (role: string, extra: RedisOptions = {}) => {
    const client = new Cluster(seeds, {
      redisOptions: { ...baseOptions, ...extra, connectionName: `verity:${role}` },
      // Commands issued in the same tick share one write per node.
      enableAutoPipelining: role === 'command',
      // A failover moves slots: follow MOVED/ASK and wait for the election instead of failing
      // at once; a command still fails within a few seconds (commandTimeout above).
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      retryDelayOnTryAgain: 100,
      maxRedirections: 16,
      slotsRefreshTimeout: 2_000,
      slotsRefreshInterval: 2_000,
      clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
    });
    watchHealth(client, role, options.logger);
    return client;
  };
  const command = make('command');
  const publisher = make('publisher');
  const subscriber = new ShardedSubscriber(
    command,
    { ...baseOptions, commandTimeout: undefined, maxRetriesPerRequest: null },
    `${options.namespace}:s:`,
    options.logger,
  );
  subscriber.setMaxListeners(64);
  const beat = heartbeat(
    () => subscriber.connections(),
    options.subscriberHeartbeatMs ?? 2_000,
    options.logger,
  );
  return {
    // The cluster client speaks the same commands; Verity's code types both as one.
    command: command as unknown as Redis,
    publisher: publisher as unknown as Redis,
    subscriber,
    namespace: options.namespace,
    cluster: true,
    slotChannel: (slot) => subscriber.slotChannel(slot),
    publish: (channel, message) => publisher.spublish(channel, message),
    // Until the slots table is known (the first moments of a connection), no master is: a
    // caller must not take a partial list for the cluster (read-model.ts compares run ids).
    masters: () =>
      command.slots.length === slotCount && command.slots.every((nodes) => nodes?.[0])
        ? command.nodes('master')
        : [],
    batch: () => clusterBatch(command),
    connection(role, extra) {
      const { enableOfflineQueue, enableAutoPipelining, ...redisOptions } = extra;
      return new Cluster(seeds, {
        redisOptions: { ...baseOptions, ...redisOptions, connectionName: `verity:${role}` },
        lazyConnect: true,
        ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
        ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
      }) as unknown as Redis;
    },
    async quit() {
      clearInterval(beat);
      subscriber.disconnect();
      await quitAll([command, publisher]);
    },
  };
}

/**
 * Every key matching `pattern`, on every master (a scan of each: for rebuilds and tests, never a
 * request), one SCAN reply at a time, with the master that holds them.
 */
export async function* scanKeys(
  redis: RedisClients,
  pattern: string,
): AsyncGenerator<{ master: Redis; keys: string[] }> {
  for (const master of redis.masters()) {
    let cursor = '0';
    do {
      const [next, keys] = await master.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      if (keys.length > 0) yield { master, keys };
    } while (cursor !== '0');
  }
}

/**
 * Removes every key matching `pattern` from every master (see `scanKeys`), but those `keep`
 * says to keep. Keys go one slot per UNLINK on a cluster. Returns how many.
 */
export async function deleteKeys(
  redis: RedisClients,
  pattern: string,
  options: { keep?: (key: string) => boolean } = {},
): Promise<number> {
  const { keep } = options;
  let removed = 0;
  for await (const { master, keys: found } of scanKeys(redis, pattern)) {
    const keys = keep ? found.filter((key) => !keep(key)) : found;
    if (keys.length === 0) continue;
    removed += keys.length;
    if (!redis.cluster) {
      await master.unlink(...keys);
      continue;
    }
    const pipeline = master.pipeline();
    for (const key of keys) pipeline.unlink(key);
    await pipeline.exec();
  }
  return removed;
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
