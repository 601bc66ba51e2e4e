import type { ReadModel } from '../../infra/read-model.js';
import type { RedisClients } from '../../infra/redis.js';

/**
 * The feeds' lists in Redis, one sorted set each: the public feed, each hashtag, each author's
 * truths, and each user's home timeline. Members are truth ids; scores are **positions**.
 *
 * A position is given when a truth enters a list, by the same Lua script that adds it and
 * PUBLISHes its live event: `max(last + 1, server time in ms × 1024)`, from one counter for all
 * lists. So, in every list and across lists, position order is the order in which Redis ran the
 * publishing scripts, which is the order in which every subscriber receives the events: a
 * subscriber that received the truth at position p has received everything published before
 * it, and everything after p is exactly what it missed. That is what makes catching up from a
 * cursor exact, however long a truth's other writes took before it was published.
 *
 * A cursor stays a truth id. Its position is looked up in the lists being read; a cursor whose
 * truth is no longer in them (deleted, trimmed off a timeline) falls back to a position from
 * the id's own creation time. Pages and catch-up walk positions, ties (only between truths
 * rebuilt with the same creation millisecond) broken by id.
 *
 * The public, hashtag and author lists are part of the read model (infra/read-model.ts):
 * complete, rebuilt from every truth when Redis lost them, each truth at the position of its
 * creation time. Home timelines are caches: capped, expiring, and complete once they hold the
 * sentinel member '' (at -inf), which only `store` adds; readers see `missing` for a timeline
 * without it and rebuild it from the author lists (see feed.service.ts). Publishing adds to a
 * timeline whether or not it is complete, so a truth published while it is being rebuilt is
 * kept either way.
 */
export interface FeedLists {
  readonly keys: ReturnType<typeof feedListKeys>;
  /**
   * Adds `truthId` at one new position to every list that does not hold it yet, and publishes
   * `payload` on the channel of each list it was added to, in one step; a home timeline (a list
   * with a `capacity`) is trimmed to it; a missing one is made, incomplete and expiring, so the
   * truth keeps the position its owner heard of it at, and its next read rebuilds it around
   * that. Idempotent: a second call adds and publishes nothing. Home timelines are given in
   * batches, each its own step (and position).
   */
  publish(
    truthId: string,
    payload: string,
    targets: readonly ListTarget[],
    routeChannel?: string,
  ): Promise<void>;
  /** Removes `truthId` from these lists. */
  remove(truthId: string, lists: readonly string[]): Promise<void>;
  /**
   * Up to `limit` truth ids after `after` across `lists`, merged by position: newest first for
   * pages (`desc`), oldest first for catching up (`asc`). With `timeline`, the first list is a
   * home timeline: `missing` when it must be rebuilt, and its TTL is refreshed.
   */
  read(
    lists: readonly string[],
    after: ListCursor | null,
    limit: number,
    order: 'asc' | 'desc',
    options?: { timeline?: boolean },
  ): Promise<{ ids: string[] } | { missing: string }>;
  /**
   * Rebuilds a home timeline from the newest `perAuthor` truths of each of `authorLists` (its
   * owner's and their non-whale followees'), adding to what was published meanwhile, and marks
   * it complete.
   */
  rebuildTimeline(timeline: string, authorLists: readonly string[]): Promise<void>;
  /** Adds an author's newest truths to a timeline, if it exists (a new follow). */
  mergeIntoTimeline(timeline: string, authorList: string): Promise<void>;
  /** Takes many truths out of lists at once: members by list (a suspended author's). */
  withdraw(members: ReadonlyMap<string, readonly string[]>): Promise<void>;
  /**
   * Puts truths back into lists that do not hold them, each at the position of its creation
   * time (a suspension lifted): as a rebuild would place them.
   */
  restore(entries: readonly { list: string; entry: RebuiltEntry }[]): Promise<void>;
  /** Adds rebuilt truths to the lists the read model keeps (its rebuild). */
  replay(entries: readonly { list: string; entry: RebuiltEntry }[]): Promise<void>;
  /** Drops a timeline; the next read rebuilds it. */
  drop(list: string): Promise<void>;
}

/** One list to publish into. */
export interface ListTarget {
  key: string;
  /** The channel its subscribers listen on; none when empty. */
  channel?: string;
  /** Whom to announce it to on the step's route channel (a home timeline's owner). */
  recipient?: string;
  /** A home timeline's cap: only an existing timeline is added to (see publishSource). */
  capacity?: number;
}

/** Where a read starts: after a truth (a cursor), or after a position. */
export type ListCursor = { truthId: string } | { position: number };

/** A truth as a rebuild knows it. */
export interface RebuiltEntry {
  truthId: string;
  createdAt: Date;
}

/** Redis keys of the feeds' lists, under the read model's prefix. */
export function feedListKeys(prefix: string) {
  return {
    /** The last position given. */
    position: `${prefix}fd:pos`,
    /** Every live truth that is not a reply. */
    public: `${prefix}fd:pub`,
    /** Live truths carrying a hashtag (lower-case, without '#'). */
    hashtag: (tag: string) => `${prefix}fd:tag:${tag}`,
    /** Every live truth of an author, replies and retruths included. */
    author: (authorId: string) => `${prefix}fd:au:${authorId}`,
    /** Every live truth of an author but replies (their profile's default). */
    authorPosts: (authorId: string) => `${prefix}fd:ap:${authorId}`,
    /** A user's home timeline: fanned-out truths of whom they follow, and their own; capped. */
    timeline: (userId: string) => `${prefix}tl:${userId}`,
    /** Accounts whose truths are not fanned out (see feed.service.ts). */
    whales: `${prefix}whales`,
  };
}

/** Positions per millisecond: room for 1,024 publications in one millisecond before drifting. */
const perMs = 1_024;

/** The position of an instant: where a feed that starts then, without a cursor, starts. */
export const positionAt = (timeMs: number) => timeMs * perMs;

/**
 * The position a truth gets when its list is rebuilt: its creation time (truths created in the
 * same millisecond tie, and ties go by id, in creation order within a process).
 */
export const rebuiltPosition = (entry: RebuiltEntry): number =>
  positionAt(entry.createdAt.getTime());

/** The position to use for a cursor whose truth is in none of the lists: its id's time. */
export const fallbackPosition = (truthId: string): number =>
  positionAt(parseInt(truthId.slice(0, 8), 16) * 1_000);

// KEYS[1]: the position counter; then the lists. ARGV: member, payload, route channel ('':
// none), a new home timeline's ttl, then per list: capacity (0: none; a home timeline
// otherwise), channel ('': none), recipient ('': none). A list takes the member once (NX); its
// channel hears of it then. A home timeline that does not exist is made, incomplete (no
// sentinel: its next read rebuilds it around what it holds), so that the truth keeps this
// step's position, the one its recipient hears of it at. Recipients are announced together, in
// one message on the route channel (infra/pubsub.ts, addressed topics).
const publishSource = `
local t = redis.call('TIME')
local now = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) * ${perMs}
local pos = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
if now > pos then pos = now end
local added = 0
local recipients = {}
for i = 2, #KEYS do
  local base = 3 * (i - 2) + 4
  local capacity = tonumber(ARGV[base + 1])
  local made = capacity > 0 and redis.call('EXISTS', KEYS[i]) == 0
  local fresh = redis.call('ZADD', KEYS[i], 'NX', pos, ARGV[1]) == 1
  if fresh then
    added = added + 1
    if made then
      redis.call('EXPIRE', KEYS[i], ARGV[4])
    elseif capacity > 0 then
      local size = redis.call('ZCARD', KEYS[i])
      if size > capacity + 1 then redis.call('ZREMRANGEBYRANK', KEYS[i], 1, size - capacity - 1) end
    end
  end
  if fresh then
    if ARGV[base + 2] ~= '' then publish(ARGV[base + 2], ARGV[2]) end
    if ARGV[base + 3] ~= '' then recipients[#recipients + 1] = ARGV[base + 3] end
  end
end
if #recipients > 0 then
  publish(ARGV[3], table.concat(recipients, ',') .. '\\n' .. ARGV[2])
end
if added > 0 then redis.call('SET', KEYS[1], string.format('%.0f', pos)) end
return added
`;

// KEYS: the lists. ARGV: cursor member ('' for none), cursor position ('' for none: from the
// newest), limit, 'asc' or 'desc', ttl of a timeline that is the first list (0: no timeline).
// Returns {'missing', key} or {'ok', member, position, member, position, ...}.
const readSource = `
if ARGV[5] ~= '0' then
  if not redis.call('ZSCORE', KEYS[1], '') then return {'missing', KEYS[1]} end
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
local limit = tonumber(ARGV[3])
local desc = ARGV[4] == 'desc'
local m = ARGV[1]
local s = nil
if m ~= '' then
  for i = 1, #KEYS do
    s = redis.call('ZSCORE', KEYS[i], m)
    if s then break end
  end
end
if not s and ARGV[2] ~= '' then s = ARGV[2] end
local sn = s and tonumber(s)
local out = {'ok'}
for i = 1, #KEYS do
  local items
  if not s then
    items = redis.call('ZREVRANGEBYSCORE', KEYS[i], '+inf', '(-inf', 'WITHSCORES', 'LIMIT', 0, limit)
  else
    local ties = redis.call('ZCOUNT', KEYS[i], s, s)
    if desc then
      items = redis.call('ZREVRANGEBYSCORE', KEYS[i], s, '(-inf', 'WITHSCORES', 'LIMIT', 0, limit + ties)
    else
      items = redis.call('ZRANGEBYSCORE', KEYS[i], s, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + ties)
    end
  end
  for j = 1, #items, 2 do
    local member = items[j]
    local keep = member ~= ''
    if keep and sn and tonumber(items[j + 1]) == sn then
      if desc then keep = member < m else keep = member > m end
    end
    if keep then
      out[#out + 1] = member
      out[#out + 1] = items[j + 1]
    end
  end
end
return out
`;

// KEYS[1]: the timeline, then author lists. ARGV: capacity, ttl, newest per author. Existing
// members keep their positions (NX): they were published live.
const rebuildTimelineSource = `
for i = 2, #KEYS do
  local items = redis.call('ZREVRANGE', KEYS[i], 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
  for j = 1, #items, 2 do redis.call('ZADD', KEYS[1], 'NX', items[j + 1], items[j]) end
end
redis.call('ZADD', KEYS[1], '-inf', '')
local capacity = tonumber(ARGV[1])
local size = redis.call('ZCARD', KEYS[1])
if size > capacity + 1 then redis.call('ZREMRANGEBYRANK', KEYS[1], 1, size - capacity - 1) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

// KEYS: the timeline, an author list. ARGV: capacity, newest per author.
const mergeSource = `
if not redis.call('ZSCORE', KEYS[1], '') then return 0 end
local items = redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
for j = 1, #items, 2 do redis.call('ZADD', KEYS[1], 'NX', items[j + 1], items[j]) end
local capacity = tonumber(ARGV[1])
local size = redis.call('ZCARD', KEYS[1])
if size > capacity + 1 then redis.call('ZREMRANGEBYRANK', KEYS[1], 1, size - capacity - 1) end
return 1
`;

// KEYS[1]: a list. ARGV: members.
const withdrawSource = `return redis.call('ZREM', KEYS[1], unpack(ARGV))`;

// KEYS[1]: a list. ARGV: position, member, position, member, ...
const restoreSource = `return redis.call('ZADD', KEYS[1], 'NX', unpack(ARGV))`;

/** Members per step of `withdraw` and `restore` (Lua's unpack takes a few thousand). */
const stepMembers = 1_000;

const removeSource = `
for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1]) end
return 1
`;

/** Timelines per publishing step: one step blocks Redis for about a millisecond. */
const batchSize = 500;

export function createFeedLists(options: {
  model: ReadModel;
  redis: RedisClients;
  timelineCapacity: number;
  timelineTtlSeconds: number;
  /** How many of each author's newest truths a rebuilt timeline takes. */
  perAuthor?: number;
}): FeedLists {
  const { model, redis, timelineCapacity, timelineTtlSeconds } = options;
  const perAuthor = options.perAuthor ?? 100;
  const keys = feedListKeys(model.prefix);
  const publishScript = model.script(publishSource);
  const readScript = model.script(readSource);
  const rebuildTimelineScript = model.script(rebuildTimelineSource);
  const mergeScript = model.script(mergeSource);
  const removeScript = model.script(removeSource);
  const withdrawScript = model.script(withdrawSource);
  const restoreScript = model.script(restoreSource);

  const publishStep = (
    truthId: string,
    payload: string,
    targets: readonly ListTarget[],
    routeChannel: string,
  ) =>
    publishScript.run(
      redis.command,
      [keys.position, ...targets.map((target) => target.key)],
      [
        truthId,
        payload,
        routeChannel,
        timelineTtlSeconds,
        ...targets.flatMap((target) => [
          target.capacity ?? 0,
          target.channel ?? '',
          target.recipient ?? '',
        ]),
      ],
    );

  return {
    keys,

    async publish(truthId, payload, targets, routeChannel = '') {
      const steps: Promise<unknown>[] = [];
      for (let i = 0; i < targets.length; i += batchSize) {
        steps.push(publishStep(truthId, payload, targets.slice(i, i + batchSize), routeChannel));
      }
      await Promise.all(steps);
    },

    async remove(truthId, lists) {
      for (let i = 0; i < lists.length; i += batchSize) {
        await removeScript.run(redis.command, lists.slice(i, i + batchSize), [truthId]);
      }
    },

    async read(lists, after, limit, order, readOptions = {}) {
      const reply = (await readScript.run(redis.command, lists, [
        after && 'truthId' in after ? after.truthId : '',
        after ? String('position' in after ? after.position : fallbackPosition(after.truthId)) : '',
        limit,
        order,
        readOptions.timeline ? timelineTtlSeconds : 0,
      ])) as string[];
      if (reply[0] === 'missing') return { missing: reply[1]! };
      const entries: { id: string; position: number }[] = [];
      const seen = new Set<string>();
      for (let i = 1; i < reply.length; i += 2) {
        const id = reply[i]!;
        if (seen.has(id)) continue;
        seen.add(id);
        entries.push({ id, position: Number(reply[i + 1]) });
      }
      if (lists.length > 1) {
        const sign = order === 'desc' ? -1 : 1;
        entries.sort((a, b) =>
          a.position !== b.position
            ? sign * (a.position - b.position)
            : sign * (a.id < b.id ? -1 : 1),
        );
      }
      return { ids: entries.slice(0, limit).map((entry) => entry.id) };
    },

    async rebuildTimeline(timeline, authorLists) {
      await rebuildTimelineScript.run(
        redis.command,
        [timeline, ...authorLists],
        [timelineCapacity, timelineTtlSeconds, perAuthor],
      );
    },

    async mergeIntoTimeline(timeline, authorList) {
      await mergeScript.run(redis.command, [timeline, authorList], [timelineCapacity, perAuthor]);
    },

    async withdraw(members) {
      for (const [list, ids] of members) {
        for (let i = 0; i < ids.length; i += stepMembers) {
          await withdrawScript.run(redis.command, [list], ids.slice(i, i + stepMembers));
        }
      }
    },

    async restore(entries) {
      const byList = new Map<string, (string | number)[]>();
      for (const { list, entry } of entries) {
        const args = byList.get(list) ?? [];
        args.push(rebuiltPosition(entry), entry.truthId);
        byList.set(list, args);
      }
      for (const [list, args] of byList) {
        for (let i = 0; i < args.length; i += 2 * stepMembers) {
          await restoreScript.run(redis.command, [list], args.slice(i, i + 2 * stepMembers));
        }
      }
    },

    async replay(entries) {
      const pipeline = redis.command.pipeline();
      for (const { list, entry } of entries)
        pipeline.zadd(list, rebuiltPosition(entry), entry.truthId);
      await pipeline.exec();
    },

    async drop(list) {
      await redis.command.del(list);
    },
  };
}
