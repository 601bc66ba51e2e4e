import type { Logger } from '../../infra/logger.js';
import { withLock } from '../../infra/lock.js';
import type { RedisClients } from '../../infra/redis.js';
import { createScript } from '../../infra/redis-script.js';
import { conflict } from '../../lib/errors.js';
import type { WaitlistKeys } from './waitlist.keys.js';
import {
  stateDocument,
  type WaitlistEntryModel,
  type WaitlistStateModel,
  type WaitlistWatermarkRecord,
} from './waitlist.model.js';

/**
 * Claims a ticket for an email in one atomic step: the email's ticket if it has one, else the
 * next number of the sequence. Replies {-1} when the sequence is missing (Redis lost its data:
 * rebuild first), {-2} when another email asked for the username, {0, t} for an existing
 * ticket and {1, t} for a new one. Because the lookup and the INCR happen together, a number
 * is only ever drawn for an email that had none: two racing requests for one email (on any
 * instances) get the same number, and the numbers stay dense.
 */
const claimScript = createScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return {0, tonumber(existing)} end
local owner = redis.call('HGET', KEYS[3], ARGV[2])
if owner and owner ~= ARGV[1] then return {-2} end
local ticket = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], ticket)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
return {1, ticket}
`);

/**
 * Undoes a claim whose insert was refused: forgets the email's mapping (if still this ticket)
 * and the username's, and gives the number back when nobody drew a later one.
 */
const releaseScript = createScript(`
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[3] then redis.call('HDEL', KEYS[2], ARGV[1]) end
if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[2]) end
if redis.call('GET', KEYS[1]) == ARGV[3] then redis.call('DECR', KEYS[1]) end
return 1
`);

// KEYS: the username index. ARGV: username key, email. Removes the entry only if it is theirs.
const releaseUsernameScript = createScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
`);

/** Raises an integer key to at least ARGV[1] (creating it); never lowers it. Returns it. */
const raiseScript = createScript(`
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local wanted = tonumber(ARGV[1])
if current < wanted then redis.call('SET', KEYS[1], ARGV[1]) return wanted end
return current
`);

/** The outcome of a claim: a ticket (new, or the email's existing one), or a refusal. */
export type Claim = { kind: 'new' | 'existing'; ticket: number } | { kind: 'username-taken' };

/**
 * The Redis side of the waitlist: the ticket sequence and the email index (both rebuilt from
 * MongoDB after a Redis loss), and the mirror of the durable watermark.
 */
export function createWaitlistSequence(deps: {
  redis: RedisClients;
  keys: WaitlistKeys;
  Entry: WaitlistEntryModel;
  State: WaitlistStateModel;
  logger: Logger;
}) {
  const { redis, keys, Entry, State, logger } = deps;
  const claimKeys = [keys.sequence, keys.emails, keys.usernames];

  const durableWatermark = (): Promise<WaitlistWatermarkRecord> =>
    stateDocument<WaitlistWatermarkRecord>(State, {
      _id: 'watermark',
      admittedThrough: 0,
      fence: 0,
      admitClockMs: Date.now(),
    });

  const highestTicket = async (): Promise<number> => {
    const top = await Entry.findOne({}, { ticket: 1 })
      .sort({ ticket: -1 })
      .lean<{ ticket: number }>()
      .exec();
    return top?.ticket ?? 0;
  };

  const raise = async (key: string, value: number) =>
    Number(await raiseScript.run(redis.command, [key], [value]));

  /**
   * Rebuilds the email and username index from MongoDB, then recreates the sequence at the
   * highest stored ticket. One instance does it (under a lock); the sequence is written last,
   * so its existence means the index is complete.
   */
  const rebuild = () =>
    withLock(
      redis,
      keys.rebuildLock,
      async () => {
        if ((await redis.command.exists(keys.sequence)) === 1) return;
        const entries = await Entry.find({}, { _id: 0, ticket: 1, email: 1, usernameKey: 1 })
          .lean<{ ticket: number; email: string; usernameKey: string }[]>()
          .exec();
        let highest = 0;
        for (let i = 0; i < entries.length; i += 1_000) {
          const chunk = entries.slice(i, i + 1_000);
          const pipeline = redis.command.pipeline();
          pipeline.hset(keys.emails, ...chunk.flatMap((e) => [e.email, String(e.ticket)]));
          pipeline.hset(keys.usernames, ...chunk.flatMap((e) => [e.usernameKey, e.email]));
          await pipeline.exec();
          for (const entry of chunk) highest = Math.max(highest, entry.ticket);
        }
        await raise(keys.sequence, highest);
        await raise(keys.admittedThrough, (await durableWatermark()).admittedThrough);
        logger.info({ entries: entries.length, lastTicket: highest }, 'waitlist index rebuilt');
      },
      { ttlMs: 120_000, waitMs: 120_000 },
    );

  return {
    durableWatermark,
    highestTicket,
    rebuild,

    /** A ticket for this email (the same one every time); rebuilds the index when it is lost. */
    async claim(email: string, usernameKey: string): Promise<Claim> {
      for (let attempt = 0; ; attempt++) {
        const reply = (await claimScript.run(redis.command, claimKeys, [email, usernameKey])) as [
          number,
          number?,
        ];
        switch (reply[0]) {
          case -1:
            if (attempt > 3) throw new Error('the waitlist sequence keeps disappearing');
            await rebuild();
            continue;
          case -2:
            return { kind: 'username-taken' };
          case 0:
            return { kind: 'existing', ticket: reply[1]! };
          default:
            return { kind: 'new', ticket: reply[1]! };
        }
      }
    },

    /** Undoes a new claim that could not be stored (see releaseScript). */
    async release(email: string, usernameKey: string, ticket: number): Promise<void> {
      await releaseScript.run(redis.command, claimKeys, [email, usernameKey, ticket]);
    },

    /** Points an email at its stored ticket (the index had lost or never had it). */
    async remember(email: string, usernameKey: string, ticket: number): Promise<void> {
      await redis.command
        .multi()
        .hset(keys.emails, email, String(ticket))
        .hset(keys.usernames, usernameKey, email)
        .exec();
    },

    /**
     * Moves the sequence past every stored ticket: after a Redis restart from an old snapshot
     * the sequence can lag behind MongoDB, and its next numbers would collide.
     */
    async catchUp(): Promise<void> {
      await raise(keys.sequence, await highestTicket());
    },

    /** The normalised email of the waiting (or admitted) entry that asked for a username. */
    usernameHolder: (usernameKey: string) => redis.command.hget(keys.usernames, usernameKey),

    /** Frees a username `email` asked for (and completed sign-up under another name). */
    releaseUsername: (usernameKey: string, email: string) =>
      releaseUsernameScript.run(redis.command, [keys.usernames], [usernameKey, email]),

    /** The highest ticket issued. */
    async lastTicket(): Promise<number> {
      const value = await redis.command.get(keys.sequence);
      if (value !== null) return Number(value);
      await rebuild();
      return Number((await redis.command.get(keys.sequence)) ?? 0);
    },

    /** The admission watermark, from its Redis mirror (restored from MongoDB when missing). */
    async admittedThrough(): Promise<number> {
      const value = await redis.command.get(keys.admittedThrough);
      if (value !== null) return Number(value);
      return raise(keys.admittedThrough, (await durableWatermark()).admittedThrough);
    },

    /** Raises the mirror; it never goes down, so positions read from it never go up. */
    mirrorAdmittedThrough: (value: number) => raise(keys.admittedThrough, value),

    /** Both Redis figures in one round trip; null where a key is missing. */
    async snapshot(): Promise<{ lastTicket: number | null; admittedThrough: number | null }> {
      const [sequence, admitted] = await redis.command.mget(keys.sequence, keys.admittedThrough);
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
