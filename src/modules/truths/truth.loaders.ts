import DataLoader from 'dataloader';
import type { CounterStore } from '../../infra/counters.js';
import type { TruthCountField, TruthCounts } from './truth.counts.js';
import type { RecordCache } from '../../infra/record-cache.js';
import type { TruthRecord } from './truth.model.js';

/** Truths by id (hex), deleted ones included: one cache read (MongoDB only for misses). */
export function createTruthByIdLoader(
  records: RecordCache<TruthRecord>,
  options: { cache: boolean },
) {
  return new DataLoader<string, TruthRecord | null>(
    async (ids) => {
      const found = await records.getMany(ids);
      return ids.map((id) => found.get(id) ?? null);
    },
    { cache: options.cache, maxBatchSize: 500 },
  );
}

/** Counts per truth: one Redis round trip per batch. */
export function createTruthCountsLoader(
  store: CounterStore<TruthCountField>,
  options: { cache: boolean },
) {
  return new DataLoader<string, TruthCounts>(
    async (ids) => {
      const counts = await store.get(ids);
      return ids.map((id) => counts.get(id)!);
    },
    { cache: options.cache, maxBatchSize: 500 },
  );
}
