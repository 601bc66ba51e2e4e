import type { Logger } from '../../infra/logger.js';
import { createRecordCache, type RecordCache } from '../../infra/record-cache.js';
import type { RedisClients } from '../../infra/redis.js';
import { objectId } from '../../lib/ids.js';
import { publicUserFields, type UserModel, type UserRecord } from './user.model.js';
import { decodeUserFromCache, encodeUserForCache } from './user.wire.js';

/** Users by id in Redis (see infra/record-cache.ts); write through on every profile change. */
export function createUserRecordCache(deps: {
  redis: RedisClients;
  User: UserModel;
  logger: Logger;
}): RecordCache<UserRecord> {
  return createRecordCache<UserRecord>({
    redis: deps.redis,
    family: 'user',
    ttlSeconds: 3_600,
    load: (ids) =>
      deps.User.find({ _id: { $in: ids.map(objectId) } }, publicUserFields)
        .limit(ids.length)
        .lean<UserRecord[]>()
        .exec(),
    idOf: (user) => user._id.toHexString(),
    encode: encodeUserForCache,
    decode: decodeUserFromCache,
    logger: deps.logger,
  });
}
