import type { Types } from 'mongoose';
import { createCounterStore, type CounterStore } from '../../infra/counters.js';
import type { Logger } from '../../infra/logger.js';
import type { RedisEpoch } from '../../infra/redis-epoch.js';
import type { RedisClients } from '../../infra/redis.js';
import { objectId } from '../../lib/ids.js';
import type { RelationModel } from '../follows/relation.model.js';
import type { TruthModel } from '../truths/truth.model.js';

export const userCountFields = ['followers', 'following', 'truths'] as const;
export type UserCountField = (typeof userCountFields)[number];
export type UserCounts = Record<UserCountField, number>;
export type UserCountStore = CounterStore<UserCountField>;

interface Group {
  _id: Types.ObjectId;
  n: number;
}

/** Per-user counts in Redis, rebuilt from `relations` and `truths` when missing. */
export function createUserCountStore(deps: {
  redis: RedisClients;
  epoch: RedisEpoch;
  Relation: RelationModel;
  Truth: TruthModel;
  logger: Logger;
}): UserCountStore {
  const { Relation, Truth } = deps;
  return createCounterStore({
    redis: deps.redis,
    epoch: deps.epoch,
    family: 'user',
    fields: userCountFields,
    ttlSeconds: 7 * 24 * 3600,
    logger: deps.logger,
    async rebuild(ids) {
      const oids = ids.map(objectId);
      const [followers, following, truths] = await Promise.all([
        Relation.aggregate<Group>([
          { $match: { toId: { $in: oids }, kind: 'follow' } },
          { $group: { _id: '$toId', n: { $sum: 1 } } },
        ]).exec(),
        Relation.aggregate<Group>([
          { $match: { fromId: { $in: oids }, kind: 'follow' } },
          { $group: { _id: '$fromId', n: { $sum: 1 } } },
        ]).exec(),
        Truth.aggregate<Group>([
          { $match: { authorId: { $in: oids }, deletedAt: null } },
          { $group: { _id: '$authorId', n: { $sum: 1 } } },
        ]).exec(),
      ]);
      const counts = new Map<string, Partial<UserCounts>>();
      const add = (groups: Group[], field: UserCountField) => {
        for (const group of groups) {
          const key = group._id.toHexString();
          counts.set(key, { ...counts.get(key), [field]: group.n });
        }
      };
      add(followers, 'followers');
      add(following, 'following');
      add(truths, 'truths');
      return counts;
    },
  });
}
