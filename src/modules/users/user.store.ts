import type { Logger } from '../../infra/logger.js';
import { createModelRecords, modelKey } from '../../infra/model-store.js';
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

/** Viewers' records an instance holds apart from the rest (a copy lives a minute at most). */
const viewerRecords = 2_500;

const encode = (user: UserRecord, fv: UserEntry['fv'] = {}): string =>
  JSON.stringify({
    ...toUserWire(user),
    email: user.email,
    role: user.role,
    fv,
  } satisfies UserEntry);

const decode = (text: string): UserRecord => {
  const entry = JSON.parse(text) as UserEntry;
  return fromUserWire(entry, entry.email, entry.role);
};

// KEYS: record, credentials (both the user's). ARGV: record text, password hash, channel, id.
// A second run (a retried effect) keeps the record as it is now.
const createdSource = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
redis.call('SET', KEYS[2], ARGV[2])
publish(ARGV[3], ARGV[4])
return 1
`;

// KEYS: names or emails. ARGV: the username key or email, id. The same entry every run.
const indexedSource = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
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

const getSource = `return redis.call('GET', KEYS[1])`;

const countSource = `return redis.call('HLEN', KEYS[1])`;

/**
 * The users' part of the read model (infra/read-model.ts): each user's record (`user:{<id>}`)
 * and password hash (`cred:{<id>}`, kept apart from the record so it never travels with one),
 * the indexes from username key and from email to id (`uname`, `uemail`), and the sequence
 * that versions profile changes (`user:seq`). Rebuilt from `users` and `user_changes`.
 *
 * On a Redis Cluster a user's two keys share a slot (tagged by the id); each index is one
 * global hash that every script touches alone, so it needs no tag (infra/slots.ts). The
 * indexes only mirror MongoDB: its unique indexes decide who gets a name or an email.
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
    // The records of the viewers this instance serves, read on each of their requests, apart
    // from the people their pages show (infra/near-cache.ts).
    viewerSize: viewerRecords,
  });
  const keys = {
    /** Hash: username key → id. */
    names: `${model.prefix}uname`,
    /** Hash: normalised email → id. */
    emails: `${model.prefix}uemail`,
    /** The user's password hash (absent for an account without one). */
    credentials: (id: string) => modelKey(model, 'cred', id),
    /** The last version drawn for a profile change (INCR). */
    sequence: `${model.prefix}user:seq`,
  };
  const created = model.script(createdSource);
  const indexed = model.script(indexedSource);
  const changed = model.script(changedSource);
  const lookup = model.script(lookupSource);
  const lookupMany = model.script(lookupManySource);
  const get = model.script(getSource);
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
      // Many users' keys: a batch, not a pipeline (on a cluster they are on many nodes).
      const pipeline = redis.batch();
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
        if (user.passwordHash) pipeline.set(keys.credentials(id), user.passwordHash);
      }
      await pipeline.exec();
      for (const replay of replayers) await replay(replayed);
    });
    await client.set(keys.sequence, highest);
  });

  return {
    records,

    /**
     * Records a new account (after its MongoDB insert): record and password hash, then the
     * name and the email in their indexes. Three scripts in one tick (one round trip on a
     * single Redis, run in that order), each giving the same result when run again, so a
     * retried effect finishes what a first run left. Between them a reader may find the
     * record while a lookup by name or email does not find it yet: the account then looks
     * not quite created, which is what it is (MongoDB already refuses its name and email).
     */
    async created(user: UserRecord, passwordHash: string): Promise<void> {
      const id = user._id.toHexString();
      records.forget(id);
      await Promise.all([
        created.run(
          redis.command,
          [records.keyOf(id), keys.credentials(id)],
          [encode(user), passwordHash, records.channel, id],
        ),
        indexed.run(redis.command, [keys.names], [user.usernameKey, id]),
        indexed.run(redis.command, [keys.emails], [user.email, id]),
      ]);
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

    /**
     * The id and password hash (empty if none) of the user with this username key or email:
     * the id from its index, then the hash from the user's slot (two round trips; a log-in
     * spends far longer on verifying the password).
     */
    async credentialsBy(
      field: 'usernameKey' | 'email',
      value: string,
    ): Promise<{ id: string; passwordHash: string } | null> {
      const id = (await lookup.run(
        redis.command,
        [field === 'usernameKey' ? keys.names : keys.emails],
        [value],
      )) as string | null;
      if (!id) return null;
      const passwordHash = (await get.run(redis.command, [keys.credentials(id)], [])) as
        string | null;
      return { id, passwordHash: passwordHash ?? '' };
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
