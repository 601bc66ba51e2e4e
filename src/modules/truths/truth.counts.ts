import type { Types } from 'mongoose';
import { createCounterStore, type CounterStore } from '../../infra/counters.js';
import type { Logger } from '../../infra/logger.js';
import type { RedisEpoch } from '../../infra/redis-epoch.js';
import type { RedisClients } from '../../infra/redis.js';
import { objectId } from '../../lib/ids.js';
import { reactionKinds, type ReactionModel } from '../reactions/reaction.model.js';
import type { TruthModel } from './truth.model.js';

export const truthCountFields = ['replies', 'retruths', 'quotes', ...reactionKinds] as const;
export type TruthCountField = (typeof truthCountFields)[number];
export type TruthCounts = Record<TruthCountField, number>;
export type TruthCountStore = CounterStore<TruthCountField>;

interface Group<K> {
  _id: K;
  n: number;
}

/**
 * Per-truth counts (replies, retruths, quotes and reactions by kind) in Redis, rebuilt from the
 * `truths` and `reactions` collections when missing: four grouped queries per rebuild batch,
 * whatever its size.
 */
export function createTruthCountStore(deps: {
  redis: RedisClients;
  epoch: RedisEpoch;
  Truth: TruthModel;
  Reaction: ReactionModel;
  logger: Logger;
}): TruthCountStore {
  const { Truth, Reaction } = deps;
  const childCounts = async (
    field: 'replyToId' | 'quoteOfId' | 'retruthOfId',
    ids: Types.ObjectId[],
  ) =>
    Truth.aggregate<Group<Types.ObjectId>>([
      { $match: { [field]: { $in: ids }, deletedAt: null } },
      { $group: { _id: `$${field}`, n: { $sum: 1 } } },
    ]).exec();

  return createCounterStore({
    redis: deps.redis,
    epoch: deps.epoch,
    family: 'truth',
    fields: truthCountFields,
    ttlSeconds: 7 * 24 * 3600,
    logger: deps.logger,
    async rebuild(ids) {
      const oids = ids.map(objectId);
      const [replies, quotes, retruths, reactions] = await Promise.all([
        childCounts('replyToId', oids),
        childCounts('quoteOfId', oids),
        childCounts('retruthOfId', oids),
        Reaction.aggregate<Group<{ t: Types.ObjectId; k: TruthCountField }>>([
          { $match: { truthId: { $in: oids } } },
          { $group: { _id: { t: '$truthId', k: '$kind' }, n: { $sum: 1 } } },
        ]).exec(),
      ]);
      const counts = new Map<string, Partial<TruthCounts>>();
      const add = (id: Types.ObjectId, field: TruthCountField, n: number) => {
        const key = id.toHexString();
        const entry = counts.get(key) ?? {};
        entry[field] = n;
        counts.set(key, entry);
      };
      for (const group of replies) add(group._id, 'replies', group.n);
      for (const group of quotes) add(group._id, 'quotes', group.n);
      for (const group of retruths) add(group._id, 'retruths', group.n);
      for (const group of reactions) add(group._id.t, group._id.k, group.n);
      return counts;
    },
  });
}
