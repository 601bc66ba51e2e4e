import type { Logger } from '../../infra/logger.js';
import { createModelRecords } from '../../infra/model-store.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { Redis, RedisClients } from '../../infra/redis.js';
import type {
  ProfileField,
  UserChangeModel,
  UserChangeRecord,
  UserModel,
  UserRecord,
} from './user.model.js';
import { fromUserWire, toUserWire, type UserWire } from './user.wire.js';

/** A user as the read model holds it: the public fields, email and role, field versions. */
interface UserEntry extends UserWire {
  email: string;
  role: UserRecord['role'];
  /** The version of the change that set each profile field (0: as signed up). */
  fv: Partial<Record<ProfileField, number>>;
}

const encode = (user: UserRecord, fv: UserEntry['fv'] = {}): string =>
  JSON.stringify({
    ...toUserWire(user),
    email: user.email,
    role: user.role,
    fv,
  } satisfies UserEntry);

const decode = (text: string): UserRecord => {
  const entry = JSON.parse(text) as UserEntry;
  return { ...fromUserWire(entry), email: entry.email, role: entry.role };
};

// KEYS: record, names, emails, credentials. ARGV: record text, username key, email, id,
// password hash, channel. A second run (a retried effect) keeps the record as it is now.
const createdSource = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
publish(ARGV[6], ARGV[4])
return 1
`;

// KEYS: record. ARGV: channel, id, updatedAt, then field / JSON value / version triples. Each
// field takes the value of the change with the highest version, in whatever order they land.
const changedSource = `
local text = redis.call('GET', KEYS[1])
if not text then return false end
local user = cjson.decode(text)
local fv = user.fv
if type(fv) ~= 'table' then fv = {} end
local changed = false
for i = 4, #ARGV, 3 do
  local version = tonumber(ARGV[i + 2])
  if (tonumber(fv[ARGV[i]]) or 0) < version then
    user[ARGV[i]] = cjson.decode(ARGV[i + 1])
    fv[ARGV[i]] = version
    changed = true
  end
end
if not changed then return false end
user.fv = fv
user.updatedAt = ARGV[3]
text = cjson.encode(user)
redis.call('SET', KEYS[1], text)
publish(ARGV[1], ARGV[2])
return text
`;

const lookupSource = `return redis.call('HGET', KEYS[1], ARGV[1])`;
const lookupManySource = `
if #ARGV == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(ARGV))
`;

// KEYS: names or emails, credentials. ARGV: the username key or email.
const credentialsSource = `
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
return { id, redis.call('HGET', KEYS[2], id) or '' }
`;

const countSource = `return redis.call('HLEN', KEYS[1])`;

/**
 * The users' part of the read model (infra/read-model.ts): each user's record (`user:<id>`),
 * the indexes from username key and from email to id (`uname`, `uemail`), password hashes
 * (`cred`, kept apart from records so they never travel with one), and the sequence that
 * versions profile changes. Rebuilt from `users` and `user_changes`.
 */
export function createUserStore(deps: {
  model: ReadModel;
  redis: RedisClients;
  User: UserModel;
  UserChange: UserChangeModel;
  logger: Logger;
}) {
  const { model, redis, User, UserChange } = deps;
  const records = createModelRecords<UserRecord>({
    model,
    redis,
    family: 'user',
    encode: (user) => encode(user),
    decode,
    logger: deps.logger,
  });
  const keys = {
    names: `${model.prefix}uname`,
    emails: `${model.prefix}uemail`,
    credentials: `${model.prefix}cred`,
    sequence: `${model.prefix}user:seq`,
  };
  const created = model.script(createdSource);
  const changed = model.script(changedSource);
  const lookup = model.script(lookupSource);
  const lookupMany = model.script(lookupManySource);
  const credentials = model.script(credentialsSource);
  const count = model.script(countSource);
  const replayers: ((users: readonly UserRecord[]) => Promise<void>)[] = [];

  model.family('users', async (client: Redis) => {
    // Profile changes first (few): each user's latest value per field.
    const latest = new Map<string, Map<ProfileField, { value: unknown; version: number }>>();
    let highest = 0;
    await scanCollection<UserChangeRecord>(UserChange, (batch) => {
      for (const change of batch) {
        const id = change.userId.toHexString();
        const fields =
          latest.get(id) ?? new Map<ProfileField, { value: unknown; version: number }>();
        latest.set(id, fields);
        for (const [field, value] of Object.entries(change.set) as [ProfileField, unknown][]) {
          if ((fields.get(field)?.version ?? 0) < change.version) {
            fields.set(field, { value, version: change.version });
          }
        }
        highest = Math.max(highest, change.version);
      }
    });
    await scanCollection<UserRecord>(User, async (batch) => {
      const pipeline = client.pipeline();
      const replayed: UserRecord[] = [];
      for (const user of batch) {
        const id = user._id.toHexString();
        const fv: UserEntry['fv'] = {};
        const current = { ...user };
        for (const [field, { value, version }] of latest.get(id) ?? []) {
          (current as Record<string, unknown>)[field] = value;
          fv[field] = version;
        }
        pipeline.set(records.keyOf(id), encode(current, fv));
        const { passwordHash: _hash, ...profile } = current;
        replayed.push(profile);
        pipeline.hset(keys.names, user.usernameKey, id);
        pipeline.hset(keys.emails, user.email, id);
        if (user.passwordHash) pipeline.hset(keys.credentials, id, user.passwordHash);
      }
      await pipeline.exec();
      for (const replay of replayers) await replay(replayed);
    });
    await client.set(keys.sequence, highest);
  });

  return {
    records,

    /** Records a new account (after its MongoDB insert): record, indexes, password hash. */
    async created(user: UserRecord, passwordHash: string): Promise<void> {
      const id = user._id.toHexString();
      records.forget(id);
      await created.run(
        redis.command,
        [records.keyOf(id), keys.names, keys.emails, keys.credentials],
        [encode(user), user.usernameKey, user.email, id, passwordHash, records.channel],
      );
    },

    /** A version for a profile change, taken before it is written to MongoDB. */
    nextVersion: () => redis.command.incr(keys.sequence),

    /** Applies a profile change (after its MongoDB insert); the record as it is now. */
    async changed(change: UserChangeRecord): Promise<UserRecord | null> {
      const id = change.userId.toHexString();
      records.forget(id);
      const args: (string | number)[] = [records.channel, id, change.at.toISOString()];
      for (const [field, value] of Object.entries(change.set)) {
        args.push(field, JSON.stringify(value ?? null), change.version);
      }
      const text = (await changed.run(redis.command, [records.keyOf(id)], args)) as string | null;
      return text ? decode(text) : ((await records.getMany([id])).get(id) ?? null);
    },

    /** The id of the user with this username key or email, if any. */
    idBy: async (field: 'usernameKey' | 'email', value: string): Promise<string | null> =>
      (await lookup.run(
        redis.command,
        [field === 'usernameKey' ? keys.names : keys.emails],
        [value],
      )) as string | null,

    /** The ids of the users with these username keys (unknown ones left out). */
    async idsByUsernameKeys(usernameKeys: readonly string[]): Promise<string[]> {
      if (usernameKeys.length === 0) return [];
      const ids = (await lookupMany.run(redis.command, [keys.names], usernameKeys)) as (
        string | null
      )[];
      return ids.filter((id): id is string => id !== null);
    },

    /** The id and password hash of the user with this username key or email. */
    async credentialsBy(
      field: 'usernameKey' | 'email',
      value: string,
    ): Promise<{ id: string; passwordHash: string } | null> {
      const reply = (await credentials.run(
        redis.command,
        [field === 'usernameKey' ? keys.names : keys.emails, keys.credentials],
        [value],
      )) as [string, string] | null;
      return reply ? { id: reply[0], passwordHash: reply[1] } : null;
    },

    /**
     * Registers a rebuild step for what another module derives from every user: called with
     * each batch of users as they are now (profile changes applied) during the rebuild.
     */
    onReplay(replay: (users: readonly UserRecord[]) => Promise<void>): void {
      replayers.push(replay);
    },

    /** How many accounts exist. */
    count: async (): Promise<number> => Number(await count.run(redis.command, [keys.names], [])),
  };
}

export type UserStore = ReturnType<typeof createUserStore>;
