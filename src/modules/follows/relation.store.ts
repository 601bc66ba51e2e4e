import type { Logger } from '../../infra/logger.js';
import { scanCollection } from '../../infra/mongo.js';
import { createNearCache } from '../../infra/near-cache.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { RedisClients } from '../../infra/redis.js';
import type {
  LegacyRelationModel,
  LegacyRelationRecord,
  RelationEventModel,
  RelationEventRecord,
  RelationKind,
} from './relation.model.js';

/** What feeds need of a viewer's relations on every page. */
export interface RelationSnapshot {
  readonly followees: readonly string[];
  /** Authors the viewer blocks or mutes, or who block the viewer. */
  readonly hidden: ReadonlySet<string>;
}

/** What the viewer's relations to another user are, as the User type shows them. */
export interface RelationFlags {
  following: boolean;
  followedBy: boolean;
  blocking: boolean;
  muting: boolean;
}

/** The answer of `intend`: forbidden (a block), nothing to do, or the version of the change. */
export type Intent = { status: 'forbidden' | 'unchanged' } | { status: 'change'; version: number };

// KEYS: following, blocking, blockedBy, muting of `from`. ARGV: kind, on ('1'/'0'), to. Whether
// the change would change anything (1), nothing (0), or is forbidden (-1: a follow between two
// users one of whom blocks the other; `to` blocking `from` is in `from`'s own blockedBy).
const intendSource = `
local kind, on, to = ARGV[1], ARGV[2] == '1', ARGV[3]
local current
if kind == 'follow' then
  if on and (redis.call('SISMEMBER', KEYS[2], to) == 1 or redis.call('SISMEMBER', KEYS[3], to) == 1) then
    return -1
  end
  current = redis.call('ZSCORE', KEYS[1], to) ~= false
elseif kind == 'block' then
  current = redis.call('SISMEMBER', KEYS[2], to) == 1
else
  current = redis.call('SISMEMBER', KEYS[4], to) == 1
end
if current == on then return 0 end
return 1
`;

// KEYS: the sequence. The next version of a change.
const nextVersionSource = `return redis.call('INCR', KEYS[1])`;

// KEYS: following, blocking, muting, versions of `from`. ARGV: kind, on, version, at (ms), to,
// channel, from. `from`'s side of a change (whom they follow, block or mute), unless a newer
// change of the pair already reached this side (its version field `<kind>:<to>`); announces
// `from` when the state moved. Returns 1 if it did.
const applyFromSource = `
local kind, on, version, at, to = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3]), ARGV[4], ARGV[5]
local field = kind .. ':' .. to
if tonumber(redis.call('HGET', KEYS[4], field) or '-1') >= version then return 0 end
redis.call('HSET', KEYS[4], field, version)
local moved
if kind == 'follow' then
  if on then moved = redis.call('ZADD', KEYS[1], 'NX', at, to) else moved = redis.call('ZREM', KEYS[1], to) end
elseif kind == 'block' then
  if on then moved = redis.call('SADD', KEYS[2], to) else moved = redis.call('SREM', KEYS[2], to) end
else
  if on then moved = redis.call('SADD', KEYS[3], to) else moved = redis.call('SREM', KEYS[3], to) end
end
if moved == 1 then publish(ARGV[6], ARGV[7]) end
return moved
`;

// KEYS: followers, blockedBy, versions of `to`. ARGV: kind ('follow' or 'block'), on, version, at
// (ms), from, channel, to. `to`'s side of a change (who follows or blocks them), unless a newer
// change of the pair already reached this side (its own version field `by:<kind>:<from>`,
// apart from `to`'s own relations to `from`); announces `to` when the state moved.
const applyToSource = `
local kind, on, version, at, from = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3]), ARGV[4], ARGV[5]
local field = 'by:' .. kind .. ':' .. from
if tonumber(redis.call('HGET', KEYS[3], field) or '-1') >= version then return 0 end
redis.call('HSET', KEYS[3], field, version)
local moved
if kind == 'follow' then
  if on then moved = redis.call('ZADD', KEYS[1], 'NX', at, from) else moved = redis.call('ZREM', KEYS[1], from) end
else
  if on then moved = redis.call('SADD', KEYS[2], from) else moved = redis.call('SREM', KEYS[2], from) end
end
if moved == 1 then publish(ARGV[6], ARGV[7]) end
return moved
`;

// KEYS: following lists (one user's each, see `runSpread`). ARGV: how many of each, newest first.
const newestOfManySource = `
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('ZREVRANGE', key, 0, tonumber(ARGV[1]) - 1) end
return out
`;

// KEYS: following, blocking, muting, blockedBy of one user.
const snapshotSource = `
return {
  redis.call('ZRANGE', KEYS[1], 0, -1),
  redis.call('SUNION', KEYS[2], KEYS[3], KEYS[4])
}
`;

// KEYS: per pair the viewer's following, followers, blocking and muting. ARGV: per pair the
// other user. Four flags per pair, all read from the viewer's own keys (whether the other
// follows the viewer is in the viewer's followers).
const flagsSource = `
local out = {}
for i = 1, #ARGV do
  local k = 4 * (i - 1) + 1
  local other = ARGV[i]
  out[#out + 1] = redis.call('ZSCORE', KEYS[k], other) and 1 or 0
  out[#out + 1] = redis.call('ZSCORE', KEYS[k + 1], other) and 1 or 0
  out[#out + 1] = redis.call('SISMEMBER', KEYS[k + 2], other)
  out[#out + 1] = redis.call('SISMEMBER', KEYS[k + 3], other)
end
return out
`;

// KEYS: one user's followers (or following, or blockedBy). ARGV: viewer ids. Whether each viewer
// is in it: one key however many viewers, so a live event's flags for all its subscribers are
// one small command each.
const membersOfSource = `
local out = {}
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'zset' then
  local scores = redis.call('ZMSCORE', KEYS[1], unpack(ARGV))
  for i = 1, #ARGV do out[i] = scores[i] and 1 or 0 end
elseif kind == 'set' then
  out = redis.call('SMISMEMBER', KEYS[1], unpack(ARGV))
else
  for i = 1, #ARGV do out[i] = 0 end
end
return out
`;

// KEYS: viewers' muting sets (one each, see `runSpread`). ARGV: the other user. Whether each viewer mutes them.
const mutingSource = `
local out = {}
for i = 1, #KEYS do out[i] = redis.call('SISMEMBER', KEYS[i], ARGV[1]) end
return out
`;

// KEYS: per user its following and followers (see `runSpread`).
const countsSource = `
local out = {}
for i = 1, #KEYS, 2 do
  out[#out + 1] = redis.call('ZCARD', KEYS[i])
  out[#out + 1] = redis.call('ZCARD', KEYS[i + 1])
end
return out
`;

// KEYS: a following or followers list. ARGV: the cursor member ('' for the first page), limit.
// Newest first; each item's member and the time it began (ms).
const pageSource = `
local start = 0
if ARGV[1] ~= '' then
  local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
  if not rank then return {} end
  start = rank + 1
end
return redis.call('ZREVRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1, 'WITHSCORES')
`;

const membersSource = `return redis.call('ZRANGE', KEYS[1], 0, -1)`;
const scoresSource = `return redis.call('ZMSCORE', KEYS[1], unpack(ARGV))`;

// KEYS: blocking and blockedBy of one user. ARGV: the other. Whether either blocks the other.
const blockedBetweenSource = `
return redis.call('SISMEMBER', KEYS[1], ARGV[1]) + redis.call('SISMEMBER', KEYS[2], ARGV[1])
`;

/**
 * The follows' part of the read model (infra/read-model.ts), per user: whom they follow and
 * who follows them (sorted sets scored by when it began), whom they block, who blocks them,
 * whom they mute, and the version of the latest change of each of their relations. Rebuilt
 * from `relation_events` (and relations of earlier versions in `relations`).
 *
 * Every change is decided and applied in Redis, in two steps around its MongoDB insert:
 * `intend` checks it against the current state (blocks forbid a follow; following twice is
 * nothing) and draws its version; `apply` makes it the state unless a change with a higher
 * version for the same pair already did, so the changes of a pair can land in any order, any
 * number of times, and end as the newest one says. Counts are the sizes of the sets: nothing
 * to keep in step.
 *
 * Every key belongs to one user and carries their id as its hash tag (`rel:fo:{<id>}`), so
 * that on a Redis Cluster each script touches one user's keys (infra/slots.ts). A change of a
 * pair is therefore applied as two steps, one per user, each guarded by its own version field
 * for the pair: each side takes a change at most once, and the newest change of the pair wins
 * on each side whatever order the two sides see them in.
 */
export function createRelationStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  RelationEvent: RelationEventModel;
  LegacyRelation: LegacyRelationModel;
  logger: Logger;
}) {
  const { model, redis, RelationEvent, LegacyRelation } = deps;
  const key = (family: string, userId: string) => `${model.prefix}rel:${family}:{${userId}}`;
  const following = (id: string) => key('fo', id);
  const followers = (id: string) => key('fr', id);
  const blocking = (id: string) => key('bl', id);
  const blockedBy = (id: string) => key('bb', id);
  const muting = (id: string) => key('mu', id);
  const versions = (id: string) => key('v', id);
  const sequence = `${model.prefix}rel:seq`;
  // Each user's snapshot, kept in this process until one of their relations changes.
  const snapshots = createNearCache<RelationSnapshot>({
    redis,
    family: 'm:rel',
    logger: deps.logger,
    maxSize: model.nearCacheEntries,
  });
  // Each user's counts, kept likewise (the same channel: each side of a change that moved the
  // state announces its user).
  const heldCounts = createNearCache<Readonly<{ followers: number; following: number }>>({
    redis,
    family: 'm:rel',
    logger: deps.logger,
    maxSize: model.nearCacheEntries,
  });
  model.onRebuilt(() => {
    snapshots.clear();
    heldCounts.clear();
  });

  const intend = model.script(intendSource);
  const nextVersion = model.script(nextVersionSource);
  const applyFrom = model.script(applyFromSource);
  const applyTo = model.script(applyToSource);
  const snapshot = model.script(snapshotSource);
  const flags = model.script(flagsSource, { joined: true });
  const counts = model.script(countsSource, { joined: true });
  const membersOf = model.script(membersOfSource);
  const mutingOf = model.script(mutingSource, { joined: true });
  const page = model.script(pageSource);
  const members = model.script(membersSource);
  const scores = model.script(scoresSource);
  const blockedBetween = model.script(blockedBetweenSource);
  const newestOfMany = model.script(newestOfManySource, { joined: true });
  const countReplayers: ((counts: ReadonlyMap<string, number>) => Promise<void>)[] = [];

  model.family('relations', async () => {
    /** The newest change per pair: only the state is rebuilt, not the history. */
    const state = new Map<string, { on: boolean; version: number; at: number }>();
    const note = (
      from: string,
      kind: RelationKind,
      to: string,
      on: boolean,
      version: number,
      at: Date,
    ) => {
      const pair = `${from}:${kind}:${to}`;
      if ((state.get(pair)?.version ?? -1) < version)
        state.set(pair, { on, version, at: at.getTime() });
    };
    await scanCollection<LegacyRelationRecord>(LegacyRelation, (batch) => {
      for (const r of batch) {
        note(r.fromId.toHexString(), r.kind, r.toId.toHexString(), true, 0, r.createdAt);
      }
    });
    let highest = 0;
    await scanCollection<RelationEventRecord>(RelationEvent, (batch) => {
      for (const e of batch) {
        note(e.fromId.toHexString(), e.kind, e.toId.toHexString(), e.on, e.version, e.at);
        highest = Math.max(highest, e.version);
      }
    });
    // The keys of many users: a batch (one pipeline on a single Redis), not `client.pipeline()`.
    let batch = redis.batch();
    let queued = 0;
    for (const [pair, { on, version, at }] of state) {
      const [from, kind, to] = pair.split(':') as [string, RelationKind, string];
      batch.hset(versions(from), `${kind}:${to}`, version);
      if (kind !== 'mute') batch.hset(versions(to), `by:${kind}:${from}`, version);
      if (on) {
        if (kind === 'follow') {
          batch.zadd(following(from), at, to);
          batch.zadd(followers(to), at, from);
        } else if (kind === 'block') {
          batch.sadd(blocking(from), to);
          batch.sadd(blockedBy(to), from);
        } else batch.sadd(muting(from), to);
      }
      if (++queued % 2_000 === 0) {
        await batch.exec();
        batch = redis.batch();
      }
    }
    batch.set(sequence, highest);
    await batch.exec();
    if (countReplayers.length > 0) {
      const followerCounts = new Map<string, number>();
      for (const [pair, { on }] of state) {
        const [, kind, to] = pair.split(':') as [string, RelationKind, string];
        if (on && kind === 'follow') followerCounts.set(to, (followerCounts.get(to) ?? 0) + 1);
      }
      for (const replay of countReplayers) await replay(followerCounts);
    }
  });

  return {
    /**
     * Checks a change against the current state (`from`'s keys hold all it needs) and, if it
     * changes it, gives it its version. The version is drawn alongside, in the same round trip
     * (the sequence is a key of no user's): a number a change turns out not to need is skipped.
     */
    async intend(from: string, kind: RelationKind, to: string, on: boolean): Promise<Intent> {
      const [verdict, version] = (await Promise.all([
        intend.run(
          redis.command,
          [following(from), blocking(from), blockedBy(from), muting(from)],
          [kind, on ? '1' : '0', to],
        ),
        nextVersion.run(redis.command, [sequence], []),
      ])) as [number, number];
      if (verdict === -1) return { status: 'forbidden' };
      if (verdict === 0) return { status: 'unchanged' };
      return { status: 'change', version };
    },

    /**
     * Applies a stored change, `from`'s side and `to`'s side (a mute has none) in the same
     * round trip; true when it moved `from`'s state (the first to apply it). Each side is
     * guarded by its own version of the pair, so a retry completes whichever side is missing
     * and applies nothing twice. Between the two a reader may see one side only: `from`
     * following `to` while `to`'s followers (and count) do not show it yet, or the reverse.
     */
    async apply(event: RelationEventRecord): Promise<boolean> {
      const from = event.fromId.toHexString();
      const to = event.toId.toHexString();
      for (const id of [from, to]) {
        snapshots.forget(id);
        heldCounts.forget(id);
      }
      const on = event.on ? '1' : '0';
      const at = event.at.getTime();
      const [moved] = await Promise.all([
        applyFrom.run(
          redis.command,
          [following(from), blocking(from), muting(from), versions(from)],
          [event.kind, on, event.version, at, to, snapshots.channel, from],
        ),
        event.kind === 'mute'
          ? null
          : applyTo.run(
              redis.command,
              [followers(to), blockedBy(to), versions(to)],
              [event.kind, on, event.version, at, from, snapshots.channel, to],
            ),
      ]);
      return moved === 1;
    },

    /** The viewer's followees and hidden authors (kept in this process until they change). */
    async snapshot(userId: string): Promise<RelationSnapshot> {
      const held = snapshots.get(userId);
      if (held) return held;
      const token = snapshots.begin();
      const [followees, hidden] = (await snapshot.run(
        redis.command,
        [following(userId), blocking(userId), muting(userId), blockedBy(userId)],
        [],
      )) as [string[], string[]];
      const value: RelationSnapshot = Object.freeze({ followees, hidden: new Set(hidden) });
      snapshots.fill(token, userId, value);
      return value;
    },

    /** The flags of each (viewer, other) pair, in order. */
    async flags(pairs: readonly (readonly [string, string])[]): Promise<RelationFlags[]> {
      if (pairs.length === 0) return [];
      const reply = (await flags.runSpread(
        redis.command,
        pairs.map(([viewer, other]) => ({
          keys: [following(viewer), followers(viewer), blocking(viewer), muting(viewer)],
          args: [other],
        })),
        { perItem: 4 },
      )) as number[];
      return pairs.map((_, i) => ({
        following: reply[4 * i] === 1,
        followedBy: reply[4 * i + 1] === 1,
        blocking: reply[4 * i + 2] === 1,
        muting: reply[4 * i + 3] === 1,
      }));
    },

    /**
     * One flag of each viewer towards one other user, in order: the pair flags of `flags` for
     * many viewers and one user, read from that user's own lists (its followers, whom it
     * follows, who blocks it) in one small command, or each viewer's muting set.
     */
    async flagTowards(
      other: string,
      viewers: readonly string[],
      flag: keyof RelationFlags,
    ): Promise<boolean[]> {
      if (viewers.length === 0) return [];
      const reply = (
        flag === 'muting'
          ? await mutingOf.runSpread(
              redis.command,
              viewers.map((viewer) => ({ keys: [muting(viewer)] })),
              { shared: [other] },
            )
          : await membersOf.run(
              redis.command,
              [
                flag === 'following'
                  ? followers(other)
                  : flag === 'followedBy'
                    ? following(other)
                    : blockedBy(other),
              ],
              viewers,
            )
      ) as number[];
      return reply.map((member) => member === 1);
    },

    /** How many each user follows and is followed by (kept in this process until it changes). */
    async counts(
      userIds: readonly string[],
    ): Promise<Map<string, Readonly<{ followers: number; following: number }>>> {
      const result = new Map<string, Readonly<{ followers: number; following: number }>>();
      const remote = heldCounts.collect(new Set(userIds), result);
      if (remote.length === 0) return result;
      const token = heldCounts.begin();
      const reply = (await counts.runSpread(
        redis.command,
        remote.map((id) => ({ keys: [following(id), followers(id)] })),
        { perItem: 2 },
      )) as number[];
      remote.forEach((id, i) => {
        const value = Object.freeze({ following: reply[2 * i]!, followers: reply[2 * i + 1]! });
        heldCounts.fill(token, id, value);
        result.set(id, value);
      });
      return result;
    },

    /** A user's counts if this process holds a current copy; no I/O. */
    peekCounts: (userId: string) => heldCounts.get(userId),

    /** A page of a user's followers or followees, newest first, after `afterId` (a user id). */
    async page(
      userId: string,
      direction: 'followers' | 'following',
      afterId: string | null,
      limit: number,
    ): Promise<{ userId: string; since: Date }[]> {
      const list = direction === 'followers' ? followers(userId) : following(userId);
      const flat = (await page.run(redis.command, [list], [afterId ?? '', limit])) as string[];
      const items: { userId: string; since: Date }[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        items.push({ userId: flat[i]!, since: new Date(Number(flat[i + 1])) });
      }
      return items;
    },

    /** Ids of everyone who follows `userId`. */
    followerIds: async (userId: string): Promise<string[]> =>
      (await members.run(redis.command, [followers(userId)], [])) as string[],

    /** Which of `candidateIds` follow `userId`. */
    async followersAmong(userId: string, candidateIds: readonly string[]): Promise<string[]> {
      if (candidateIds.length === 0) return [];
      const found = (await scores.run(redis.command, [followers(userId)], candidateIds)) as (
        string | null
      )[];
      return candidateIds.filter((_, i) => found[i] !== null);
    },

    /** The newest `limit` followees of each user, in order (one read for them all). */
    async newestFolloweesOfMany(userIds: readonly string[], limit: number): Promise<string[][]> {
      if (userIds.length === 0) return [];
      return (await newestOfMany.runSpread(
        redis.command,
        userIds.map((id) => ({ keys: [following(id)] })),
        { shared: [limit] },
      )) as string[][];
    },

    /**
     * Registers a rebuild step for what another module derives from follower counts: called
     * once per rebuild with every followed user's count.
     */
    onReplayFollowerCounts(replay: (counts: ReadonlyMap<string, number>) => Promise<void>): void {
      countReplayers.push(replay);
    },

    /** True when either user blocks the other (`a`'s blocking and blockedBy say both). */
    isBlockedBetween: async (a: string, b: string): Promise<boolean> =>
      Number(await blockedBetween.run(redis.command, [blocking(a), blockedBy(a)], [b])) > 0,
  };
}

export type RelationStore = ReturnType<typeof createRelationStore>;
