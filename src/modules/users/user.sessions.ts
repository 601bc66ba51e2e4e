import { Schema, Types, type Connection, type Model } from 'mongoose';
import type { Logger } from '../../infra/logger.js';
import { createInserter, scanCollection } from '../../infra/mongo.js';
import { modelKey } from '../../infra/model-store.js';
import { createNearCache } from '../../infra/near-cache.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { RedisClients } from '../../infra/redis.js';

/**
 * A revocation, in `session_revocations` (inserts only): one session (`sessionId`), or every
 * session of a user issued before `before`. Kept until `expiresAt`, when every token it revokes
 * has expired anyway.
 */
export interface SessionRevocationRecord {
  /** `s:<sessionId>`, or `u:<userId>:<before ms>`. */
  _id: string;
  userId: Types.ObjectId;
  sessionId: string | null;
  before: Date | null;
  createdAt: Date;
  expiresAt: Date;
}

const revocationSchema = new Schema<SessionRevocationRecord>(
  {
    _id: { type: String, required: true },
    userId: { type: Schema.Types.ObjectId, required: true },
    sessionId: { type: String, default: null },
    before: { type: Date, default: null },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'session_revocations', versionKey: false },
);
// Read only by the read model's rebuild, for the revocations still in force.
revocationSchema.index({ expiresAt: 1 });

export type SessionRevocationModel = Model<SessionRevocationRecord>;

export function createSessionRevocationModel(connection: Connection): SessionRevocationModel {
  return connection.model<SessionRevocationRecord>('SessionRevocation', revocationSchema);
}

/**
 * What a process holds, under the key a revocation announces: `s:<sessionId>` (that session is
 * revoked or not) and `u:<userId>` (sessions issued before `before` ms are revoked; 0: none).
 */
interface RevocationState {
  revoked?: boolean;
  before?: number;
}

// KEYS: the user's key, the session's key, and optionally another key of the user's to read in
// the same step. Returns {session revoked (0/1), user's cut (ms), that key's value or false}.
const checkSource = `
local out = {redis.call('EXISTS', KEYS[2]), tonumber(redis.call('GET', KEYS[1]) or '0'), false}
if KEYS[3] then out[3] = redis.call('GET', KEYS[3]) end
return out
`;

// KEYS: the user's key, then the session's key (none: every session). ARGV: before (ms),
// expires at (ms), channel, session id, user id. Applies a revocation (again: no change).
const revokeSource = `
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[2], '1', 'PXAT', ARGV[2])
  publish(ARGV[3], 's:' .. ARGV[4])
else
  local before = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tonumber(ARGV[1]) > before then
    redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
  end
end
publish(ARGV[3], 'u:' .. ARGV[5])
return 1
`;

/**
 * Revoked sessions, in the read model: `<ns>:m:rev:s:{<userId>}:<sessionId>` for one session
 * and `<ns>:m:rev:u:{<userId>}` (ms) for "every session issued before", each expiring with the
 * last token it could revoke. A session belongs to its user: both keys carry the user's id as
 * their hash tag, so one script checks (or revokes) both on a Redis Cluster. Checked on every
 * authenticated request, so each process keeps the answers it read (infra/near-cache.ts) and
 * every revocation drops them everywhere at once.
 */
export function createSessionStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  SessionRevocation: SessionRevocationModel;
  logger: Logger;
}) {
  const { model, redis, SessionRevocation } = deps;
  /** Set while the session is revoked. */
  const sessionKey = (userId: string, sessionId: string) =>
    `${model.prefix}rev:s:{${userId}}:${sessionId}`;
  /** Sessions of the user issued before this time (ms) are revoked. */
  const userKey = (userId: string) => modelKey(model, 'rev:u', userId);
  const near = createNearCache<RevocationState>({
    redis,
    family: 'm:rev',
    logger: deps.logger,
    maxSize: model.nearCacheEntries,
  });
  model.onRebuilt(() => near.clear());
  const check = model.script(checkSource);
  const revoke = model.script(revokeSource);
  const inserts = createInserter<SessionRevocationRecord>(SessionRevocation.collection as never);

  model.family('sessions', async () => {
    const now = Date.now();
    await scanCollection<SessionRevocationRecord>(
      SessionRevocation,
      async (batch) => {
        // Many users' keys: a batch, not a pipeline (on a cluster they are on many nodes).
        const pipeline = redis.batch();
        for (const revocation of batch) {
          const expiresAt = revocation.expiresAt.getTime();
          const userId = revocation.userId.toHexString();
          if (revocation.sessionId) {
            pipeline.set(sessionKey(userId, revocation.sessionId), '1', 'PXAT', expiresAt);
          } else if (revocation.before) {
            pipeline.eval(
              `local b = tonumber(redis.call('GET', KEYS[1]) or '0')
               if tonumber(ARGV[1]) > b then redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2]) end`,
              1,
              userKey(userId),
              revocation.before.getTime(),
              expiresAt,
            );
          }
        }
        await pipeline.exec();
      },
      { filter: { expiresAt: { $gt: new Date(now) } } },
    );
  });

  /** Applies a stored revocation to the read model (idempotent). */
  const apply = (revocation: SessionRevocationRecord) => {
    const userId = revocation.userId.toHexString();
    return revoke.run(
      redis.command,
      revocation.sessionId
        ? [userKey(userId), sessionKey(userId, revocation.sessionId)]
        : [userKey(userId)],
      [
        revocation.before?.getTime() ?? 0,
        revocation.expiresAt.getTime(),
        near.channel,
        revocation.sessionId ?? '',
        userId,
      ],
    );
  };

  return {
    /**
     * Whether the session `sessionId` of `userId`, issued at `issuedAtMs`, was revoked. With
     * `alongside`, a key of the user's own (its hash tag is the user's id, like every key here),
     * also that key's value, read in the same step: the account record of a viewer this
     * process has not seen costs no round trip of its own.
     */
    async isRevoked(
      userId: string,
      sessionId: string | null,
      issuedAtMs: number,
      alongside?: string,
    ): Promise<{ revoked: boolean; alongside: string | null }> {
      const sessionNear = `s:${sessionId ?? '-'}`;
      const userNear = `u:${userId}`;
      let session = near.get(sessionNear)?.revoked;
      let before = near.get(userNear)?.before;
      let read: string | null = null;
      if (session === undefined || before === undefined || alongside !== undefined) {
        const token = near.begin();
        const keys = [userKey(userId), sessionKey(userId, sessionId ?? '-')];
        if (alongside !== undefined) keys.push(alongside);
        const [exists, cut, value] = (await check.run(redis.command, keys, [])) as [
          number,
          number,
          string | null,
        ];
        session = exists === 1;
        before = Number(cut);
        read = value ?? null;
        near.fill(token, sessionNear, { revoked: session });
        near.fill(token, userNear, { before });
      }
      return { revoked: session || issuedAtMs < before, alongside: read };
    },

    /**
     * Revokes one session (`sessionId`), or every session of the user issued before `before`:
     * stored in MongoDB first, then applied; `expiresAt` is when the last token it revokes
     * expires.
     */
    async revoke(input: {
      userId: string;
      sessionId: string | null;
      before: Date | null;
      expiresAt: Date;
    }): Promise<SessionRevocationRecord> {
      const record: SessionRevocationRecord = {
        _id: input.sessionId
          ? `s:${input.sessionId}`
          : `u:${input.userId}:${input.before!.getTime()}`,
        userId: new Types.ObjectId(input.userId),
        sessionId: input.sessionId,
        before: input.sessionId ? null : input.before,
        createdAt: new Date(),
        expiresAt: input.expiresAt,
      };
      try {
        await inserts.insert(record);
      } catch (error) {
        // Revoking twice is revoking once.
        if ((error as { code?: number }).code !== 11000) throw error;
      }
      near.forget(`u:${input.userId}`);
      if (input.sessionId) near.forget(`s:${input.sessionId}`);
      await apply(record);
      return record;
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
