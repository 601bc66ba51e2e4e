import DataLoader from 'dataloader';
import type { CounterStore } from '../../infra/counters.js';
import type { UserCountField, UserCounts } from './user.counts.js';

/** Follower, following and truth counts per user: one Redis round trip per batch. */
export function createUserCountsLoader(
  store: CounterStore<UserCountField>,
  options: { cache: boolean },
) {
  return new DataLoader<string, UserCounts>(
    async (ids) => {
      const counts = await store.get(ids);
      return ids.map((id) => counts.get(id)!);
    },
    { cache: options.cache, maxBatchSize: 500 },
  );
}
