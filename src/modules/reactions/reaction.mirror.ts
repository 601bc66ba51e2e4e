import { createHashMirror } from '../../infra/hash-mirror.js';
import type { Logger } from '../../infra/logger.js';
import type { RedisClients } from '../../infra/redis.js';
import { objectId } from '../../lib/ids.js';
import type { ReactionModel, ReactionRecord } from './reaction.model.js';

/**
 * Each user's reactions (truth id → kind) mirrored in Redis (see infra/hash-mirror.ts), so the
 * viewer's own reaction on a page of truths costs no query.
 */
export function createReactionMirror(deps: {
  redis: RedisClients;
  Reaction: ReactionModel;
  logger: Logger;
}) {
  return createHashMirror({
    redis: deps.redis,
    logger: deps.logger,
    family: 'rx',
    ttlSeconds: 24 * 3_600,
    async load(userId) {
      const rows = await deps.Reaction.find({ userId: objectId(userId) }, { truthId: 1, kind: 1 })
        .lean<Pick<ReactionRecord, 'truthId' | 'kind'>[]>()
        .exec();
      return new Map(rows.map((row) => [row.truthId.toHexString(), row.kind]));
    },
  });
}
