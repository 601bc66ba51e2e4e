import type { Logger } from '../../infra/logger.js';
import { scanCollection } from '../../infra/mongo.js';
import { createNearCache } from '../../infra/near-cache.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { Redis, RedisClients } from '../../infra/redis.js';
import type {
  GrantedRole,
  ModerationActionKind,
  ModerationActionModel,
  ModerationActionRecord,
  ReportModel,
  ReportReason,
  ReportRecord,
  ReportResolution,
  ReportTargetKind,
} from './moderation.model.js';

/** A resolution as the read model keeps it with each report it closed. */
export interface ResolutionState {
  actionId: string;
  actorId: string;
  resolution: ReportResolution;
  note: string;
  at: string;
}

/** A report as the read model keeps it. */
export interface ReportState {
  id: string;
  reporterId: string;
  targetKind: ReportTargetKind;
  targetId: string;
  accountId: string;
  round: number;
  reason: ReportReason;
  note: string;
  createdAt: string;
  resolution: ResolutionState | null;
}

/** A moderation log entry as the read model keeps it. */
export interface ActionState {
  id: string;
  actorId: string;
  action: ModerationActionKind;
  userId: string | null;
  truthId: string | null;
  targetKind: ReportTargetKind | null;
  resolution: ReportResolution | null;
  reportId: string | null;
  reason: ReportReason | null;
  role: GrantedRole | null;
  note: string;
  at: string;
}

export const reportStateOf = (report: ReportRecord): ReportState => ({
  id: report._id.toHexString(),
  reporterId: report.reporterId.toHexString(),
  targetKind: report.targetKind,
  targetId: report.targetId.toHexString(),
  accountId: report.accountId.toHexString(),
  round: report.round,
  reason: report.reason,
  note: report.note,
  createdAt: report.createdAt.toISOString(),
  resolution: null,
});

export const actionStateOf = (action: ModerationActionRecord): ActionState => ({
  id: action._id.toHexString(),
  actorId: action.actorId.toHexString(),
  action: action.action,
  userId: action.userId?.toHexString() ?? null,
  truthId: action.truthId?.toHexString() ?? null,
  targetKind: action.targetKind,
  resolution: action.resolution,
  reportId: action.reportId?.toHexString() ?? null,
  reason: action.reason ?? null,
  role: action.role,
  note: action.note,
  at: action.at.toISOString(),
});

const resolutionOf = (action: ActionState): ResolutionState => ({
  actionId: action.id,
  actorId: action.actorId,
  resolution: action.resolution!,
  note: action.note,
  at: action.at,
});

// KEYS: reports, open queue, the target's hash. ARGV: report id, report JSON, reporter, round.
// A report whose round was resolved before it was applied (a resolution racing it) takes that
// round's resolution and stays out of the queue. Idempotent.
const reportedSource = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local current = tonumber(redis.call('HGET', KEYS[3], 'round') or '0')
local round = tonumber(ARGV[4])
if round < current then
  local report = cjson.decode(ARGV[2])
  local res = redis.call('HGET', KEYS[3], 'res:' .. ARGV[4])
  if res then report.resolution = cjson.decode(res) end
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(report))
  return 2
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('HSET', KEYS[3], 'r:' .. ARGV[3], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'n', 1)
return 1
`;

// KEYS: reports, open queue, the target's hash. ARGV: round, resolution JSON. Closes every open
// report of the target's round and starts the next round. Idempotent (a round closes once).
const resolvedSource = `
local current = tonumber(redis.call('HGET', KEYS[3], 'round') or '0')
if tonumber(ARGV[1]) ~= current then return 0 end
local res = cjson.decode(ARGV[2])
local fields = redis.call('HGETALL', KEYS[3])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'r:' then
    local id = fields[i + 1]
    redis.call('ZREM', KEYS[2], id)
    local raw = redis.call('HGET', KEYS[1], id)
    if raw then
      local report = cjson.decode(raw)
      report.resolution = res
      redis.call('HSET', KEYS[1], id, cjson.encode(report))
    end
    redis.call('HDEL', KEYS[3], fields[i])
  end
end
redis.call('HSET', KEYS[3], 'round', current + 1, 'n', 0, 'res:' .. ARGV[1], ARGV[2])
return 1
`;

// KEYS: the target's hash. ARGV: reporter. Returns {round, the reporter's open report or ''}.
const targetSource = `
local v = redis.call('HMGET', KEYS[1], 'round', 'r:' .. ARGV[1])
return {tonumber(v[1] or '0'), v[2] or ''}
`;

// KEYS: the account's hash. ARGV: the flag's field ('susp' or 'role'), action id, value (''
// removes), channel, near-cache key. Applies a suspension or a role unless a later action
// already did (the action that decided the flag is kept in its field's `:v`).
const flagSource = `
local version = ARGV[1] .. ':v'
local v = redis.call('HGET', KEYS[1], version)
if v and v >= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], version, ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
publish(ARGV[4], ARGV[5])
return 1
`;

// KEYS: the log, its records. ARGV: entry id, JSON.
const loggedSource = `
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`;

// KEYS: a lex-ordered list, its records. ARGV: after ('' for the start), limit, 'asc' or
// 'desc'. Returns {id, JSON, id, JSON, ...}.
const pageSource = `
local ids
if ARGV[3] == 'asc' then
  ids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1] == '' and '-' or '(' .. ARGV[1], '+', 'LIMIT', 0, ARGV[2])
else
  ids = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1] == '' and '+' or '(' .. ARGV[1], '-', 'LIMIT', 0, ARGV[2])
end
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return out
`;

// KEYS: reports. ARGV: the target hashes' prefix, then report ids. Returns {JSON or '', open
// count on its target, ...}.
const reportsSource = `
local out = {}
for i = 2, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local report = cjson.decode(raw)
    out[#out + 1] = raw
    out[#out + 1] = tonumber(redis.call('HGET', ARGV[1] .. report.targetKind .. ':' .. report.targetId, 'n') or '0')
  else
    out[#out + 1] = ''
    out[#out + 1] = 0
  end
end
return out
`;

// KEYS: accounts' hashes (one slot each: `runSpread`). Returns 0/1 each: suspended.
const suspendedSource = `
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HEXISTS', key, 'susp') end
return out
`;

// KEYS: the account's hash.
const roleSource = `return redis.call('HGET', KEYS[1], 'role') or ''`;

/** A page of a lex-ordered list: ids and their records. */
export interface StorePage<T> {
  items: T[];
  hasNextPage: boolean;
}

/**
 * The moderation read model, under `<ns>:m:mod:`: reports by id (`rep`), the open queue
 * (`open`, ids in id order, so oldest first), each target's open reports and round (`t:*`),
 * the log (`log` and `logrec`), and per account its suspension and granted role, each with the
 * action that decided it (`acct:{<user>}`). Rebuilt from `reports` and `moderation_actions` in
 * one scan of each. Suspensions and roles are read on request paths (every feed page, every
 * moderator's request): each process keeps what it read and every change drops it everywhere
 * (infra/near-cache.ts).
 *
 * Redis Cluster slots (infra/slots.ts): a report changes the reports, the queue and its
 * target's hash in one script, and resolving a round closes all of its reports, so the queue's
 * keys share one tag, `{mod}`: the whole queue lives in one slot, which moderation's volume (a
 * few writes per report) affords. The log's two keys share `{modlog}`, another slot. An
 * account's flags are tagged by the account, so the reads of every feed page spread.
 */
export function createModerationStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  Report: ReportModel;
  ModerationAction: ModerationActionModel;
  logger: Logger;
}) {
  const { model, redis, Report, ModerationAction } = deps;
  const p = `${model.prefix}mod:`;
  /** The prefix of the targets' hashes: `targetsPrefix + '<kind>:<id>'` is one's key. */
  const targetsPrefix = `${p}t:{mod}:`;
  const keys = {
    /** Reports by id: JSON (ReportState). */
    reports: `${p}rep:{mod}`,
    /** Open report ids, oldest first (lex order of ObjectId hex, all scores 0). */
    open: `${p}open:{mod}`,
    /** A target's round, open count (`n`), open report per reporter (`r:<id>`), resolutions. */
    target: (kind: ReportTargetKind, id: string) => `${targetsPrefix}${kind}:${id}`,
    /** Log entry ids, in id order. */
    log: `${p}log:{modlog}`,
    /** Log entries by id: JSON (ActionState). */
    logRecords: `${p}logrec:{modlog}`,
    /**
     * An account's flags: `susp` ('1' while suspended) and `role` (granted by `setRole`), each
     * with the action that last decided it (`susp:v`, `role:v`).
     */
    account: (userId: string) => `${p}acct:{${userId}}`,
  };
  const near = createNearCache<{ value: string }>({
    redis,
    family: 'm:mod',
    logger: deps.logger,
    maxSize: model.nearCacheEntries,
  });
  model.onRebuilt(() => near.clear());
  const scripts = {
    reported: model.script(reportedSource),
    resolved: model.script(resolvedSource),
    target: model.script(targetSource),
    flag: model.script(flagSource),
    logged: model.script(loggedSource),
    page: model.script(pageSource),
    reports: model.script(reportsSource),
    suspended: model.script(suspendedSource, { joined: true }),
    role: model.script(roleSource),
  };

  model.family('moderation', async (client: Redis) => {
    // Actions first: the resolutions say which reports are closed.
    const resolutions = new Map<string, Map<number, ResolutionState>>();
    const latest = new Map<string, ActionState>();
    await scanCollection<ModerationActionRecord>(ModerationAction, async (batch) => {
      // The log's keys, in one slot: a pipeline even on a cluster.
      const pipeline = client.pipeline();
      for (const record of batch) {
        const action = actionStateOf(record);
        pipeline.zadd(keys.log, 0, action.id);
        pipeline.hset(keys.logRecords, action.id, JSON.stringify(action));
        if (action.action === 'RESOLVE_REPORT' && record.round !== null && record.targetKind) {
          const targetId = record.targetKind === 'TRUTH' ? action.truthId : action.userId;
          const target = keys.target(record.targetKind, targetId ?? '');
          const rounds = resolutions.get(target) ?? new Map<number, ResolutionState>();
          rounds.set(record.round, resolutionOf(action));
          resolutions.set(target, rounds);
        }
        if (action.userId && ['SUSPEND_ACCOUNT', 'UNSUSPEND_ACCOUNT'].includes(action.action)) {
          const key = `s:${action.userId}`;
          if ((latest.get(key)?.id ?? '') < action.id) latest.set(key, action);
        }
        if (action.userId && action.action === 'SET_ROLE') {
          const key = `r:${action.userId}`;
          if ((latest.get(key)?.id ?? '') < action.id) latest.set(key, action);
        }
      }
      await pipeline.exec();
    });
    // Many accounts' keys: a batch (a cluster pipeline must stay on one node).
    const flags = redis.batch();
    for (const [key, action] of latest) {
      const account = keys.account(key.slice(2));
      if (key.startsWith('s:')) {
        flags.hset(account, 'susp:v', action.id);
        if (action.action === 'SUSPEND_ACCOUNT') flags.hset(account, 'susp', '1');
      } else {
        flags.hset(account, 'role:v', action.id, 'role', action.role ?? 'USER');
      }
    }
    for (const [target, rounds] of resolutions) {
      const last = Math.max(...rounds.keys());
      flags.hset(target, 'round', last + 1);
      for (const [round, resolution] of rounds)
        flags.hset(target, `res:${round}`, JSON.stringify(resolution));
    }
    await flags.exec();
    await scanCollection<ReportRecord>(Report, async (batch) => {
      // The queue's keys, in one slot: a pipeline even on a cluster.
      const pipeline = client.pipeline();
      for (const record of batch) {
        const report = reportStateOf(record);
        const target = keys.target(report.targetKind, report.targetId);
        report.resolution = resolutions.get(target)?.get(report.round) ?? null;
        pipeline.hset(keys.reports, report.id, JSON.stringify(report));
        if (!report.resolution) {
          pipeline.zadd(keys.open, 0, report.id);
          pipeline.hset(target, `r:${report.reporterId}`, report.id);
          pipeline.hincrby(target, 'n', 1);
        }
      }
      await pipeline.exec();
    });
  });

  const readPage = async <T>(
    list: string,
    records: string,
    after: string | null,
    first: number,
    order: 'asc' | 'desc',
  ): Promise<StorePage<T>> => {
    const reply = (await scripts.page.run(
      redis.command,
      [list, records],
      [after ?? '', first + 1, order],
    )) as string[];
    const items: T[] = [];
    for (let i = 0; i < reply.length; i += 2) {
      if (reply[i + 1]) items.push(JSON.parse(reply[i + 1]!) as T);
    }
    return { items: items.slice(0, first), hasNextPage: items.length > first };
  };

  /** A cached flag: suspension (`s:`) or role (`r:`) of a user. */
  const cached = async (
    nearKeys: readonly string[],
    read: (missing: string[]) => Promise<string[]>,
  ): Promise<Map<string, string>> => {
    const found = new Map<string, { value: string }>();
    const missing = near.collect(nearKeys, found);
    const values = new Map([...found].map(([key, { value }]) => [key, value]));
    if (missing.length > 0) {
      const token = near.begin();
      const fresh = await read(missing);
      missing.forEach((key, i) => {
        values.set(key, fresh[i]!);
        near.fill(token, key, { value: fresh[i]! });
      });
    }
    return values;
  };

  return {
    keys,

    /** The target's current round and the reporter's open report on it ('' for none). */
    async target(kind: ReportTargetKind, targetId: string, reporterId: string) {
      const [round, open] = (await scripts.target.run(
        redis.command,
        [keys.target(kind, targetId)],
        [reporterId],
      )) as [number, string];
      return { round: Number(round), open: open || null };
    },

    /** Applies a stored report (idempotent). */
    async reported(report: ReportState): Promise<void> {
      await scripts.reported.run(
        redis.command,
        [keys.reports, keys.open, keys.target(report.targetKind, report.targetId)],
        [report.id, JSON.stringify(report), report.reporterId, report.round],
      );
    },

    /** Closes a target's round of reports with a stored resolution (idempotent). */
    async resolved(kind: ReportTargetKind, targetId: string, round: number, action: ActionState) {
      await scripts.resolved.run(
        redis.command,
        [keys.reports, keys.open, keys.target(kind, targetId)],
        [round, JSON.stringify(resolutionOf(action))],
      );
    },

    /** Adds a stored action to the log (idempotent). */
    async logged(action: ActionState): Promise<void> {
      await scripts.logged.run(
        redis.command,
        [keys.log, keys.logRecords],
        [action.id, JSON.stringify(action)],
      );
    },

    /** Applies a suspension or its lifting, unless a later one already was (idempotent). */
    async suspension(userId: string, actionId: string, suspended: boolean): Promise<void> {
      near.forget(`s:${userId}`);
      await scripts.flag.run(
        redis.command,
        [keys.account(userId)],
        ['susp', actionId, suspended ? '1' : '', near.channel, `s:${userId}`],
      );
    },

    /** Applies a granted role, unless a later grant already was (idempotent). */
    async role(userId: string, actionId: string, role: GrantedRole): Promise<void> {
      near.forget(`r:${userId}`);
      await scripts.flag.run(
        redis.command,
        [keys.account(userId)],
        ['role', actionId, role, near.channel, `r:${userId}`],
      );
    },

    /** Reports by id with their target's open count (missing ones absent). */
    async reportsById(
      ids: readonly string[],
    ): Promise<Map<string, { report: ReportState; openOnTarget: number }>> {
      const found = new Map<string, { report: ReportState; openOnTarget: number }>();
      if (ids.length === 0) return found;
      const reply = (await scripts.reports.run(
        redis.command,
        [keys.reports],
        [targetsPrefix, ...ids],
      )) as (string | number)[];
      ids.forEach((id, i) => {
        const raw = reply[2 * i] as string;
        if (raw)
          found.set(id, {
            report: JSON.parse(raw) as ReportState,
            openOnTarget: Number(reply[2 * i + 1]),
          });
      });
      return found;
    },

    /** Open reports, oldest first. */
    openPage: (after: string | null, first: number) =>
      readPage<ReportState>(keys.open, keys.reports, after, first, 'asc'),

    /** The log, newest first. */
    logPage: (after: string | null, first: number) =>
      readPage<ActionState>(keys.log, keys.logRecords, after, first, 'desc'),

    /** Which of these users are suspended: one script call for those this process does not hold. */
    async suspendedAmong(userIds: Iterable<string>): Promise<Set<string>> {
      const ids = [...new Set(userIds)];
      if (ids.length === 0) return new Set();
      const values = await cached(
        ids.map((id) => `s:${id}`),
        async (missing) =>
          (
            await scripts.suspended.runSpread(
              redis.command,
              missing.map((key) => ({ keys: [keys.account(key.slice(2))] })),
            )
          ).map(String),
      );
      return new Set(ids.filter((id) => values.get(`s:${id}`) === '1'));
    },

    /** The role granted to a user by `setRole`, or null when none was. */
    async grantedRole(userId: string): Promise<GrantedRole | null> {
      const values = await cached([`r:${userId}`], async () => [
        (await scripts.role.run(redis.command, [keys.account(userId)], [])) as string,
      ]);
      return (values.get(`r:${userId}`) || null) as GrantedRole | null;
    },
  };
}

export type ModerationStore = ReturnType<typeof createModerationStore>;
