import type { Logger } from '../../infra/logger.js';
import { scanCollection } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { Redis, RedisClients } from '../../infra/redis.js';
import { conflict } from '../../lib/errors.js';
import type { WaitlistKeys } from './waitlist.keys.js';
import {
  stateDocument,
  type WaitlistCompletionModel,
  type WaitlistCompletionRecord,
  type WaitlistEntryModel,
  type WaitlistEntryRecord,
  type WaitlistStateModel,
  type WaitlistWatermarkRecord,
} from './waitlist.model.js';

/**
 * Claims a ticket for an email in one atomic step: the email's ticket if it has one, else the
 * next number of the sequence, with the entry's details recorded at once (so a repeat join
 * knows the ticket's username without reading MongoDB). Replies {-2} when another email asked
 * for the username, {0, t, details} for an existing ticket and {1, t, details} for a new one.
 * Because the lookup and the INCR happen together, a number is only ever drawn for an email
 * that had none: two racing requests for one email (on any instances) get the same number, and
 * the numbers stay dense.
 */
const claimSource = `
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return {0, tonumber(existing), redis.call('HGET', KEYS[4], ARGV[1]) or ''} end
local owner = redis.call('HGET', KEYS[3], ARGV[2])
if owner and owner ~= ARGV[1] then return {-2} end
local ticket = redis.call('INCR', KEYS[1])
local details = cjson.encode({ ticket = ticket, username = ARGV[3], usernameKey = ARGV[2] })
redis.call('HSET', KEYS[2], ARGV[1], ticket)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], details)
return {1, ticket, details}
`;

/**
 * Undoes a claim whose insert was refused: forgets the email's mapping and details (if still
 * this ticket) and the username's, and gives the number back when nobody drew a later one.
 */
const releaseSource = `
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[3] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
end
if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[2]) end
if redis.call('GET', KEYS[1]) == ARGV[3] then redis.call('DECR', KEYS[1]) end
return 1
`;

// KEYS: the username index. ARGV: username key, email. Removes the entry only if it is theirs.
const releaseUsernameSource = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
`;

/** Raises an integer key to at least ARGV[1] (creating it); never lowers it. Returns it. */
const raiseSource = `
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local wanted = tonumber(ARGV[1])
if current < wanted then redis.call('SET', KEYS[1], ARGV[1]) return wanted end
return current
`;

// KEYS: emails, details, completed. ARGV: email. The entry's ticket, details and completion.
const entrySource = `
local ticket = redis.call('HGET', KEYS[1], ARGV[1])
if not ticket then return false end
return { ticket, redis.call('HGET', KEYS[2], ARGV[1]) or '', redis.call('SISMEMBER', KEYS[3], ARGV[1]) }
`;

// KEYS: completed, usernames. ARGV: email, username key asked for, username key used.
const completedSource = `
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] ~= ARGV[3] and redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return 1
`;

const getSource = `return redis.call('GET', KEYS[1])`;
const hashGetSource = `return redis.call('HGET', KEYS[1], ARGV[1])`;
const countSource = `return redis.call('SCARD', KEYS[1])`;
const snapshotSource = `return { redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]) }`;

/** The outcome of a claim: a ticket (new, or the email's existing one), or a refusal. */
export type Claim =
  | { kind: 'new' | 'existing'; ticket: number; username: string; usernameKey: string }
  | { kind: 'username-taken' };

/** A ticket as the read model knows it. */
export interface KnownEntry {
  ticket: number;
  email: string;
  username: string;
  usernameKey: string;
  completed: boolean;
}

/**
 * The waitlist's part of the read model (infra/read-model.ts): the ticket sequence, the index
 * from email to ticket with each entry's details, the usernames asked for, the completed
 * entries (whose accounts exist), and the mirror of the durable watermark, all in one slot
 * (waitlist.keys.ts). Rebuilt from `waitlistentries`, `waitlist_completions` and the watermark
 * document.
 */
export function createWaitlistSequence(deps: {
  model: ReadModel;
  redis: RedisClients;
  keys: WaitlistKeys;
  Entry: WaitlistEntryModel;
  Completion: WaitlistCompletionModel;
  State: WaitlistStateModel;
  logger: Logger;
}) {
  const { model, redis, keys, Entry, Completion, State, logger } = deps;
  const claimKeys = [keys.sequence, keys.emails, keys.usernames, keys.details];
  const claim = model.script(claimSource);
  const release = model.script(releaseSource);
  const releaseUsername = model.script(releaseUsernameSource);
  const raise = model.script(raiseSource);
  const entry = model.script(entrySource);
  const completed = model.script(completedSource);
  const get = model.script(getSource);
  const hashGet = model.script(hashGetSource);
  const count = model.script(countSource);
  const snapshot = model.script(snapshotSource);

  const durableWatermark = (): Promise<WaitlistWatermarkRecord> =>
    stateDocument<WaitlistWatermarkRecord>(State, {
      _id: 'watermark',
      admittedThrough: 0,
      fence: 0,
      admitClockMs: Date.now(),
    });

  const raiseTo = async (key: string, value: number) =>
    Number(await raise.run(redis.command, [key], [value]));

  model.family('waitlist', async (client: Redis) => {
    const done = new Map<string, string>();
    await scanCollection<WaitlistCompletionRecord>(Completion, (batch) => {
      for (const c of batch) done.set(c._id, c.usernameKey);
    });
    let highest = 0;
    let entries = 0;
    await scanCollection<WaitlistEntryRecord>(Entry, async (batch) => {
      // Every key here is the waitlist's (one slot): a pipeline is one round trip on a cluster too.
      const pipeline = client.pipeline();
      for (const e of batch) {
        const details = { ticket: e.ticket, username: e.username, usernameKey: e.usernameKey };
        pipeline.hset(keys.emails, e.email, String(e.ticket));
        pipeline.hset(keys.details, e.email, JSON.stringify(details));
        // A name stays held until its account exists (under it, or under another).
        if (!done.has(e.email) && !e.completedAt)
          pipeline.hset(keys.usernames, e.usernameKey, e.email);
        if (done.has(e.email) || e.completedAt) pipeline.sadd(keys.completed, e.email);
        highest = Math.max(highest, e.ticket);
      }
      entries += batch.length;
      await pipeline.exec();
    });
    await client.set(keys.sequence, highest);
    await client.set(keys.admittedThrough, (await durableWatermark()).admittedThrough);
    logger.info({ entries, lastTicket: highest }, 'waitlist rebuilt');
  });

  return {
    durableWatermark,

    /** A ticket for this email (the same one every time). */
    async claim(email: string, username: string, usernameKey: string): Promise<Claim> {
      const reply = (await claim.run(redis.command, claimKeys, [email, usernameKey, username])) as [
        number,
        number?,
        string?,
      ];
      if (reply[0] === -2) return { kind: 'username-taken' };
      const details = reply[2]
        ? (JSON.parse(reply[2]) as { username: string; usernameKey: string })
        : null;
      return {
        kind: reply[0] === 0 ? 'existing' : 'new',
        ticket: reply[1]!,
        username: details?.username ?? username,
        usernameKey: details?.usernameKey ?? usernameKey,
      };
    },

    /** Undoes a new claim that could not be stored (see releaseSource). */
    async release(email: string, usernameKey: string, ticket: number): Promise<void> {
      await release.run(redis.command, claimKeys, [email, usernameKey, ticket]);
    },

    /** The entry of an email, if it has a ticket. */
    async entry(email: string): Promise<KnownEntry | null> {
      const reply = (await entry.run(
        redis.command,
        [keys.emails, keys.details, keys.completed],
        [email],
      )) as [string, string, number] | null;
      if (!reply) return null;
      const details = reply[1]
        ? (JSON.parse(reply[1]) as { username: string; usernameKey: string })
        : { username: '', usernameKey: '' };
      return { ticket: Number(reply[0]), email, ...details, completed: reply[2] === 1 };
    },

    /** Records that an entry's account exists (and frees the name asked for, if not used). */
    async completed(email: string, askedKey: string, usedKey: string): Promise<void> {
      await completed.run(
        redis.command,
        [keys.completed, keys.usernames],
        [email, askedKey, usedKey],
      );
    },

    /** How many entries have their account. */
    completedCount: async (): Promise<number> =>
      Number(await count.run(redis.command, [keys.completed], [])),

    /**
     * Moves the sequence past `ticket`: after a Redis restart from an old snapshot that was
     * trusted (durable Redis) the sequence can lag behind MongoDB, and its next numbers collide.
     */
    catchUp: async (ticket: number): Promise<void> => {
      await raiseTo(keys.sequence, ticket);
    },

    /** The normalised email of the waiting (or admitted) entry that asked for a username. */
    usernameHolder: async (usernameKey: string): Promise<string | null> =>
      (await hashGet.run(redis.command, [keys.usernames], [usernameKey])) as string | null,

    /** Frees a username `email` asked for (and completed sign-up under another name). */
    releaseUsername: (usernameKey: string, email: string) =>
      releaseUsername.run(redis.command, [keys.usernames], [usernameKey, email]),

    /** The highest ticket issued. */
    lastTicket: async (): Promise<number> =>
      Number((await get.run(redis.command, [keys.sequence], [])) ?? 0),

    /** The admission watermark, from its Redis mirror (restored from MongoDB when missing). */
    async admittedThrough(): Promise<number> {
      const value = (await get.run(redis.command, [keys.admittedThrough], [])) as string | null;
      if (value !== null) return Number(value);
      return raiseTo(keys.admittedThrough, (await durableWatermark()).admittedThrough);
    },

    /** Raises the mirror; it never goes down, so positions read from it never go up. */
    mirrorAdmittedThrough: (value: number) => raiseTo(keys.admittedThrough, value),

    /** Both Redis figures in one round trip; null where a key is missing. */
    async snapshot(): Promise<{ lastTicket: number | null; admittedThrough: number | null }> {
      const [sequence, admitted] = (await snapshot.run(
        redis.command,
        [keys.sequence, keys.admittedThrough],
        [],
      )) as [string | null, string | null];
      return {
        lastTicket: sequence === null ? null : Number(sequence),
        admittedThrough: admitted === null ? null : Number(admitted),
      };
    },
  };
}

export type WaitlistSequence = ReturnType<typeof createWaitlistSequence>;

/** Thrown when a username is wanted by another waiting email. */
export const usernameWaitlisted = () =>
  conflict('Someone on the waitlist has asked for that username.', 'username');
