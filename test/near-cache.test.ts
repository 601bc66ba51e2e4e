import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startRedisServer } from '../src/infra/embedded/redis-server.js';
import { createLogger } from '../src/infra/logger.js';
import { createNearCache, nearCacheEntries, type NearCache } from '../src/infra/near-cache.js';
import { createRedisClients, type RedisClients } from '../src/infra/redis.js';
import { uniqueDbName } from './helpers/server.js';
import { testRedisClients } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';

/**
 * The in-process copy of Redis values (src/infra/near-cache.ts), on a real Redis: what it keeps,
 * and that it never keeps a value that a notice it might have missed could have changed.
 */
describe('near cache', () => {
  const opened: { clients: RedisClients; cache: NearCache<{ v: number }> }[] = [];
  const outsider = testRedisClients(`test:${uniqueDbName('outsider')}`);

  afterEach(async () => {
    for (const { clients, cache } of opened.splice(0)) {
      cache.close();
      await clients.quit();
    }
  });

  const open = async (
    options: {
      url?: string;
      subscriberHeartbeatMs?: number;
      ttlMs?: number;
      viewerSize?: number;
      maxSize?: number;
    } = {},
  ) => {
    const clients = createRedisClients({
      url: options.url ?? inject('redisUrl'),
      namespace: `test:${uniqueDbName('near')}`,
      logger: createLogger({ level: 'silent', name: 'near-cache-test' }),
      ...(options.subscriberHeartbeatMs
        ? { subscriberHeartbeatMs: options.subscriberHeartbeatMs }
        : {}),
    });
    const cache = createNearCache<{ v: number }>({
      redis: clients,
      family: 'things',
      logger: createLogger({ level: 'silent', name: 'near-cache-test' }),
      ...(options.ttlMs ? { ttlMs: options.ttlMs } : {}),
      ...(options.viewerSize ? { viewerSize: options.viewerSize } : {}),
      maxSize: options.maxSize ?? nearCacheEntries,
    });
    opened.push({ clients, cache });
    // One that keeps nothing never goes live.
    if (options.maxSize === 0) return { clients, cache };
    // Live once Redis has confirmed the channel: a fill sticks from then on.
    await waitFor(() => {
      cache.fill(cache.begin(), 'probe', { v: 0 });
      return cache.get('probe');
    });
    return { clients, cache };
  };

  const notice = (cache: NearCache<{ v: number }>, key: string) =>
    outsider.publish(cache.channel, key);

  it('keeps what was read, and drops it when a notice for its key arrives', async () => {
    const { cache } = await open();
    cache.fill(cache.begin(), 'a', { v: 1 });
    cache.fill(cache.begin(), 'b', { v: 2 });
    expect(cache.get('a')).toEqual({ v: 1 });

    await notice(cache, 'a');
    await waitFor(() => cache.get('a') === undefined);
    expect(cache.get('b')).toEqual({ v: 2 });
  });

  it('does not keep a value read before a notice that arrived while the read was out', async () => {
    const { cache } = await open();
    const token = cache.begin();
    cache.fill(cache.begin(), 'marker', { v: 0 });
    await notice(cache, 'a');
    // Wait for the notice itself: notices arrive in order, so once the marker's has dropped
    // the marker, the one for `a` has been seen.
    await notice(cache, 'marker');
    await waitFor(() => cache.get('marker') === undefined);
    cache.fill(token, 'a', { v: 1 });
    expect(cache.get('a')).toBeUndefined();
    // A read begun after the notice is kept.
    cache.fill(cache.begin(), 'a', { v: 2 });
    expect(cache.get('a')).toEqual({ v: 2 });
  });

  it('refuses a value read across a notice for its key, however many notices follow it', async () => {
    const { cache } = await open();
    const token = cache.begin();
    cache.forget('a');
    // Far more changed keys than the cache keeps notice ticks for.
    for (let i = 0; i < 200_000; i++) cache.forget(`other:${i}`);
    cache.fill(token, 'a', { v: 1 });
    expect(cache.get('a')).toBeUndefined();
    cache.fill(cache.begin(), 'a', { v: 2 });
    expect(cache.get('a')).toEqual({ v: 2 });
  });

  it('keeps nothing with no room (maxSize 0), a viewer’s own value neither', async () => {
    const { clients, cache } = await open({ maxSize: 0, viewerSize: 10 });
    await clients.command.ping();
    cache.fill(cache.begin(), 'a', { v: 1 });
    cache.fill(cache.begin(), 'viewer', { v: 2 }, { viewer: true });
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('viewer')).toBeUndefined();
    const found = new Map<string, { v: number }>();
    expect(cache.collect(['a', 'viewer'], found)).toEqual(['a', 'viewer']);
    expect(found.size).toBe(0);
  });

  it('keeps what is read again when many values are read once, and no copy past probation’s room', async () => {
    const { cache } = await open();
    cache.fill(cache.begin(), 'hot', { v: 1 });
    expect(cache.get('hot')).toEqual({ v: 1 });
    // Twice the room in values read once: the first fill probation (a fifth of the room), the
    // rest are only remembered, and none of them pushes `hot` out.
    for (let i = 0; i < 2 * nearCacheEntries; i++) cache.fill(cache.begin(), `once:${i}`, { v: i });
    expect(cache.get('hot')).toEqual({ v: 1 });
    const last = `once:${2 * nearCacheEntries - 1}`;
    expect(cache.get(last)).toBeUndefined();
    expect(cache.get('once:0')).toEqual({ v: 0 });
    // Read from Redis again, a remembered key is kept, and protected at once.
    cache.fill(cache.begin(), last, { v: 1 });
    for (let i = 0; i < 2 * nearCacheEntries; i++) cache.fill(cache.begin(), `more:${i}`, { v: i });
    expect(cache.get(last)).toEqual({ v: 1 });
  });

  it('protects at once what is read from Redis again while probation is full', async () => {
    const { cache } = await open();
    const once = (from: number, count: number) => {
      for (let i = from; i < from + count; i++) cache.fill(cache.begin(), `once:${i}`, { v: i });
    };
    // As many strangers as probation holds, then a viewer's record between two of their
    // requests: remembered, not kept.
    once(0, nearCacheEntries / 5);
    cache.fill(cache.begin(), 'viewer', { v: 1 });
    expect(cache.get('viewer')).toBeUndefined();
    // Read from Redis again: protected now, however many strangers come next.
    cache.fill(cache.begin(), 'viewer', { v: 2 });
    once(nearCacheEntries, 2 * nearCacheEntries);
    expect(cache.get('viewer')).toEqual({ v: 2 });
    // The strangers read once were never kept past probation's room.
    expect(cache.get(`once:${nearCacheEntries}`)).toBeUndefined();
  });

  it('makes room on a full probation once its copies have outlived their time to live', async () => {
    const { cache } = await open({ ttlMs: 300 });
    for (let i = 0; i < nearCacheEntries / 5; i++) cache.fill(cache.begin(), `old:${i}`, { v: i });
    cache.fill(cache.begin(), 'new', { v: 1 });
    expect(cache.get('new')).toBeUndefined();
    // Past their time to live (and a second since probation last looked for such copies).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    cache.fill(cache.begin(), 'newer', { v: 2 });
    expect(cache.get('newer')).toEqual({ v: 2 });
  });

  it("keeps a viewer's own value apart from the people their pages show again", async () => {
    const { cache } = await open({ viewerSize: 10 });
    cache.fill(cache.begin(), 'viewer', { v: 1 }, { viewer: true });
    cache.fill(cache.begin(), 'author', { v: 2 });
    expect(cache.get('author')).toEqual({ v: 2 }); // read again: protected
    // More strangers than the protected room, each read from Redis twice (the same people on
    // every page): all protected in turn, pushing out everything protected before them.
    const pages = () => {
      for (const _pass of [1, 2]) {
        for (let i = 0; i < 2 * nearCacheEntries; i++) {
          cache.fill(cache.begin(), `stranger:${i}`, { v: i });
        }
      }
    };
    pages();
    expect(cache.get('author')).toBeUndefined();
    expect(cache.get('viewer')).toEqual({ v: 1 });
    // Read again for a page, it stays a viewer's; a notice drops it like any other copy.
    cache.fill(cache.begin(), 'viewer', { v: 3 });
    pages();
    expect(cache.get('viewer')).toEqual({ v: 3 });
    await notice(cache, 'viewer');
    await waitFor(() => cache.get('viewer') === undefined);
    cache.fill(cache.begin(), 'viewer', { v: 4 }, { viewer: true });
    cache.forget('viewer');
    expect(cache.get('viewer')).toBeUndefined();
  });

  it('keeps a copy no longer than its time to live from its read, read again or not', async () => {
    const { cache } = await open({ ttlMs: 400 });
    cache.fill(cache.begin(), 'a', { v: 1 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(cache.get('a')).toEqual({ v: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(cache.get('a')).toBeUndefined();
  });

  it('forgets at once what this process changed', async () => {
    const { cache } = await open();
    const token = cache.begin();
    cache.fill(token, 'a', { v: 1 });
    cache.forget('a');
    expect(cache.get('a')).toBeUndefined();
    cache.fill(token, 'a', { v: 1 });
    expect(cache.get('a')).toBeUndefined();
  });

  it('empties itself when its subscriber connection drops, and keeps nothing read before', async () => {
    const { clients, cache } = await open();
    cache.fill(cache.begin(), 'a', { v: 1 });
    const before = cache.begin();
    const closed = new Promise((resolve) => clients.subscriber.once('close', resolve));
    // As a Redis restart or a network cut would: notices sent now are lost to this process.
    clients.subscriber.disconnect(true);
    await closed;
    await notice(cache, 'a');
    expect(cache.get('a')).toBeUndefined();
    cache.fill(cache.begin(), 'b', { v: 2 });
    expect(cache.get('b')).toBeUndefined();

    // Back once the channel is confirmed again; a read begun before the drop is still refused.
    await waitFor(() => {
      cache.fill(cache.begin(), 'b', { v: 2 });
      return cache.get('b');
    });
    cache.fill(before, 'a', { v: 1 });
    expect(cache.get('a')).toBeUndefined();
  });

  it('keeps its copies through stalls of this process longer than its heartbeat', async () => {
    // A heartbeat well above a loaded machine's scheduling delays, the stalls longer still.
    const { clients, cache } = await open({ subscriberHeartbeatMs: 200 });
    let drops = 0;
    clients.subscriber.on('close', () => (drops += 1));
    cache.fill(cache.begin(), 'a', { v: 1 });
    // Busy 500 ms in each turn of the event loop: the heartbeat's PING goes out in one turn,
    // its answer arrives during the stall and waits, unread, until the next turn, whose timers
    // run before its reads. Waiting is not silence: nothing is dropped.
    await new Promise<void>((resolve) => {
      let turns = 0;
      const stall = () => {
        const until = Date.now() + 500;
        while (Date.now() < until) {
          // busy, like a long collection
        }
        if (++turns < 6) setImmediate(stall);
        else resolve();
      };
      setImmediate(stall);
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(drops).toBe(0);
    expect(cache.get('a')).toEqual({ v: 1 });
  });

  it('empties itself when its subscriber connection stops answering without closing', async () => {
    const redis = await startRedisServer({
      logger: createLogger({ level: 'silent', name: 'near-cache-test' }),
    });
    // The server itself, under the wrapper that owns it.
    const serverPid = execFileSync('pgrep', ['-P', String(redis.process.pid), 'redis-server'])
      .toString()
      .trim();
    try {
      const { cache } = await open({ url: redis.url, subscriberHeartbeatMs: 100 });
      cache.fill(cache.begin(), 'a', { v: 1 });
      expect(cache.get('a')).toEqual({ v: 1 });

      // Frozen, the server keeps every connection open and answers nothing: notices could be
      // lost without any 'close'. The heartbeat notices, drops the connection, and the copies go.
      execFileSync('kill', ['-STOP', serverPid]);
      try {
        await waitFor(() => cache.get('a') === undefined, { timeoutMs: 5_000 });
      } finally {
        execFileSync('kill', ['-CONT', serverPid]);
      }
      await waitFor(() => {
        cache.fill(cache.begin(), 'b', { v: 2 });
        return cache.get('b');
      });
    } finally {
      for (const { clients, cache } of opened.splice(0)) {
        cache.close();
        await clients.quit();
      }
      await redis.stop();
    }
  });
});
