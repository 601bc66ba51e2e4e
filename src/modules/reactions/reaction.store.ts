import type { Logger } from '../../infra/logger.js';
import { createModelCounts, createModelHashes, modelKey } from '../../infra/model-store.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { RedisClients } from '../../infra/redis.js';
import {
  reactionKinds,
  type LegacyReactionModel,
  type LegacyReactionRecord,
  type ReactionEventModel,
  type ReactionEventRecord,
  type ReactionKind,
} from './reaction.model.js';

// KEYS: the user's reactions. ARGV: truth id, the kind wanted ('' for none). 0 when that is
// already the reaction, else 1.
const intendSource = `
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current == ARGV[2] then return 0 end
return 1
`;

// KEYS: the sequence. Draws a version (a model script, so that a version is never drawn from
// a sequence lost with the rest of the model before the rebuild sets it again).
const drawSource = `return redis.call('INCR', KEYS[1])`;

// A change is applied to two entities, each by its own script and each deciding by the
// change's version on its own: the user's reaction (what the user sees as theirs) and the
// truth's counts (which keep each reactor's counted kind with its version). So a change
// applied twice, changes racing, or a retry after only one of them ran, all end as the newest
// version says, counted once.

// KEYS: the user's reactions, their versions. ARGV: truth id, kind ('' for none), version,
// user id, reactions' channel. Applies a change unless a newer one for the same pair did. 2
// when a reaction was added where there was none, 1 for another change, 0 for none.
const applyUserSource = `
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1') >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local old = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if old == ARGV[2] then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
publish(ARGV[5], ARGV[4])
if old == '' then return 2 end
return 1
`;

// KEYS: the truth's counts, its reactors. ARGV: user id, kind ('' for none), version, truth
// id, counts' channel. The reactors' hash holds each user's counted kind as '<version>:<kind>';
// a change moves the counts from that kind to its own unless a newer one for the pair did. 1
// when the counts changed.
const applyTruthSource = `
local current = redis.call('HGET', KEYS[2], ARGV[1]) or '-1:'
local colon = string.find(current, ':', 1, true)
if tonumber(string.sub(current, 1, colon - 1)) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. ':' .. ARGV[2])
local old = string.sub(current, colon + 1)
if old == ARGV[2] then return 0 end
if old ~= '' then redis.call('HINCRBY', KEYS[1], old, -1) end
if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[1], ARGV[2], 1) end
publish(ARGV[5], ARGV[4])
return 1
`;

/**
 * The reactions' part of the read model (infra/read-model.ts): each user's reaction per truth
 * (`rx:{<user>}`, what `viewerReaction` shows), the version of its latest change
 * (`rxv:{<user>}`), each truth's counts by kind (`rc:{<truth>}`) and the kind each reactor is
 * counted for there (`rcby:{<truth>}`), and the version sequence (`rx:seq`, no entity's). A
 * user's keys are tagged by the user's id, a truth's by the truth's, so each side is one
 * Redis Cluster slot. Rebuilt from `reaction_events` (and reactions of earlier versions in
 * `reactions`).
 *
 * A change is decided and applied in Redis around its MongoDB insert, like a follow's
 * (follows/relation.store.ts): `intend` draws a version unless the reaction is already that
 * kind; `apply` makes it the reaction, and moves the truth's counts, unless a newer change of
 * the same pair already did, so racing changes, and changes applied twice, end as the newest
 * one says and count once.
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
  /** A user's versions: truth id → the version of the latest change applied. */
  const versions = (userId: string) => modelKey(model, 'rxv', userId);
  /** A truth's reactors: user id → '<version>:<kind>' counted in its counts ('' kind: none). */
  const reactors = (truthId: string) => modelKey(model, 'rcby', truthId);
  /** The sequence of versions, shared by every pair (a version only orders one pair's). */
  const sequence = `${model.prefix}rx:seq`;
  const intend = model.script(intendSource);
  const draw = model.script(drawSource);
  const applyUser = model.script(applyUserSource);
  const applyTruth = model.script(applyTruthSource);

  const replayers: ((events: readonly ReactionEventRecord[]) => Promise<void>)[] = [];

  model.family('reactions', async () => {
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
    // Keys of many users and truths: batches (on a cluster, each command to its own slot).
    let pipeline = redis.batch();
    let queued = 0;
    for (const [pair, { kind, version }] of state) {
      const [userId, truthId] = pair.split(':') as [string, string];
      pipeline.hset(versions(userId), truthId, version);
      pipeline.hset(reactors(truthId), userId, `${version}:${kind ?? ''}`);
      if (kind) {
        pipeline.hset(byUser.keyOf(userId), truthId, kind);
        pipeline.hincrby(counts.keyOf(truthId), kind, 1);
      }
      if (++queued % 2_000 === 0) {
        await pipeline.exec();
        pipeline = redis.batch();
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
      // Drawn in the same round trip as the check (a version drawn for no change is only a
      // gap in the sequence): the sequence is no entity's key, so it is not in the check's
      // script.
      const [changes, version] = await Promise.all([
        intend.run(redis.command, [byUser.keyOf(userId)], [truthId, kind ?? '']),
        draw.run(redis.command, [sequence], []),
      ]);
      return changes === 0 ? null : (version as number);
    },

    /**
     * Applies a stored change: 'added' (where there was none), 'changed', or 'none', as the
     * user's reaction changed. The user's side and the truth's counts are sent in one tick (one
     * round trip on a single Redis); between them, on a cluster, a reader may see the user's
     * new reaction with the truth's counts not yet moved, or the reverse.
     */
    async apply(event: ReactionEventRecord): Promise<{
      reaction: 'added' | 'changed' | 'none';
      countsChanged: boolean;
    }> {
      const userId = event.userId.toHexString();
      const truthId = event.truthId.toHexString();
      const kind = event.kind ?? '';
      byUser.forget(userId);
      counts.forget(truthId);
      const [user, truth] = await Promise.all([
        applyUser.run(
          redis.command,
          [byUser.keyOf(userId), versions(userId)],
          [truthId, kind, event.version, userId, byUser.channel],
        ),
        applyTruth.run(
          redis.command,
          [counts.keyOf(truthId), reactors(truthId)],
          [userId, kind, event.version, truthId, counts.channel],
        ),
      ]);
      return {
        reaction: user === 2 ? 'added' : user === 1 ? 'changed' : 'none',
        countsChanged: truth === 1,
      };
    },
  };
}

export type ReactionStore = ReturnType<typeof createReactionStore>;
