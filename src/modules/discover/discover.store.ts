import type { Logger } from '../../infra/logger.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { Redis, RedisClients } from '../../infra/redis.js';
import { createScript } from '../../infra/redis-script.js';
import { commonSlot, slotOf } from '../../infra/slots.js';

/** How trends are counted (config.ts, `trends`). */
export interface TrendSettings {
  readonly bucketMs: number;
  readonly windowBuckets: number;
  readonly decay: number;
  readonly refreshMs: number;
}

/** What is trended: hashtags (by tag) and truths (by id). */
export type TrendKind = 'hashtag' | 'truth';

/** The highest-scored members of one kind, as one computation found them. */
export interface TrendScores {
  hashtags: { member: string; score: number }[];
  truths: { member: string; score: number }[];
}

/**
 * How many shards the trend window is cut into: each member (a hashtag, a truth) belongs to one
 * (by the slot of its name), and every key of its uses is in its shard's slot.
 */
const trendShards = 16;

// KEYS: names, the user's indexed names. ARGV: id, JSON array of names. Replaces the user's
// entries (`<name>\0<id>`), so a display name that changed leaves nothing behind.
const indexSource = `
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  for _, name in ipairs(cjson.decode(old)) do redis.call('ZREM', KEYS[1], name .. '\\0' .. ARGV[1]) end
end
for _, name in ipairs(cjson.decode(ARGV[2])) do redis.call('ZADD', KEYS[1], 0, name .. '\\0' .. ARGV[1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`;

// KEYS: names. ARGV: prefix, how many ids, how many entries at most. The ids of the entries
// whose name starts with the prefix, in the names' order, each once (a user matched by two
// names shows once): a page's ids travel, not every entry read.
const searchSource = `
local entries = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1], '[' .. ARGV[1] .. '\\255', 'LIMIT', 0, tonumber(ARGV[3]))
local limit = tonumber(ARGV[2])
local ids, seen = {}, {}
for _, entry in ipairs(entries) do
  local id = string.match(entry, '[^%z]+$')
  if not seen[id] then
    seen[id] = true
    ids[#ids + 1] = id
    if #ids == limit then break end
  end
end
return ids
`;

// KEYS: tags, counts, tagged. ARGV: truth id, then its tags. Counts a truth's tags once.
const taggedSource = `
if redis.call('HSETNX', KEYS[3], ARGV[1], '1') == 0 then return 0 end
for i = 2, #ARGV do
  if redis.call('HINCRBY', KEYS[2], ARGV[i], 1) == 1 then redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
end
return 1
`;

// KEYS: tags, counts, tagged. ARGV: truth id, then its tags. Uncounts them once (and a truth
// deleted before it was counted is never counted).
const untaggedSource = `
local state = redis.call('HGET', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], 'd')
if not state or state == 'd' then return 0 end
for i = 2, #ARGV do
  if redis.call('HINCRBY', KEYS[2], ARGV[i], -1) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return 1
`;

// KEYS: tags, counts, tagged. ARGV: truth id, the edit's revision, how many tags it dropped,
// then the dropped tags, then the added ones. A truth's state in `tagged` is '1' (its tags as
// posted are counted), 'r:<revision>' (an edit's), or 'd' (deleted): an edit's change is
// counted once, and never one older than what is counted.
const retaggedSource = `
local state = redis.call('HGET', KEYS[3], ARGV[1])
if state == 'd' then return 0 end
local current = 0
if state and state ~= '1' then current = tonumber(string.sub(state, 3)) end
if current >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], 'r:' .. ARGV[2])
local dropped = tonumber(ARGV[3])
for i = 4, 3 + dropped do
  if redis.call('HINCRBY', KEYS[2], ARGV[i], -1) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
for i = 4 + dropped, #ARGV do
  if redis.call('HINCRBY', KEYS[2], ARGV[i], 1) == 1 then redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
end
return 1
`;

// KEYS: tags, counts. ARGV: prefix, how many. Flat tag, count pairs in alphabetical order.
const tagPrefixSource = `
local tags = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1], '[' .. ARGV[1] .. '\\255', 'LIMIT', 0, tonumber(ARGV[2]))
if #tags == 0 then return {} end
local counts = redis.call('HMGET', KEYS[2], unpack(tags))
local out = {}
for i, tag in ipairs(tags) do
  out[#out + 1] = tag
  out[#out + 1] = counts[i] or '0'
end
return out
`;

// Trend scores are kept running, per shard and kind, so that reading the top is one ZREVRANGE
// however many members the window holds. A member's running score is the sum, over the window's
// buckets b, of its count there times `growth ** (b - epoch)` (growth = 1 / decay): its trend
// score times `growth ** (current - epoch)`, one factor for every member, so the order is the
// trend order, and a use adds one term without touching anyone else. A bucket leaving the window
// is drained: its terms are taken out member by member (`begin`, `apply`). State, in a hash: `e`
// the epoch, `f` the oldest bucket still in the running scores, `d` a bucket being drained.

// Shared: fmt (a number as Redis reads it back exactly), and ensure (the state, made when
// missing, with the running scores summed from the window's buckets given as KEYS, the newest at
// `first`, each `stride` further).
const fmtLua = `local function fmt(x) return string.format('%.17g', x) end`;
const runningLua = `
${fmtLua}
local function recompute(state, run, current, growth, window, first, stride)
  local args = { run, window }
  for age = 0, window - 1 do args[#args + 1] = KEYS[first + stride * age] end
  args[#args + 1] = 'WEIGHTS'
  for age = 0, window - 1 do args[#args + 1] = fmt(growth ^ (-age)) end
  redis.call('ZUNIONSTORE', unpack(args))
  redis.call('HDEL', state, 'd')
  redis.call('HSET', state, 'e', current, 'f', current - window + 1)
  return current, current - window + 1
end
local function ensure(state, run, current, growth, window, first, stride)
  local ef = redis.call('HMGET', state, 'e', 'f')
  if ef[1] then return tonumber(ef[1]), tonumber(ef[2]) end
  return recompute(state, run, current, growth, window, first, stride)
end
`;

// KEYS: the state, the running scores, then per bucket of the window, newest first: the
// accounts set of the member, the bucket's scores. ARGV: member, account, the age of the use's
// bucket (0: newest), TTL in ms, the newest bucket, growth, the window's buckets. One account
// counts once per member per window, in the bucket of its latest use: an older use moves to the
// newer bucket, a use older than one already counted changes nothing. Buckets already drained
// (older than `f`) are out of the window.
const recordSource = `
${runningLua}
local member, account, target, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local current, growth, window = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local e, from = ensure(KEYS[1], KEYS[2], current, growth, window, 4, 2)
if current - target < from then return 0 end
for age = 0, window - 1 do
  if current - age < from then break end
  local accounts, scores = KEYS[2 * age + 3], KEYS[2 * age + 4]
  if redis.call('SISMEMBER', accounts, account) == 1 then
    if age <= target then return 0 end
    redis.call('SREM', accounts, account)
    if tonumber(redis.call('ZINCRBY', scores, -1, member)) <= 0 then redis.call('ZREM', scores, member) end
    redis.call('ZINCRBY', KEYS[2], fmt(-(growth ^ (current - age - e))), member)
  end
end
local accounts, scores = KEYS[2 * target + 3], KEYS[2 * target + 4]
redis.call('SADD', accounts, account)
redis.call('ZINCRBY', scores, 1, member)
redis.call('PEXPIRE', accounts, ttl)
redis.call('PEXPIRE', scores, ttl)
redis.call('ZINCRBY', KEYS[2], fmt(growth ^ (current - target - e)), member)
return 1
`;

// KEYS: the state, the running scores, then the window's bucket scores, newest first. ARGV: the
// newest bucket, growth, the window's buckets, how many buckets past the window a bucket's keys
// are sure to outlive. The bucket to drain next (one being drained first), or -1 when none is
// due. A state whose oldest bucket is older than its keys are sure to be is summed again from
// the window; so is a state whose factors grew large (a new epoch).
const beginSource = `
${runningLua}
local current, growth, window, slack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local e, from = ensure(KEYS[1], KEYS[2], current, growth, window, 3, 1)
local oldest = current - window - slack
local draining = redis.call('HGET', KEYS[1], 'd')
if draining then
  if tonumber(draining) >= oldest then return tonumber(draining) end
elseif from > current - window then
  if (current - e) * math.log10(growth) > 100 then
    redis.call('ZUNIONSTORE', KEYS[2], 1, KEYS[2], 'WEIGHTS', fmt(growth ^ (e - current)))
    redis.call('HSET', KEYS[1], 'e', current)
  end
  return -1
elseif from >= oldest then
  redis.call('HSET', KEYS[1], 'd', from, 'f', from + 1)
  return from
end
recompute(KEYS[1], KEYS[2], current, growth, window, 3, 1)
return -1
`;

// KEYS: a bucket's scores. ARGV: how many. Members of the bucket, to drain.
const drainedSource = `return redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)`;

// KEYS: the state, the running scores, the bucket's scores, then each member's accounts set.
// ARGV: the bucket, growth, then the members. Takes each member's term for the bucket out of
// its running score (once: the member leaves the bucket as it does), drops a member left with
// no term (below half the smallest term a use in the window adds), and deletes the bucket's
// keys: UNLINK, since a popular hashtag's accounts set holds a good part of the network and a
// DEL would free it inside the script (25 ms for #launch on the launch-scale network). When the
// bucket is empty it is drained. How many members it has left.
const applySource = `
${fmtLua}
local bucket, growth = tonumber(ARGV[1]), tonumber(ARGV[2])
local draining = redis.call('HGET', KEYS[1], 'd') == ARGV[1]
local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '0')
local weight = growth ^ (bucket - e)
local least = 0.5 * growth ^ (bucket + 1 - e)
for i = 3, #ARGV do
  local member = ARGV[i]
  local count = redis.call('ZSCORE', KEYS[3], member)
  if count then
    if draining then
      local left = tonumber(redis.call('ZINCRBY', KEYS[2], fmt(-tonumber(count) * weight), member))
      if left < least then redis.call('ZREM', KEYS[2], member) end
    end
    redis.call('ZREM', KEYS[3], member)
  end
  redis.call('UNLINK', KEYS[i + 1])
end
local left = redis.call('ZCARD', KEYS[3])
if left == 0 and draining then redis.call('HDEL', KEYS[1], 'd') end
return left
`;

// KEYS: per kind, the state and the running scores. ARGV: how many. Per kind: the epoch ('' when
// there is no state yet) and its top members with their running scores.
const topScoresSource = `
local limit = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, 2 do
  out[#out + 1] = redis.call('HGET', KEYS[i], 'e') or ''
  out[#out + 1] = redis.call('ZREVRANGE', KEYS[i + 1], 0, limit - 1, 'WITHSCORES')
end
return out
`;

const getSource = `return redis.call('GET', KEYS[1])`;
const setSource = `redis.call('SET', KEYS[1], ARGV[1]) return 1`;
const lockSource = `return redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) and 1 or 0`;
const topSource = `return redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)`;
const popularSource = `redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) return 1`;

/**
 * The names a user is found by: the username key, the display name, and each later word of
 * the display name, lower-cased, at most six.
 */
export function searchNamesOf(user: { usernameKey: string; displayName: string }): string[] {
  // Accounts of earlier versions may lack a display name.
  const display = normalizeSearch(user.displayName ?? '');
  const words = display.split(/\s+/).filter((word) => word !== '');
  return [...new Set([user.usernameKey, display, ...words.slice(1, 5)])].filter(
    (name) => name !== '',
  );
}

/** Text as the indexes hold it: NFC, lower-cased, trimmed, without control characters. */
export function normalizeSearch(text: string): string {
  return text
    .normalize('NFC')
    .toLowerCase()
    .replace(/\p{Cc}/gu, '')
    .trim();
}

/**
 * Discover's part of the read model (infra/read-model.ts), under `disc:`:
 *
 * - `disc:names:{disc-names}`: every user's names (`searchNamesOf`) as `<name>\0<id>`, for
 *   prefix search by ZRANGEBYLEX; `disc:nk:{disc-names}` holds each user's indexed names, so a
 *   change replaces them.
 * - `disc:tags:{disc-tags}` (tags, for prefix search), `disc:tagn:{disc-tags}` (each tag's
 *   count of live truths) and `disc:tagged:{disc-tags}` (each tagged truth: counted `1` or
 *   deleted `d`, so effects count once).
 * - `disc:tr:{disc-trends:<shard>}:<h|t>:<bucket>`: per time bucket, each hashtag's (truth's)
 *   count of accounts whose latest use (engagement) in the window fell in it, for the members
 *   of one shard (`trendShards`), and `disc:tr:{disc-trends:<shard>}:<h|t>:<bucket>:<member>`
 *   those accounts; both are deleted as the bucket is drained after it left the window, and
 *   expire two buckets later in any case. `...:<h|t>:run` the shard's running scores (the
 *   order of the trends) and `...:<h|t>:state` their epoch, oldest bucket and bucket being
 *   drained (see `runningLua`).
 * - `disc:popular`: users by follower count, as of their latest new follower.
 * - `disc:trends`: the latest computed trends, and `disc:trends:lock` who computes the next.
 *
 * Redis Cluster slots (infra/slots.ts): these are global indexes, not any one entity's keys.
 * Each group that one script combines shares one hash tag, so it lives in one slot: the names
 * (a rename replaces a user's entries by what `nk` says were indexed) and the hashtag counts (a
 * truth's tags counted once, guarded by `tagged`); their load stays on one node each. The
 * trend window, which every post and reaction writes, is cut into shards instead: a use
 * changes only its member's keys (it moves an account between the buckets of one member), so
 * a shard holds whole members, each shard is one slot, and the uses spread over the shards;
 * the trends are each shard's top, merged. The keys no script combines (`popular`, the
 * snapshot, the lock) have no tag and fall where they hash.
 *
 * Rebuilt from what the users, truths, reactions and follows modules replay during their own
 * rebuilds (each one's `onReplay`): nothing here reads MongoDB itself.
 */
export function createDiscoverStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  trends: TrendSettings;
  logger: Logger;
}) {
  const { model, redis, trends } = deps;
  const key = (name: string) => `${model.prefix}disc:${name}`;
  /** The prefix of a shard's keys of the trend window, all in its slot. */
  const trendShard = (shard: number) => key(`tr:{disc-trends:${shard}}:`);
  const shardOf = (member: string) => slotOf(member) % trendShards;
  const keys = {
    names: key('names:{disc-names}'),
    indexed: key('nk:{disc-names}'),
    tags: key('tags:{disc-tags}'),
    counts: key('tagn:{disc-tags}'),
    tagged: key('tagged:{disc-tags}'),
    popular: key('popular'),
    snapshot: key('trends'),
    lock: key('trends:lock'),
    upkeep: key('trends:upkeep'),
  };
  const code = (kind: TrendKind) => (kind === 'hashtag' ? 'h' : 't');
  const bucketScores = (shard: number, kind: TrendKind, bucket: number) =>
    `${trendShard(shard)}${code(kind)}:${bucket}`;
  // The member after the tag: a hashtag holding braces cannot move the key to another slot.
  const bucketAccounts = (kind: TrendKind, bucket: number, member: string) =>
    `${trendShard(shardOf(member))}${code(kind)}:${bucket}:${member}`;

  const index = model.script(indexSource);
  const search = model.script(searchSource);
  const tagged = model.script(taggedSource);
  const untagged = model.script(untaggedSource);
  const retagged = model.script(retaggedSource);
  const tagPrefix = model.script(tagPrefixSource);
  const record = model.script(recordSource);
  const begin = model.script(beginSource);
  const drained = model.script(drainedSource);
  const apply = model.script(applySource);
  const topScores = model.script(topScoresSource);
  const get = model.script(getSource);
  const set = model.script(setSource);
  const lock = model.script(lockSource);
  const top = model.script(topSource);
  const popular = model.script(popularSource);
  // The same steps without the readiness check, for the rebuild (the model is not ready then).
  // They skip the model's check of one slot as well, so it is made here: a single Redis then
  // refuses the keys a cluster would.
  const rebuildScript = (source: string) => {
    const script = createScript(source);
    return {
      run: (client: Redis, scriptKeys: readonly string[], args: readonly (string | number)[]) => {
        commonSlot(scriptKeys);
        return script.run(client, scriptKeys, args);
      },
    };
  };
  const rebuildRecord = rebuildScript(recordSource);
  const rebuildIndex = rebuildScript(indexSource);

  const bucketOf = (ms: number) => Math.floor(ms / trends.bucketMs);
  /** How many buckets past the window a bucket's keys outlive its last use (for draining). */
  const slackBuckets = 2;
  const ttlMs = (trends.windowBuckets + 1 + slackBuckets) * trends.bucketMs;
  /** Each bucket weighs this many times the one before it, in the running scores. */
  const growth = String(1 / trends.decay);
  const running = (shard: number, kind: TrendKind) => ({
    state: `${trendShard(shard)}${code(kind)}:state`,
    run: `${trendShard(shard)}${code(kind)}:run`,
  });
  const windowOf = (current: number) =>
    Array.from({ length: trends.windowBuckets }, (_, age) => current - age);

  /** The keys and arguments of a use at `atMs`, seen at `nowMs`; null outside the window. */
  const use = (kind: TrendKind, member: string, account: string, atMs: number, nowMs: number) => {
    const current = bucketOf(nowMs);
    const age = Math.max(0, current - bucketOf(atMs));
    if (age >= trends.windowBuckets) return null;
    const shard = shardOf(member);
    const { state, run } = running(shard, kind);
    const scriptKeys: string[] = [state, run];
    for (const bucket of windowOf(current)) {
      scriptKeys.push(bucketAccounts(kind, bucket, member), bucketScores(shard, kind, bucket));
    }
    return {
      keys: scriptKeys,
      args: [member, account, age, ttlMs, current, growth, trends.windowBuckets],
    };
  };

  /** Members drained from a bucket per step: each step is one short script. */
  const drainStep = 500;

  /** Takes the buckets that left the window at `current` out of one shard's running scores. */
  const drainShard = async (shard: number, kind: TrendKind, current: number) => {
    const { state, run } = running(shard, kind);
    const windowScores = windowOf(current).map((bucket) => bucketScores(shard, kind, bucket));
    for (;;) {
      const bucket = Number(
        await begin.run(
          redis.command,
          [state, run, ...windowScores],
          [current, growth, trends.windowBuckets, slackBuckets],
        ),
      );
      if (bucket < 0) return;
      const scoresKey = bucketScores(shard, kind, bucket);
      for (;;) {
        const members = (await drained.run(redis.command, [scoresKey], [drainStep])) as string[];
        const left = (await apply.run(
          redis.command,
          [state, run, scoresKey, ...members.map((member) => bucketAccounts(kind, bucket, member))],
          [bucket, growth, ...members],
        )) as number;
        if (left === 0 || members.length === 0) break;
      }
    }
  };

  const pairs = (flat: string[]) => {
    const out: { member: string; score: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      out.push({ member: flat[i]!, score: Number(flat[i + 1]) });
    }
    return out;
  };

  return {
    keys,

    /** Indexes a user's names (a new account, a changed display name). */
    async indexUser(user: {
      _id: { toHexString(): string };
      usernameKey: string;
      displayName: string;
    }) {
      await index.run(
        redis.command,
        [keys.names, keys.indexed],
        [user._id.toHexString(), JSON.stringify(searchNamesOf(user))],
      );
    },

    /** Up to `limit` user ids whose names start with `prefix`, in the names' order. */
    async searchUsers(prefix: string, limit: number): Promise<string[]> {
      // Entries enough for every user matched by two names.
      return (await search.run(
        redis.command,
        [keys.names],
        [prefix, limit, limit * 4],
      )) as string[];
    },

    /** Counts a stored truth's hashtags (once). */
    async truthTagged(truthId: string, hashtags: readonly string[]): Promise<void> {
      await tagged.run(
        redis.command,
        [keys.tags, keys.counts, keys.tagged],
        [truthId, ...hashtags],
      );
    },

    /** Uncounts a deleted truth's hashtags (once). */
    async truthUntagged(truthId: string, hashtags: readonly string[]): Promise<void> {
      await untagged.run(
        redis.command,
        [keys.tags, keys.counts, keys.tagged],
        [truthId, ...hashtags],
      );
    },

    /** Recounts an edited truth's hashtags: `dropped` uncounted, `added` counted, once. */
    async truthRetagged(
      truthId: string,
      revision: number,
      dropped: readonly string[],
      added: readonly string[],
    ): Promise<void> {
      await retagged.run(
        redis.command,
        [keys.tags, keys.counts, keys.tagged],
        [truthId, revision, dropped.length, ...dropped, ...added],
      );
    },

    /** Up to `limit` hashtags starting with `prefix`, alphabetically, with their counts. */
    async hashtagsByPrefix(prefix: string, limit: number) {
      const flat = (await tagPrefix.run(
        redis.command,
        [keys.tags, keys.counts],
        [prefix, limit],
      )) as string[];
      return pairs(flat).map(({ member, score }) => ({ tag: member, truthCount: score }));
    },

    /** Records that `account` used a hashtag (engaged with a truth) at `atMs`; true if counted. */
    async recordUse(
      kind: TrendKind,
      member: string,
      account: string,
      atMs: number,
      nowMs: number,
    ): Promise<boolean> {
      const step = use(kind, member, account, atMs, nowMs);
      return step ? (await record.run(redis.command, step.keys, step.args)) === 1 : false;
    },

    /**
     * Takes the buckets that left the window by `nowMs` out of the running scores, every shard
     * and kind at once. Safe to run anywhere at any time: each member's term is taken out once.
     */
    async drain(nowMs: number): Promise<void> {
      const current = bucketOf(nowMs);
      await Promise.all(
        Array.from({ length: trendShards }, (_, shard) =>
          Promise.all([drainShard(shard, 'hashtag', current), drainShard(shard, 'truth', current)]),
        ),
      );
    },

    /**
     * The highest `limit` scores of each kind at `nowMs`: the window drained, then each shard's
     * top read (one round trip on a single Redis), however many members the window holds.
     */
    async computeScores(nowMs: number, limit: number): Promise<TrendScores> {
      await this.drain(nowMs);
      const current = bucketOf(nowMs);
      const shards = (await Promise.all(
        Array.from({ length: trendShards }, (_, shard) => {
          const hashtags = running(shard, 'hashtag');
          const truths = running(shard, 'truth');
          return topScores.run(
            redis.command,
            [hashtags.state, hashtags.run, truths.state, truths.run],
            [limit],
          );
        }),
      )) as [string, string[], string, string[]][];
      // A running score times decay ** (current - epoch) is the trend score.
      const scaled = (epoch: string, flat: string[]) =>
        epoch === ''
          ? []
          : pairs(flat).map(({ member, score }) => ({
              member,
              score: score * trends.decay ** (current - Number(epoch)),
            }));
      // Highest first, equal scores in reverse name order (as one ZREVRANGE would give them);
      // the top of all is among the shards' tops, since a member is in one shard only.
      const top = (lists: { member: string; score: number }[][]) =>
        lists
          .flat()
          .sort((a, b) => b.score - a.score || (a.member < b.member ? 1 : -1))
          .slice(0, limit);
      return {
        hashtags: top(shards.map(([epoch, flat]) => scaled(epoch, flat))),
        truths: top(shards.map(([, , epoch, flat]) => scaled(epoch, flat))),
      };
    },

    /** The latest computed trends (JSON), if any. */
    snapshot: async (): Promise<string | null> =>
      (await get.run(redis.command, [keys.snapshot], [])) as string | null,
    saveSnapshot: async (text: string): Promise<void> => {
      await set.run(redis.command, [keys.snapshot], [text]);
    },
    /** Whether this caller computes the next trends (one instance per `ms`). */
    claimRefresh: async (ms: number): Promise<boolean> =>
      (await lock.run(redis.command, [keys.lock], [ms])) === 1,
    /** Whether this caller drains the trend window now (one instance per `ms`). */
    claimUpkeep: async (ms: number): Promise<boolean> =>
      (await lock.run(redis.command, [keys.upkeep], [ms])) === 1,

    /** Sets a user's follower count in the popularity ranking. */
    async setFollowerCount(userId: string, followers: number): Promise<void> {
      await popular.run(redis.command, [keys.popular], [followers, userId]);
    },
    /** The `limit` most followed users, most followed first. */
    popular: async (limit: number): Promise<string[]> =>
      (await top.run(redis.command, [keys.popular], [limit])) as string[],

    /** The rebuild's writes (raw `client`: the model is not ready while it is rebuilt). */
    rebuild: {
      async indexUsers(
        client: Redis,
        users: readonly {
          _id: { toHexString(): string };
          usernameKey: string;
          displayName: string;
        }[],
      ) {
        await Promise.all(
          users.map((user) =>
            rebuildIndex.run(
              client,
              [keys.names, keys.indexed],
              [user._id.toHexString(), JSON.stringify(searchNamesOf(user))],
            ),
          ),
        );
      },
      async tags(
        client: Redis,
        truths: readonly {
          id: string;
          hashtags: readonly string[];
          deleted: boolean;
          revision: number;
        }[],
      ) {
        // The hashtag counts' keys, in one slot: a pipeline even on a cluster.
        const pipeline = client.pipeline();
        for (const truth of truths) {
          if (truth.hashtags.length === 0 && truth.revision === 0) continue;
          pipeline.hset(
            keys.tagged,
            truth.id,
            truth.deleted ? 'd' : truth.revision > 0 ? `r:${truth.revision}` : '1',
          );
          if (truth.deleted) continue;
          for (const tag of truth.hashtags) {
            pipeline.hincrby(keys.counts, tag, 1);
            pipeline.zadd(keys.tags, 0, tag);
          }
        }
        await pipeline.exec();
      },
      async uses(
        client: Redis,
        uses: readonly { kind: TrendKind; member: string; account: string; atMs: number }[],
        nowMs: number,
      ) {
        // In order: an account's later use must find its earlier one.
        for (const { kind, member, account, atMs } of uses) {
          const step = use(kind, member, account, atMs, nowMs);
          if (step) await rebuildRecord.run(client, step.keys, step.args);
        }
      },
      async followerCounts(client: Redis, counts: ReadonlyMap<string, number>) {
        let pipeline = client.pipeline();
        let queued = 0;
        for (const [userId, followers] of counts) {
          pipeline.zadd(keys.popular, followers, userId);
          if (++queued % 2_000 === 0) {
            await pipeline.exec();
            pipeline = client.pipeline();
          }
        }
        await pipeline.exec();
      },
    },
  };
}

export type DiscoverStore = ReturnType<typeof createDiscoverStore>;
