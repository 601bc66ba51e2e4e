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
 *
 * On a Redis Cluster a script reaches one slot only. An author's lists are tagged by the
 * author, a home timeline by its owner (`{<userId>}`), so a publication, a read over several
 * lists or a timeline rebuild runs one script per slot (`runSpread`). A publication there
 * draws its position first, on its own, then adds the truth slot by slot, each slot's script
 * publishing its lists' events and route message: a list whose newest entry is past the drawn
 * position (a publication drawn later ran there first) takes the truth just after it. So in
 * each list, position order is still the order of its events, and catching up from a cursor in
 * it stays exact; across lists a truth's position may differ by those few steps.
 */
export interface FeedLists {
  readonly keys: ReturnType<typeof feedListKeys>;
  /**
   * Adds `truthId` at one new position to every list that does not hold it yet (`lists`, and
   * the home timelines of the users in `timelines`), and publishes `payload` on the channel of
   * each list it was added to, in one step; a home timeline is trimmed to the timelines'
   * capacity; a missing one is made, incomplete and expiring, so the truth keeps the position
   * its owner heard of it at, and its next read rebuilds it around that. Idempotent: a second
   * call adds and publishes nothing. Lists are written in batches, each its own step (and
   * position; on a cluster one position for the call), each with one message on `routeChannel`
   * naming the owners of the home timelines it was added to.
   */
  publish(
    truthId: string,
    payload: string,
    targets: { lists?: readonly ListTarget[]; timelines?: readonly string[] },
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

/** One list to publish into, other than a home timeline. */
export interface ListTarget {
  key: string;
  /** The channel its subscribers listen on; none when empty. */
  channel?: string;
}

/**
 * A list of one publishing step: a plain list (`arg`: its channel, '' for none) or a home
 * timeline (`arg`: its owner, announced on the route channel).
 */
interface StepList {
  key: string;
  arg: string;
  timeline: boolean;
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
    author: (authorId: string) => `${prefix}fd:au:{${authorId}}`,
    /** Every live truth of an author but replies (their profile's default). */
    authorPosts: (authorId: string) => `${prefix}fd:ap:{${authorId}}`,
    /** A user's home timeline: fanned-out truths of whom they follow, and their own; capped. */
    timeline: (userId: string) => `${prefix}tl:{${userId}}`,
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

// The next position after the counter's (KEYS[1]): `max(last + 1, server time in ms × 1024)`.
const nextPositionLua = `
local t = redis.call('TIME')
local now = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) * ${perMs}
local pos = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
if now > pos then pos = now end
`;

// Adds `member` to a list at `pos` unless it holds it (NX); true if it did. A home timeline (a
// `capacity`) that does not exist is made, incomplete (no sentinel: its next read rebuilds it
// around what it holds) and expiring after `ttl`, so that the truth keeps this position, the one
// its recipient hears of it at; one that exists is trimmed to its capacity.
const addToListLua = `
local function addToList(key, pos, member, capacity, ttl)
  local made = capacity > 0 and redis.call('EXISTS', key) == 0
  if redis.call('ZADD', key, 'NX', pos, member) == 0 then return false end
  if made then
    redis.call('EXPIRE', key, ttl)
  elseif capacity > 0 then
    local size = redis.call('ZCARD', key)
    if size > capacity + 1 then redis.call('ZREMRANGEBYRANK', key, 1, size - capacity - 1) end
  end
  return true
end
`;

// KEYS[1]: the position counter; then the lists, plain lists first, then home timelines. ARGV:
// member, payload, route channel ('': none), a new home timeline's ttl, the home timelines'
// capacity, how many of the lists are plain, then per list: a plain list's channel ('': none),
// a home timeline's owner. A list takes the member once; a plain list's channel hears of it
// then; the owners of the timelines that took it are announced together, in one message on
// the route channel (infra/pubsub.ts, addressed topics). A single Redis's publishing step: the
// lists of many users and truths in one script, one argument each besides its key (a step is
// mostly home timelines: building and parsing its arguments is much of its cost).
const publishSource = `
${nextPositionLua}
${addToListLua}
local added = 0
local recipients = {}
local capacity = tonumber(ARGV[5])
local plain = tonumber(ARGV[6])
for i = 2, #KEYS do
  local arg = ARGV[i + 5]
  if i - 1 <= plain then
    if addToList(KEYS[i], pos, ARGV[1], 0, ARGV[4]) then
      added = added + 1
      if arg ~= '' then publish(arg, ARGV[2]) end
    end
  elseif addToList(KEYS[i], pos, ARGV[1], capacity, ARGV[4]) then
    added = added + 1
    recipients[#recipients + 1] = arg
  end
end
if #recipients > 0 then
  publish(ARGV[3], table.concat(recipients, ',') .. '\\n' .. ARGV[2])
end
if added > 0 then redis.call('SET', KEYS[1], string.format('%.0f', pos)) end
return added
`;

// KEYS[1]: the position counter. Draws the next position (a cluster's publishing step draws
// it first, on its own: the counter is in a slot of its own).
const drawPositionSource = `
${nextPositionLua}
local drawn = string.format('%.0f', pos)
redis.call('SET', KEYS[1], drawn)
return drawn
`;

// KEYS: lists (one slot's, see `runSpread`). ARGV: position, member, payload, a new home
// timeline's ttl, route channel ('': none), then per list: capacity, channel ('': none),
// recipient ('': none). As `publishSource` for the lists of one slot, at a position drawn
// before; its recipients in one route message of their own. A list takes the member after
// everything it holds (at the drawn position, or just past its newest if a publication drawn
// later ran here first), so that in each list position order stays the order in which its
// events were published. Per list: 1 if it took the member.
const publishAtSource = `
${addToListLua}
local out = {}
local recipients = {}
local drawn = tonumber(ARGV[1])
for i = 1, #KEYS do
  local base = 3 * (i - 1) + 6
  out[i] = 0
  local pos = drawn
  local newest = redis.call('ZREVRANGE', KEYS[i], 0, 0, 'WITHSCORES')[2]
  if newest and tonumber(newest) >= pos then pos = tonumber(newest) + 1 end
  if addToList(KEYS[i], pos, ARGV[2], tonumber(ARGV[base]), ARGV[4]) then
    out[i] = 1
    if ARGV[base + 1] ~= '' then publish(ARGV[base + 1], ARGV[3]) end
    if ARGV[base + 2] ~= '' then recipients[#recipients + 1] = ARGV[base + 2] end
  end
end
if #recipients > 0 and ARGV[5] ~= '' then
  publish(ARGV[5], table.concat(recipients, ',') .. '\\n' .. ARGV[3])
end
return out
`;

// KEYS: lists (one slot's, see `runSpread`). ARGV: cursor member ('' for none), cursor position
// ('' for none: from the newest), limit, 'asc' or 'desc', whether to look the cursor member up
// ('1': the cursor is where the first of these lists holding it has it, else at the cursor
// position; '0': at the cursor position), then per list: the ttl of a home timeline (whose
// sentinel is checked and whose ttl is refreshed), or 0. Per list: {'missing'}, or {found,
// used, member, position, member, position, ...}, where `found` is the cursor member's
// position in this list ('' when it does not hold it) and `used` the position read from ('':
// from the newest).
const readSource = `
local limit = tonumber(ARGV[3])
local desc = ARGV[4] == 'desc'
local m = ARGV[1]
local found = {}
local s = nil
if m ~= '' then
  for i = 1, #KEYS do
    found[i] = redis.call('ZSCORE', KEYS[i], m)
    if ARGV[5] == '1' and not s and found[i] then s = found[i] end
  end
end
if not s and ARGV[2] ~= '' then s = ARGV[2] end
local sn = s and tonumber(s)
local out = {}
for i = 1, #KEYS do
  local ttl = ARGV[5 + i]
  if ttl ~= '0' and not redis.call('ZSCORE', KEYS[i], '') then
    out[i] = {'missing'}
  else
    if ttl ~= '0' then redis.call('EXPIRE', KEYS[i], ttl) end
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
    local list = {found[i] or '', s or ''}
    for j = 1, #items, 2 do
      local member = items[j]
      local keep = member ~= ''
      if keep and sn and tonumber(items[j + 1]) == sn then
        if desc then keep = member < m else keep = member > m end
      end
      if keep then
        list[#list + 1] = member
        list[#list + 1] = items[j + 1]
      end
    end
    out[i] = list
  end
end
return out
`;

// KEYS: author lists (one slot's, see `runSpread`). ARGV: newest per author, how many a
// timeline keeps. Per list its newest truths and their positions, less those that cannot make
// it into a timeline: of all these lists' truths, only the `keep` newest can (a truth a
// timeline already holds has a position there at least as new as in its author's list: it was
// added when it was published, or copied from that list).
const newestSource = `
local out, positions = {}, {}
for i = 1, #KEYS do
  out[i] = redis.call('ZREVRANGE', KEYS[i], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
  for j = 2, #out[i], 2 do positions[#positions + 1] = tonumber(out[i][j]) end
end
local keep = tonumber(ARGV[2])
if #positions > keep then
  table.sort(positions, function(a, b) return a > b end)
  local least = positions[keep]
  for i = 1, #KEYS do
    local kept = {}
    for j = 1, #out[i], 2 do
      if tonumber(out[i][j + 1]) >= least then
        kept[#kept + 1] = out[i][j]
        kept[#kept + 1] = out[i][j + 1]
      end
    end
    out[i] = kept
  end
end
return out
`;

// KEYS[1]: a timeline. ARGV: capacity, ttl ('0': add only to a complete timeline, and leave its
// ttl), then member, position, member, position, ... Existing members keep their positions
// (NX): they were published live. With a ttl the timeline is marked complete (its sentinel).
const fillTimelineSource = `
if ARGV[2] == '0' and not redis.call('ZSCORE', KEYS[1], '') then return 0 end
for j = 3, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'NX', ARGV[j + 1], ARGV[j]) end
local capacity = tonumber(ARGV[1])
if ARGV[2] ~= '0' then
  redis.call('ZADD', KEYS[1], '-inf', '')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
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

// KEYS: lists (one slot's, see `runSpread`). ARGV: the member. Per list: 1 if it held it.
const removeSource = `
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('ZREM', key, ARGV[1]) end
return out
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
  const drawPositionScript = model.script(drawPositionSource);
  const publishAtScript = model.script(publishAtSource);
  const readScript = model.script(readSource);
  const newestScript = model.script(newestSource);
  const fillTimelineScript = model.script(fillTimelineSource);
  const removeScript = model.script(removeSource);
  const withdrawScript = model.script(withdrawSource);
  const restoreScript = model.script(restoreSource);

  /** A single Redis's publishing step: one script for the position, the lists, the events. */
  const publishStep = (
    truthId: string,
    payload: string,
    step: readonly StepList[],
    routeChannel: string,
  ) =>
    publishScript.run(
      redis.command,
      [keys.position, ...step.map((list) => list.key)],
      [
        truthId,
        payload,
        routeChannel,
        timelineTtlSeconds,
        timelineCapacity,
        step.filter((list) => !list.timeline).length,
        ...step.map((list) => list.arg),
      ],
    );

  /**
   * A cluster's publishing step, at a position drawn before: one script per slot for the
   * lists of that slot, their channels and the route message of their recipients. A list's
   * order is its events' order (see `publishAtSource`), so a subscriber catching up from a
   * cursor in its timeline gets exactly what it missed, as on a single Redis. The price: a
   * route message per slot group rather than per step.
   */
  const publishStepAt = async (
    position: string,
    truthId: string,
    payload: string,
    step: readonly StepList[],
    routeChannel: string,
  ) => {
    await publishAtScript.runSpread(
      redis.command,
      step.map((list) => ({
        keys: [list.key],
        args: list.timeline ? [timelineCapacity, '', list.arg] : [0, list.arg, ''],
      })),
      { shared: [position, truthId, payload, timelineTtlSeconds, routeChannel] },
    );
  };

  /** One pass of `read` over some of `lists` (by index), each list's reply in their order. */
  const readPass = (
    lists: readonly string[],
    indexes: readonly number[],
    args: { member: string; position: string; limit: number; order: string; lookUp: boolean },
    timeline: boolean,
  ) =>
    readScript.runSpread(
      redis.command,
      indexes.map((index) => ({
        keys: [lists[index]!],
        args: [index === 0 && timeline ? timelineTtlSeconds : 0],
      })),
      { shared: [args.member, args.position, args.limit, args.order, args.lookUp ? 1 : 0] },
    ) as Promise<string[][]>;

  /**
   * The newest truths of `authorLists` a timeline can keep, as member, position, member,
   * position, ...: the newest `perAuthor` of each list, of which only the `timelineCapacity`
   * newest in all (see `newestSource`).
   */
  const newestTruths = async (authorLists: readonly string[]): Promise<string[]> => {
    const replies = (await newestScript.runSpread(
      redis.command,
      authorLists.map((list) => ({ keys: [list] })),
      { shared: [perAuthor, timelineCapacity] },
    )) as string[][];
    const entries: { id: string; position: number; text: string }[] = [];
    for (const reply of replies) {
      for (let i = 0; i < reply.length; i += 2) {
        entries.push({ id: reply[i]!, text: reply[i + 1]!, position: Number(reply[i + 1]) });
      }
    }
    // Lists in different slots were cut to the newest apart: the same cut over all of them.
    if (entries.length > timelineCapacity) {
      entries.sort((a, b) => b.position - a.position);
      const least = entries[timelineCapacity - 1]!.position;
      const cut = entries.findIndex((entry) => entry.position < least);
      if (cut >= 0) entries.length = cut;
    }
    return entries.flatMap((entry) => [entry.id, entry.text]);
  };

  return {
    keys,

    async publish(truthId, payload, targets, routeChannel = '') {
      // Plain lists first: each step's plain lists lead its lists (see publishSource).
      const all: StepList[] = [
        ...(targets.lists ?? []).map((list) => ({
          key: list.key,
          arg: list.channel ?? '',
          timeline: false,
        })),
        ...(targets.timelines ?? []).map((owner) => ({
          key: keys.timeline(owner),
          arg: owner,
          timeline: true,
        })),
      ];
      const steps: Promise<unknown>[] = [];
      if (!redis.cluster) {
        for (let i = 0; i < all.length; i += batchSize) {
          steps.push(publishStep(truthId, payload, all.slice(i, i + batchSize), routeChannel));
        }
        await Promise.all(steps);
        return;
      }
      const position = (await drawPositionScript.run(redis.command, [keys.position], [])) as string;
      for (let i = 0; i < all.length; i += batchSize) {
        steps.push(
          publishStepAt(position, truthId, payload, all.slice(i, i + batchSize), routeChannel),
        );
      }
      await Promise.all(steps);
    },

    async remove(truthId, lists) {
      for (let i = 0; i < lists.length; i += batchSize) {
        await removeScript.runSpread(
          redis.command,
          lists.slice(i, i + batchSize).map((list) => ({ keys: [list] })),
          { shared: [truthId] },
        );
      }
    },

    async read(lists, after, limit, order, readOptions = {}) {
      const timeline = readOptions.timeline ?? false;
      const args = {
        member: after && 'truthId' in after ? after.truthId : '',
        position: after
          ? String('position' in after ? after.position : fallbackPosition(after.truthId))
          : '',
        limit,
        order,
        lookUp: true,
      };
      const all = lists.map((_, index) => index);
      const replies = await readPass(lists, all, args, timeline);
      const missingOf = () => lists.find((_, index) => replies[index]![0] === 'missing');
      let missing = missingOf();
      // Lists in different slots looked the cursor up apart (see `runSpread`): the cursor is
      // where the first list holding it has it, and lists that read from elsewhere read again.
      if (!missing && args.member !== '') {
        const position = replies.find((reply) => reply[0] !== '')?.[0] ?? args.position;
        const stale = all.filter((index) => replies[index]![1] !== position);
        if (stale.length > 0) {
          const again = await readPass(
            lists,
            stale,
            { ...args, position, lookUp: false },
            timeline,
          );
          stale.forEach((index, i) => {
            replies[index] = again[i]!;
          });
          missing = missingOf();
        }
      }
      if (missing) return { missing };
      const entries: { id: string; position: number }[] = [];
      const seen = new Set<string>();
      for (const reply of replies) {
        for (let i = 2; i < reply.length; i += 2) {
          const id = reply[i]!;
          if (seen.has(id)) continue;
          seen.add(id);
          entries.push({ id, position: Number(reply[i + 1]) });
        }
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

    /**
     * Two steps, since the author lists are other users' keys: their newest truths are read
     * (one script per slot), then written into the timeline. A truth deleted between the two
     * may be written back; pages leave deleted truths out anyway.
     */
    async rebuildTimeline(timeline, authorLists) {
      const newest = await newestTruths(authorLists);
      await fillTimelineScript.run(
        redis.command,
        [timeline],
        [timelineCapacity, timelineTtlSeconds, ...newest],
      );
    },

    async mergeIntoTimeline(timeline, authorList) {
      const newest = await newestTruths([authorList]);
      await fillTimelineScript.run(redis.command, [timeline], [timelineCapacity, 0, ...newest]);
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
      // Many authors' and tags' lists: a batch (one pipeline on a single Redis).
      const batch = redis.batch();
      for (const { list, entry } of entries)
        batch.zadd(list, rebuiltPosition(entry), entry.truthId);
      await batch.exec();
    },

    async drop(list) {
      // UNLINK: a long list is freed off Redis's main thread.
      await redis.command.unlink(list);
    },
  };
}
