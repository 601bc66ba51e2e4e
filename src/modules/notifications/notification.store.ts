import type { Logger } from '../../infra/logger.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { Redis, RedisClients } from '../../infra/redis.js';
import { objectId } from '../../lib/ids.js';
import type {
  NotificationModel,
  NotificationReadModel,
  NotificationReadRecord,
  NotificationRecord,
} from './notification.model.js';

/** How many notifications the read model keeps per user: their newest. */
export const keptPerUser = 500;

interface NotificationEntry {
  id: string;
  userId: string;
  kind: NotificationRecord['kind'];
  actorId: string;
  truthId: string | null;
  ticket: number | null;
  createdAt: string;
}

const encode = (n: NotificationRecord): string =>
  JSON.stringify({
    id: n._id.toHexString(),
    userId: n.userId.toHexString(),
    kind: n.kind,
    actorId: n.actorId.toHexString(),
    truthId: n.truthId?.toHexString() ?? null,
    ticket: n.ticket ?? null,
    createdAt: n.createdAt.toISOString(),
  } satisfies NotificationEntry);

const decode = (text: string, read: boolean): NotificationRecord => {
  const entry = JSON.parse(text) as NotificationEntry;
  return {
    _id: objectId(entry.id),
    userId: objectId(entry.userId),
    kind: entry.kind,
    actorId: objectId(entry.actorId),
    truthId: entry.truthId ? objectId(entry.truthId) : null,
    ticket: entry.ticket,
    createdAt: new Date(entry.createdAt),
    // When it was read is not kept; that it was, is.
    readAt: read ? new Date(0) : null,
  };
};

/** A notification's place in its user's list: its time (the id begins with it). */
const scoreOf = (n: NotificationRecord) => n.createdAt.getTime();

/** The list's order: by time, then by id, as ZREVRANGE gives them. */
const newestFirst = (a: NotificationRecord, b: NotificationRecord) =>
  scoreOf(b) - scoreOf(a) || (a._id.toHexString() < b._id.toHexString() ? 1 : -1);

// KEYS: per notification its record, its user's list, its user's unread set (one slot per
// user: `runSpread`). ARGV: the number kept per user, then per notification its text, id and
// score. Adds each new one (a second run adds nothing) and trims the user's list to its newest
// (a record's key is its user's records prefix and its id). Returns 1 or 0 per notification.
const addSource = `
local kept = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, 3 do
  local a = 2 + (i - 1)
  if redis.call('SET', KEYS[i], ARGV[a], 'NX') then
    redis.call('ZADD', KEYS[i + 1], ARGV[a + 2], ARGV[a + 1])
    redis.call('SADD', KEYS[i + 2], ARGV[a + 1])
    local size = redis.call('ZCARD', KEYS[i + 1])
    if size > kept then
      local prefix = string.sub(KEYS[i], 1, #KEYS[i] - #ARGV[a + 1])
      for _, old in ipairs(redis.call('ZRANGE', KEYS[i + 1], 0, size - kept - 1)) do
        redis.call('DEL', prefix .. old)
        redis.call('SREM', KEYS[i + 2], old)
      end
      redis.call('ZREMRANGEBYRANK', KEYS[i + 1], 0, size - kept - 1)
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`;

// KEYS: the user's list, unread set. ARGV: cursor (an id, '' for the first page), limit, '1' for
// unread only, the user's records' key prefix. How many are unread, then newest first per item
// its text and whether it is unread.
const pageSource = `
local out = { redis.call('SCARD', KEYS[2]) }
local start = 0
if ARGV[1] ~= '' then
  local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
  if not rank then return out end
  start = rank + 1
end
local limit = tonumber(ARGV[2])
local unreadOnly = ARGV[3] == '1'
while #out < 1 + 2 * limit do
  local ids = redis.call('ZREVRANGE', KEYS[1], start, start + limit - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local unread = redis.call('SISMEMBER', KEYS[2], id)
    if (not unreadOnly or unread == 1) and #out < 1 + 2 * limit then
      out[#out + 1] = redis.call('GET', ARGV[4] .. id) or ''
      out[#out + 1] = unread
    end
  end
  start = start + #ids
end
return out
`;

// KEYS: the record, the user's unread set. ARGV: the id.
const byIdSource = `
local text = redis.call('GET', KEYS[1])
if not text then return false end
return { text, redis.call('SISMEMBER', KEYS[2], ARGV[1]) }
`;

// KEYS: the user's unread set. ARGV: the user's records' key prefix, '1' to list what it marked,
// then the ids to mark read. Returns how many stay unread, then (when listing) each id's record
// ('' when the list no longer holds it).
const markReadSource = `
redis.call('SREM', KEYS[1], unpack(ARGV, 3))
local out = { redis.call('SCARD', KEYS[1]) }
if ARGV[2] == '1' then
  for i = 3, #ARGV do out[#out + 1] = redis.call('GET', ARGV[1] .. ARGV[i]) or '' end
end
return out
`;

// KEYS: the user's list, unread set. ARGV: the user's records' key prefix, a time (ms), '1' to
// list what it marked. Marks read every unread notification the list holds up to that time.
// Returns how many stay unread, then (when listing) the record of each it marked.
const markAllReadSource = `
local upTo = tonumber(ARGV[2])
local list = ARGV[3] == '1'
local out = { 0 }
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) <= upTo then
    redis.call('SREM', KEYS[2], id)
    if list then out[#out + 1] = redis.call('GET', ARGV[1] .. id) or '' end
  end
end
out[1] = redis.call('SCARD', KEYS[2])
return out
`;

const unreadCountSource = `return redis.call('SCARD', KEYS[1])`;

/**
 * The notifications' part of the read model (infra/read-model.ts): each user's newest
 * `keptPerUser` notifications (records `ntf:{<user>}:<id>`, the list `nl:{<user>}` newest
 * first) and which of them are unread (`nu:{<user>}`). Every key is tagged with the recipient's
 * id, so a user's list, unread set and records share one Redis Cluster slot and one script
 * reads or changes them together (infra/slots.ts). Rebuilt from `notifications` and
 * `notification_reads`.
 */
export function createNotificationStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  Notification: NotificationModel;
  NotificationRead: NotificationReadModel;
  logger: Logger;
}) {
  const { model, redis, Notification, NotificationRead } = deps;
  /** The prefix of a user's notification records: `recordsOf(user) + id` is one's key. */
  const recordsOf = (userId: string) => `${model.prefix}ntf:{${userId}}:`;
  /** A notification: its JSON (NotificationEntry), under its recipient's tag. */
  const record = (userId: string, id: string) => `${recordsOf(userId)}${id}`;
  /** A user's kept notification ids, scored by time. */
  const list = (userId: string) => `${model.prefix}nl:{${userId}}`;
  /** Which of a user's kept notifications are unread. */
  const unread = (userId: string) => `${model.prefix}nu:{${userId}}`;
  const add = model.script(addSource);
  const page = model.script(pageSource);
  const byId = model.script(byIdSource);
  const markRead = model.script(markReadSource);
  const markAllRead = model.script(markAllReadSource);
  const unreadCount = model.script(unreadCountSource);

  model.family('notifications', async (client: Redis) => {
    // Reads first (few): per user, read up to a time, and read one by one.
    const reads = new Map<string, { upTo: number; ids: Set<string> }>();
    await scanCollection<NotificationReadRecord>(NotificationRead, (batch) => {
      for (const r of batch) {
        const userId = r.userId.toHexString();
        const entry = reads.get(userId) ?? { upTo: 0, ids: new Set<string>() };
        reads.set(userId, entry);
        if (r.ids === null) entry.upTo = Math.max(entry.upTo, r.at.getTime());
        else for (const id of r.ids) entry.ids.add(id.toHexString());
      }
    });
    const sizes = new Map<string, number>();
    await scanCollection<NotificationRecord>(Notification, async (batch) => {
      // Many users' keys: a batch (a cluster pipeline must stay on one node).
      const pipeline = redis.batch();
      for (const n of batch) {
        const id = n._id.toHexString();
        const userId = n.userId.toHexString();
        pipeline.set(record(userId, id), encode(n));
        pipeline.zadd(list(userId), scoreOf(n), id);
        const read = reads.get(userId);
        const isRead =
          n.readAt !== null || (read && (n.createdAt.getTime() <= read.upTo || read.ids.has(id)));
        if (!isRead) pipeline.sadd(unread(userId), id);
        sizes.set(userId, (sizes.get(userId) ?? 0) + 1);
      }
      await pipeline.exec();
    });
    for (const [userId, size] of sizes) {
      if (size <= keptPerUser) continue;
      const dropped = await client.zrange(list(userId), '0', String(size - keptPerUser - 1));
      // One user's keys, in one slot: a pipeline even on a cluster.
      const pipeline = client.pipeline();
      pipeline.del(...dropped.map((id) => record(userId, id)));
      pipeline.srem(unread(userId), ...dropped);
      pipeline.zremrangebyrank(list(userId), 0, size - keptPerUser - 1);
      await pipeline.exec();
    }
  });

  return {
    /** Adds stored notifications; the ones that were new (a second run adds none). */
    async add(notifications: readonly NotificationRecord[]): Promise<NotificationRecord[]> {
      if (notifications.length === 0) return [];
      const added = (await add.runSpread(
        redis.command,
        notifications.map((n) => {
          const id = n._id.toHexString();
          const userId = n.userId.toHexString();
          return {
            keys: [record(userId, id), list(userId), unread(userId)],
            args: [encode(n), id, scoreOf(n)],
          };
        }),
        { shared: [keptPerUser] },
      )) as number[];
      return notifications.filter((_, i) => added[i] === 1);
    },

    /**
     * A page of the user's notifications, newest first, after the notification `afterId`, and
     * how many of theirs are unread: one round trip.
     */
    async page(
      userId: string,
      afterId: string | null,
      limit: number,
      unreadOnly: boolean,
    ): Promise<{ items: NotificationRecord[]; unread: number }> {
      const [unreadTotal, ...flat] = (await page.run(
        redis.command,
        [list(userId), unread(userId)],
        [afterId ?? '', limit, unreadOnly ? '1' : '0', recordsOf(userId)],
      )) as [number, ...(string | number)[]];
      const items: NotificationRecord[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        if (flat[i]) items.push(decode(String(flat[i]), flat[i + 1] === 0));
      }
      return { items, unread: Number(unreadTotal) };
    },

    async byId(userId: string, id: string): Promise<NotificationRecord | null> {
      const reply = (await byId.run(redis.command, [record(userId, id), unread(userId)], [id])) as
        [string, number] | null;
      if (!reply) return null;
      const notification = decode(reply[0], reply[1] === 0);
      return notification.userId.toHexString() === userId ? notification : null;
    },

    unreadCount: async (userId: string): Promise<number> =>
      Number(await unreadCount.run(redis.command, [unread(userId)], [])),

    /**
     * Applies a stored read, in one round trip: marks read what it names (the user's own of its
     * ids, or, for a read of all, those unread up to its time) and answers how many stay unread
     * and, when `list` is set, what it marked, newest first.
     */
    async read(
      read: NotificationReadRecord,
      { list: listMarked = false }: { list?: boolean } = {},
    ): Promise<{ marked: NotificationRecord[]; unread: number }> {
      const userId = read.userId.toHexString();
      const flag = listMarked ? '1' : '0';
      let reply: [number, ...string[]];
      if (read.ids === null) {
        reply = (await markAllRead.run(
          redis.command,
          [list(userId), unread(userId)],
          [recordsOf(userId), read.at.getTime(), flag],
        )) as [number, ...string[]];
      } else {
        const ids = [...new Set(read.ids.map((id) => id.toHexString()))];
        if (ids.length === 0) return { marked: [], unread: await this.unreadCount(userId) };
        reply = (await markRead.run(
          redis.command,
          [unread(userId)],
          [recordsOf(userId), flag, ...ids],
        )) as [number, ...string[]];
      }
      const [remaining, ...texts] = reply;
      const marked = texts
        .filter((text) => text !== '')
        .map((text) => decode(text, true))
        // An id of someone else's notification marks nothing and is not shown.
        .filter((n) => n.userId.toHexString() === userId);
      if (read.ids === null) marked.sort(newestFirst);
      return { marked, unread: Number(remaining) };
    },
  };
}

export type NotificationStore = ReturnType<typeof createNotificationStore>;
