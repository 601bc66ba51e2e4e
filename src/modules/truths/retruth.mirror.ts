import { createHashMirror } from '../../infra/hash-mirror.js';
import type { Logger } from '../../infra/logger.js';
import type { RedisClients } from '../../infra/redis.js';
import { objectId } from '../../lib/ids.js';
import type { TruthModel, TruthRecord } from './truth.model.js';

/**
 * Each user's live retruths (original truth id → the retruth's id) mirrored in Redis (see
 * infra/hash-mirror.ts): whether the viewer retruthed a truth, and which truth to delete when
 * they take it back, without a query.
 */
export function createRetruthMirror(deps: {
  redis: RedisClients;
  Truth: TruthModel;
  logger: Logger;
}) {
  return createHashMirror({
    redis: deps.redis,
    logger: deps.logger,
    family: 'rt',
    ttlSeconds: 24 * 3_600,
    async load(userId) {
      const rows = await deps.Truth.find(
        { authorId: objectId(userId), kind: 'RETRUTH', deletedAt: null },
        { retruthOfId: 1 },
      )
        .lean<Pick<TruthRecord, '_id' | 'retruthOfId'>[]>()
        .exec();
      return new Map(rows.map((row) => [row.retruthOfId!.toHexString(), row._id.toHexString()]));
    },
  });
}
