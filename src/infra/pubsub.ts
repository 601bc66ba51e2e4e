import type { Logger } from './logger.js';
import type { RedisClients } from './redis.js';

/** Topic name → payload type. Payloads must survive JSON (no Date, no ObjectId). */
export type TopicMap = object;

export type Listener<T> = (payload: T) => void;

/**
 * Verity's event bus: publish on one instance, deliver on every instance.
 *
 * Each (topic, key) pair is one Redis channel, subscribed once per process however many local
 * listeners it has, and unsubscribed when the last one leaves. A message is parsed once and
 * the same object is handed to every listener, so listeners must treat payloads as read-only.
 *
 * Redis pub/sub is at-most-once: a message published while this process is reconnecting is
 * lost. Consumers that must not miss anything (feeds) catch up from their Redis lists when
 * `watchConnection` tells them the connection is back.
 *
 * Addressed topics (a home feed: one key per user) do not use a channel per key: one event for
 * many keys is one message on the topic's route channel, `<keys joined by ','>\n<JSON>`, which
 * every process subscribed to the topic receives, parses once and hands to the listeners of
 * each listed key it has. A post to 10,000 followers is then 20 messages, not 10,000, and
 * each instance parses its JSON 20 times, not once per local follower. The price: every
 * instance with any listener of the topic reads every key list (about 25 bytes per key).
 */
export interface EventBus<M extends TopicMap> {
  /**
   * Sends an event to every instance. Never rejects: an event that Redis cannot take is logged
   * and dropped (pub/sub is at-most-once anyway), so a write that already reached MongoDB is
   * never reported to its client as failed.
   */
  publish<T extends keyof M & string>(topic: T, key: string, payload: M[T]): Promise<void>;
  /** Sends the same event to many keys of one topic: serialised once, one pipelined batch. */
  publishMany<T extends keyof M & string>(
    topic: T,
    keys: readonly string[],
    payload: M[T],
  ): Promise<void>;
  /**
   * Adds a listener; returns a function that removes it (idempotent). `ready` resolves once
   * Redis has confirmed the channel, so a publish after it is guaranteed to be seen.
   */
  subscribe<T extends keyof M & string>(
    topic: T,
    key: string,
    listener: Listener<M[T]>,
  ): BusSubscription;
  /** The Redis channel of (`topic`, `key`): for Lua scripts that publish as part of a change. */
  channel<T extends keyof M & string>(topic: T, key: string): string;
  /**
   * The route channel of an addressed topic: for Lua scripts, which publish
   * `<keys joined by ','>\n<JSON>` on it.
   */
  routeChannel<T extends keyof M & string>(topic: T): string;
  /** Whether this process has a listener for (`topic`, `key`) (for tests). */
  hasListener<T extends keyof M & string>(topic: T, key: string): boolean;
  /**
   * Tells `listener` when the subscriber connection drops (whatever is published from then on
   * may be lost) and when it is back with its channels confirmed again: consumers that must not
   * miss anything hold their events at the drop and catch up at the return. Returns a function
   * that removes the listener.
   */
  watchConnection(listener: ConnectionListener): () => void;
  /** Number of channels this process is subscribed to (for tests and metrics). */
  readonly channelCount: number;
  close(): void;
}

/** What `EventBus.watchConnection` calls. */
export interface ConnectionListener {
  dropped(): void;
  resubscribed(): void;
}

/** One listener on one channel. Cheap: a server holds one per live feed. */
export interface BusSubscription {
  /** Resolves once Redis has confirmed the channel (shared by all its listeners). */
  readonly ready: Promise<void>;
  /** Removes the listener; the channel is unsubscribed with its last listener. Idempotent. */
  unsubscribe(): void;
}

class ChannelSubscription implements BusSubscription {
  #active = true;

  constructor(
    private readonly channel: string,
    private readonly listener: Listener<unknown>,
    readonly ready: Promise<void>,
    private readonly remove: (channel: string, listener: Listener<unknown>) => void,
  ) {}

  unsubscribe(): void {
    if (!this.#active) return;
    this.#active = false;
    this.remove(this.channel, this.listener);
  }
}

/** How long route messages of equal text count as one publication (see `lastRouted`). */
const sameEventMs = 1_000;

export function createEventBus<M extends TopicMap>(options: {
  redis: RedisClients;
  logger: Logger;
  /** Topics delivered through one route channel each (see above). */
  addressed?: readonly (keyof M & string)[];
}): EventBus<M> {
  const { redis, logger } = options;
  const prefix = `${redis.namespace}:ev:`;
  const listeners = new Map<string, Set<Listener<unknown>>>();
  const confirmed = new Map<string, Promise<void>>();

  const channelOf = (topic: string, key: string) => `${prefix}${topic}:${key}`;
  const routeOf = (topic: string) => `${prefix}${topic}:@route`;
  /** Per addressed topic: its route channel, and how many of its keys have listeners here. */
  const routes = new Map<string, { channel: string; keys: number }>();
  const routedTopics = new Map<string, string>();
  for (const topic of options.addressed ?? []) {
    routes.set(topic, { channel: routeOf(topic), keys: 0 });
    routedTopics.set(routeOf(topic), topic);
  }

  const parse = (channel: string, message: string): { payload: unknown } | null => {
    try {
      return { payload: JSON.parse(message) };
    } catch (error) {
      logger.error({ channel, err: error }, 'dropping an event that is not JSON');
      return null;
    }
  };

  const dispatch = (channel: string, set: Set<Listener<unknown>>, payload: unknown) => {
    for (const listener of set.size === 1 ? set : [...set]) {
      try {
        listener(payload);
      } catch (error) {
        logger.error({ channel, err: error }, 'an event listener threw');
      }
    }
  };

  /**
   * Per route channel, the last event parsed from it. One publication reaches its recipients in
   * several route messages (a few hundred keys each, see feeds' lists) that carry the same
   * text: they share one parsed event, so that the live hub executes it once however many
   * messages it came in. Only within `sameEventMs`: two publications of equal text far apart
   * are two events.
   */
  const lastRouted = new Map<string, { text: string; parsed: { payload: unknown }; at: number }>();

  const routedPayload = (channel: string, text: string): { payload: unknown } | null => {
    const now = performance.now();
    const last = lastRouted.get(channel);
    if (last && last.text === text && now - last.at < sameEventMs) return last.parsed;
    const parsed = parse(channel, text);
    if (parsed) lastRouted.set(channel, { text, parsed, at: now });
    return parsed;
  };

  /** A route message: the listeners of every listed key get the one parsed event. */
  const onRouted = (channel: string, topic: string, message: string) => {
    const newline = message.indexOf('\n');
    if (newline < 0) {
      logger.error({ channel }, 'dropping a routed event without its keys');
      return;
    }
    let payload: { payload: unknown } | null | undefined;
    const keys = message.slice(0, newline);
    for (let from = 0; from <= keys.length;) {
      let to = keys.indexOf(',', from);
      if (to < 0) to = keys.length;
      const keyChannel = channelOf(topic, keys.slice(from, to));
      from = to + 1;
      const set = listeners.get(keyChannel);
      if (!set || set.size === 0) continue;
      payload ??= routedPayload(channel, message.slice(newline + 1));
      if (!payload) return;
      dispatch(keyChannel, set, payload.payload);
    }
  };

  const onMessage = (channel: string, message: string) => {
    const topic = routedTopics.get(channel);
    if (topic !== undefined) {
      onRouted(channel, topic, message);
      return;
    }
    const set = listeners.get(channel);
    if (!set || set.size === 0) return;
    const parsed = parse(channel, message);
    if (parsed) dispatch(channel, set, parsed.payload);
  };
  redis.subscriber.on('message', onMessage);

  // After a drop, every channel held is subscribed again once the connection is ready (ioredis
  // does not, see infra/redis.ts), in one SUBSCRIBE whose reply confirms them all; a failure
  // leaves the bus dropped until the next 'ready'.
  const connectionListeners = new Set<ConnectionListener>();
  let dropped = false;
  const onClose = () => {
    if (dropped) return;
    dropped = true;
    for (const listener of [...connectionListeners]) listener.dropped();
  };
  const onReady = () => {
    if (!dropped) return;
    const channels = [...confirmed.keys()];
    const again =
      channels.length > 0 ? redis.subscriber.subscribe(...channels) : redis.subscriber.ping();
    const done = again.then(
      () => {
        dropped = false;
        for (const listener of [...connectionListeners]) listener.resubscribed();
      },
      (error: unknown) => logger.warn({ err: error }, 'could not subscribe the channels again'),
    );
    for (const channel of channels) confirmed.set(channel, done);
  };
  redis.subscriber.on('close', onClose);
  redis.subscriber.on('ready', onReady);

  /** SUBSCRIBEs `channel`; its confirmation, which later listeners share. */
  const subscribeChannel = (channel: string): Promise<void> => {
    const ready = redis.subscriber.subscribe(channel).then(
      () => undefined,
      (error: unknown) => {
        logger.warn({ channel, err: error }, 'SUBSCRIBE failed; it is retried on reconnect');
      },
    );
    confirmed.set(channel, ready);
    return ready;
  };

  const unsubscribeChannel = (channel: string) => {
    confirmed.delete(channel);
    redis.subscriber.unsubscribe(channel).catch(() => undefined);
  };

  /** The topic of a key channel if that topic is addressed. */
  const routeFor = (channel: string) => {
    const rest = channel.slice(prefix.length);
    return routes.get(rest.slice(0, rest.indexOf(':')));
  };

  const removeListener = (channel: string, listener: Listener<unknown>) => {
    const current = listeners.get(channel);
    if (!current) return;
    current.delete(listener);
    if (current.size === 0) {
      listeners.delete(channel);
      const route = routeFor(channel);
      if (!route) unsubscribeChannel(channel);
      else if (--route.keys === 0) unsubscribeChannel(route.channel);
    }
  };

  return {
    async publish(topic, key, payload) {
      try {
        const route = routes.get(topic);
        await (route
          ? redis.publish(route.channel, `${key}\n${JSON.stringify(payload)}`)
          : redis.publish(channelOf(topic, key), JSON.stringify(payload)));
      } catch (error) {
        logger.warn({ topic, key, err: error }, 'event not published; Redis did not take it');
      }
    },

    async publishMany(topic, keys, payload) {
      if (keys.length === 0) return;
      const message = JSON.stringify(payload);
      try {
        const route = routes.get(topic);
        if (route) {
          for (let i = 0; i < keys.length; i += 1_000) {
            await redis.publish(route.channel, `${keys.slice(i, i + 1_000).join(',')}\n${message}`);
          }
          return;
        }
        for (let i = 0; i < keys.length; i += 1_000) {
          const chunk = keys.slice(i, i + 1_000);
          if (redis.cluster) {
            await Promise.all(chunk.map((key) => redis.publish(channelOf(topic, key), message)));
            continue;
          }
          const pipeline = redis.publisher.pipeline();
          for (const key of chunk) pipeline.publish(channelOf(topic, key), message);
          await pipeline.exec();
        }
      } catch (error) {
        logger.warn(
          { topic, keys: keys.length, err: error },
          'events not published; Redis did not take them',
        );
      }
    },

    subscribe(topic, key, listener) {
      const channel = channelOf(topic, key);
      const route = routes.get(topic);
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        if (!route) void subscribeChannel(channel);
        else if (route.keys++ === 0) void subscribeChannel(route.channel);
      }
      set.add(listener as Listener<unknown>);
      return new ChannelSubscription(
        channel,
        listener as Listener<unknown>,
        confirmed.get(route ? route.channel : channel) ?? Promise.resolve(),
        removeListener,
      );
    },

    channel: channelOf,

    routeChannel(topic) {
      const route = routes.get(topic);
      if (!route) throw new Error(`${topic} is not an addressed topic`);
      return route.channel;
    },

    hasListener: (topic, key) => (listeners.get(channelOf(topic, key))?.size ?? 0) > 0,

    watchConnection(listener) {
      connectionListeners.add(listener);
      return () => connectionListeners.delete(listener);
    },

    get channelCount() {
      return listeners.size;
    },

    close() {
      redis.subscriber.off('message', onMessage);
      redis.subscriber.off('close', onClose);
      redis.subscriber.off('ready', onReady);
      connectionListeners.clear();
      listeners.clear();
      confirmed.clear();
      for (const route of routes.values()) route.keys = 0;
    },
  };
}
