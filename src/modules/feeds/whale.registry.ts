import type { Logger } from '../../infra/logger.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { RedisClients } from '../../infra/redis.js';
import type { FeedTopics } from './feed.events.js';

const membersSource = `return redis.call('SMEMBERS', KEYS[1])`;
const addSource = `return redis.call('SADD', KEYS[1], ARGV[1])`;

/**
 * Which accounts are whales, held in each process: whales are few and a flag, once set, stays.
 * Read from the read model's set at start, added to when an account becomes one
 * (`whaleFlagged`), and read again every `resyncMs` in case that event was missed (pub/sub is
 * at-most-once).
 */
export function createWhaleRegistry(deps: {
  model: ReadModel;
  redis: RedisClients;
  key: string;
  bus: EventBus<FeedTopics>;
  logger: Logger;
  resyncMs?: number;
}) {
  const { model, redis, key } = deps;
  const members = model.script(membersSource);
  const add = model.script(addSource);
  let whales = new Set<string>();
  let ready: Promise<void> | null = null;
  const load = () => {
    ready = members.run(redis.command, [key], []).then(
      (ids) => {
        whales = new Set(ids as string[]);
      },
      (error: unknown) => {
        ready = null;
        deps.logger.warn({ err: error }, 'could not load the whales');
      },
    );
    return ready;
  };
  const resync = setInterval(() => void load(), deps.resyncMs ?? 60_000);
  resync.unref();
  model.onRebuilt(() => void load());
  const flagged = deps.bus.subscribe('whaleFlagged', '', ({ userId }) => whales.add(userId));

  return {
    /** The whales among `userIds`. */
    async among(userIds: readonly string[]): Promise<string[]> {
      await (ready ?? load());
      return userIds.filter((id) => whales.has(id));
    },
    async isWhale(userId: string): Promise<boolean> {
      await (ready ?? load());
      return whales.has(userId);
    },
    /** Records a new whale in the read model (after its flag is stored) and here. */
    async flag(userId: string): Promise<void> {
      whales.add(userId);
      await add.run(redis.command, [key], [userId]);
    },
    close(): void {
      clearInterval(resync);
      flagged.unsubscribe();
    },
  };
}

export type WhaleRegistry = ReturnType<typeof createWhaleRegistry>;
