import DataLoader from 'dataloader';
import type { RecordCache } from '../../infra/record-cache.js';
import type { UserRecord } from './user.model.js';

/** Users by id (hex): one cache read per batch (MongoDB only for misses); `null` for a miss. */
export function createUserByIdLoader(
  records: RecordCache<UserRecord>,
  options: { cache: boolean },
) {
  return new DataLoader<string, UserRecord | null>(
    async (ids) => {
      const found = await records.getMany(ids);
      return ids.map((id) => found.get(id) ?? null);
    },
    { cache: options.cache, maxBatchSize: 500 },
  );
}
