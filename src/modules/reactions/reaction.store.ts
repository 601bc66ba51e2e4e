import type { Logger } from '../../infra/logger.js';
import { createModelCounts, createModelHashes } from '../../infra/model-store.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { Redis, RedisClients } from '../../infra/redis.js';
import {
  reactionKinds,
  type LegacyReactionModel,
  type LegacyReactionRecord,
  type ReactionEventModel,
  type ReactionEventRecord,
  type ReactionKind,
} from './reaction.model.js';

// KEYS: the user's reactions, the sequence. ARGV: truth id, the kind wanted ('' for none).
// {0} when that is already the reaction; else {1, version}.
const intendSource = `
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current == ARGV[2] then return {0} end
return {1, redis.call('INCR', KEYS[2])}
`;

// KEYS: the user's reactions, their versions, the truth's counts. ARGV: truth id, kind ('' for
// none), version, user id, channels of reactions and counts. Applies a change unless a newer
// one for the same pair did; the counts follow the kind that really changed. 2 when a reaction
// was added where there was none, 1 for another change, 0 for none.
const applySource = `
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1') >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local old = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if old == ARGV[2] then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
if old ~= '' then redis.call('HINCRBY', KEYS[3], old, -1) end
if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[3], ARGV[2], 1) end
publish(ARGV[5], ARGV[4])
publish(ARGV[6], ARGV[1])
if old == '' then return 2 end
return 1
`;

/**
 * The reactions' part of the read model (infra/read-model.ts): each user's reaction per truth
 * (`rx:<user>`, what `viewerReaction` shows), the version of its latest change (`rxv:<user>`),
 * and each truth's counts by kind (`rc:<truth>`), changed in the same step as the reaction they
 * count. Rebuilt from `reaction_events` (and reactions of earlier versions in `reactions`).
 *
 * A change is decided and applied in Redis around its MongoDB insert, like a follow's
 * (follows/relation.store.ts): `intend` draws a version unless the reaction is already that
 * kind; `apply` makes it the reaction unless a newer change of the same pair already did, so
 * racing changes, and changes applied twice, end as the newest one says and count once.
 */
export function createReactionStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  ReactionEvent: ReactionEventModel;
  LegacyReaction: LegacyReactionModel;
  logger: Logger;
}) {
  const { model, redis, ReactionEvent, LegacyReaction, logger } = deps;
  const byUser = createModelHashes({ model, redis, family: 'rx', logger });
  const counts = createModelCounts({ model, redis, family: 'rc', fields: reactionKinds, logger });
  const versions = (userId: string) => `${model.prefix}rxv:${userId}`;
  const sequence = `${model.prefix}rx:seq`;
  const intend = model.script(intendSource);
  const apply = model.script(applySource);

  const replayers: ((events: readonly ReactionEventRecord[]) => Promise<void>)[] = [];

  model.family('reactions', async (client: Redis) => {
    const state = new Map<string, { kind: ReactionKind | null; version: number }>();
    const note = (userId: string, truthId: string, kind: ReactionKind | null, version: number) => {
      const pair = `${userId}:${truthId}`;
      if ((state.get(pair)?.version ?? -1) < version) state.set(pair, { kind, version });
    };
    await scanCollection<LegacyReactionRecord>(LegacyReaction, (batch) => {
      for (const r of batch) note(r.userId.toHexString(), r.truthId.toHexString(), r.kind, 0);
    });
    let highest = 0;
    await scanCollection<ReactionEventRecord>(ReactionEvent, async (batch) => {
      for (const e of batch) {
        note(e.userId.toHexString(), e.truthId.toHexString(), e.kind, e.version);
        highest = Math.max(highest, e.version);
      }
      for (const replay of replayers) await replay(batch);
    });
    let pipeline = client.pipeline();
    let queued = 0;
    for (const [pair, { kind, version }] of state) {
      const [userId, truthId] = pair.split(':') as [string, string];
      pipeline.hset(versions(userId), truthId, version);
      if (kind) {
        pipeline.hset(byUser.keyOf(userId), truthId, kind);
        pipeline.hincrby(counts.keyOf(truthId), kind, 1);
      }
      if (++queued % 2_000 === 0) {
        await pipeline.exec();
        pipeline = client.pipeline();
      }
    }
    pipeline.set(sequence, highest);
    await pipeline.exec();
  });

  return {
    byUser,
    counts,

    /** Registers a rebuild step for what another module derives from reaction events. */
    onReplay(replay: (events: readonly ReactionEventRecord[]) => Promise<void>): void {
      replayers.push(replay);
    },

    /** The version for setting the user's reaction to `kind` (null: none), or null if it is. */
    async intend(
      userId: string,
      truthId: string,
      kind: ReactionKind | null,
    ): Promise<number | null> {
      const reply = (await intend.run(
        redis.command,
        [byUser.keyOf(userId), sequence],
        [truthId, kind ?? ''],
      )) as [number, number?];
      return reply[0] === 0 ? null : reply[1]!;
    },

    /** Applies a stored change: 'added' (where there was none), 'changed', or 'none'. */
    async apply(event: ReactionEventRecord): Promise<'added' | 'changed' | 'none'> {
      const userId = event.userId.toHexString();
      const truthId = event.truthId.toHexString();
      byUser.forget(userId);
      counts.forget(truthId);
      const result = await apply.run(
        redis.command,
        [byUser.keyOf(userId), versions(userId), counts.keyOf(truthId)],
        [truthId, event.kind ?? '', event.version, userId, byUser.channel, counts.channel],
      );
      return result === 2 ? 'added' : result === 1 ? 'changed' : 'none';
    },
  };
}

export type ReactionStore = ReturnType<typeof createReactionStore>;
