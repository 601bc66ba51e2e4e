import type { Logger } from '../../infra/logger.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { UserModel, UserRecord } from '../users/user.model.js';
import type { FeedTopics } from './feed.events.js';

/**
 * Which accounts are whales, held in each process: whales are few and a flag, once set, stays.
 * Loaded from MongoDB at start, added to when an account becomes one (`whaleFlagged`), and
 * reloaded every `resyncMs` in case that event was missed (pub/sub is at-most-once).
 */
export function createWhaleRegistry(deps: {
  User: UserModel;
  bus: EventBus<FeedTopics>;
  logger: Logger;
  resyncMs?: number;
}) {
  let whales = new Set<string>();
  const load = async () => {
    const rows = await deps.User.find({ isWhale: true }, { _id: 1 })
      .lean<Pick<UserRecord, '_id'>[]>()
      .exec();
    whales = new Set(rows.map((row) => row._id.toHexString()));
  };
  let ready = load();
  ready.catch((error: unknown) => deps.logger.warn({ err: error }, 'could not load the whales'));
  const resync = setInterval(() => {
    ready = load().catch((error: unknown) =>
      deps.logger.warn({ err: error }, 'could not reload the whales'),
    );
  }, deps.resyncMs ?? 60_000);
  resync.unref();
  const flagged = deps.bus.subscribe('whaleFlagged', '', ({ userId }) => whales.add(userId));

  return {
    /** The whales among `userIds`. */
    async among(userIds: readonly string[]): Promise<string[]> {
      await ready.catch(() => undefined);
      return userIds.filter((id) => whales.has(id));
    },
    add(userId: string): void {
      whales.add(userId);
    },
    close(): void {
      clearInterval(resync);
      flagged.unsubscribe();
    },
  };
}

export type WhaleRegistry = ReturnType<typeof createWhaleRegistry>;
