import { afterAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../src/infra/logger.js';
import { createEventBus } from '../src/infra/pubsub.js';
import { createRedisClients } from '../src/infra/redis.js';
import type { FeedEvent, FeedTopics } from '../src/modules/feeds/feed.events.js';
import type { FeedUpdate } from '../src/modules/feeds/feed.service.js';
import { createVisibilityCache, FeedWatcher } from '../src/modules/feeds/feed.watch.js';
import type { RelationTopics } from '../src/modules/follows/relation.events.js';
import { uniqueDbName } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

/**
 * A live feed and the viewer's relations, on a real Redis: an event published after a relation
 * change is judged by the changed relations, however long re-reading them takes.
 */
describe('live feed visibility', () => {
  const logger = createLogger({ level: 'silent', name: 'feed-watch-test' });
  const redis = createRedisClients({
    url: inject('redisUrl'),
    namespace: `test:${uniqueDbName('watch')}`,
    logger,
  });
  const bus = createEventBus<FeedTopics & RelationTopics>({ redis, logger });
  afterAll(() => redis.quit());

  it('holds events that follow a relation change until the new relations are read', async () => {
    let hidden = new Set<string>();
    let gate = Promise.resolve();
    let loads = 0;
    const visibility = createVisibilityCache({
      async load() {
        loads += 1;
        await gate;
        return { hidden, whales: [] };
      },
      bus,
      logger,
    });
    const watcher = new FeedWatcher(
      { bus, visibility, updateOf: (event) => event as unknown as FeedUpdate, logger },
      {
        topic: 'publicFeed',
        key: '',
        viewerId: 'viewer',
        home: false,
        after: null,
        catchUp: () => Promise.resolve([]),
      },
    );
    const deleted = (authorId: string, truthId: string): FeedEvent => ({
      type: 'deleted',
      truthId,
      authorId,
    });
    const next = async () =>
      ((await watcher.stream.next()).value as unknown as { truthId: string }).truthId;

    await waitFor(() => loads === 1);
    await bus.publish('publicFeed', '', deleted('author', 'first'));
    expect(await next()).toBe('first');

    // The viewer mutes `author`; re-reading their relations takes a while.
    let open!: () => void;
    gate = new Promise((resolve) => {
      open = resolve;
    });
    hidden = new Set(['author']);
    await bus.publish('relationsChanged', 'viewer', { userId: 'viewer' });
    await bus.publish('publicFeed', '', deleted('author', 'muted'));
    await bus.publish('publicFeed', '', deleted('someone', 'kept'));
    await waitFor(() => loads === 2);
    const arrived = next();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(watcher.stream.queued).toBe(0);

    open();
    expect(await arrived).toBe('kept');
    watcher.stream.end();
  });
});
