import type { Logger } from '../../infra/logger.js';
import { createRecordCache, type RecordCache } from '../../infra/record-cache.js';
import type { RedisClients } from '../../infra/redis.js';
import { objectId } from '../../lib/ids.js';
import type { TruthModel, TruthRecord } from './truth.model.js';
import { fromTruthWire, toTruthWire } from './truth.wire.js';

/**
 * Truths by id in Redis (see infra/record-cache.ts). A truth never changes except when it is
 * deleted, and deleting writes the deleted record through.
 */
export function createTruthRecordCache(deps: {
  redis: RedisClients;
  Truth: TruthModel;
  logger: Logger;
}): RecordCache<TruthRecord> {
  return createRecordCache<TruthRecord>({
    redis: deps.redis,
    family: 'truth',
    ttlSeconds: 3_600,
    load: (ids) =>
      deps.Truth.find({ _id: { $in: ids.map(objectId) } })
        .limit(ids.length)
        .lean<TruthRecord[]>()
        .exec(),
    idOf: (truth) => truth._id.toHexString(),
    encode: (truth) => JSON.stringify(toTruthWire(truth)),
    decode: (text) => fromTruthWire(JSON.parse(text) as ReturnType<typeof toTruthWire>),
    logger: deps.logger,
  });
}
