import DataLoader from 'dataloader';
import type { RelationFlags, RelationStore } from './relation.store.js';

/**
 * A viewer's relations to a user (following, followed by, blocking, muting), by
 * `<viewerId>:<userId>`, for any number of viewers at once: one Redis script per batch.
 */
export function createRelationFlagsLoader(store: RelationStore, options: { cache: boolean }) {
  return new DataLoader<string, RelationFlags>(
    async (keys) => {
      const pairs = keys.map((key) => {
        const colon = key.indexOf(':');
        return [key.slice(0, colon), key.slice(colon + 1)] as const;
      });
      return store.flags(pairs);
    },
    { cache: options.cache, maxBatchSize: 500 },
  );
}
