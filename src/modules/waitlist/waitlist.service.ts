import { Types } from 'mongoose';
import type { Effects } from '../../infra/effects.js';
import type { Logger } from '../../infra/logger.js';
import { withLock } from '../../infra/lock.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import type { ReadModel } from '../../infra/read-model.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { RedisClients } from '../../infra/redis.js';
import {
  ErrorCode,
  ServiceUnavailableError,
  VerityError,
  badUserInput,
  conflict,
  isDuplicateKeyError,
  unauthenticated,
  validateTogether,
} from '../../lib/errors.js';
import type { EventStream } from '../../lib/event-stream.js';
import type { TokenService } from '../auth/index.js';
import type { MailService } from '../mail/index.js';
import type { NotificationService } from '../notifications/index.js';
import {
  normalizeEmail,
  usernameKeyOf,
  validateNewAccount,
  validateUsername,
  type NewAccount,
  type SessionResult,
  type UserService,
} from '../users/index.js';
import { createAdmission, type TickOptions, type TickOutcome } from './waitlist.admission.js';
import type { WaitlistTopics } from './waitlist.events.js';
import { waitlistKeys } from './waitlist.keys.js';
import {
  stateDocument,
  type WaitlistAdmissionModel,
  type WaitlistCompletionModel,
  type WaitlistCompletionRecord,
  type WaitlistEntryModel,
  type WaitlistEntryRecord,
  type WaitlistSettingsRecord,
  type WaitlistStateModel,
} from './waitlist.model.js';
import { createWaitlistSequence, usernameWaitlisted, type Claim } from './waitlist.sequence.js';
import { createWaitlistWatch, positionOf, type TicketView } from './waitlist.watch.js';

export type { TicketView };

/** The waitlist's numbers and settings, as admins see them. */
export interface WaitlistStats {
  waiting: number;
  admitted: number;
  admittedThrough: number;
  lastTicket: number;
  maxActiveAccounts: number;
  admissionRatePerMinute: number;
  paused: boolean;
  estimatedWaitSeconds: number | null;
}

/** What `signUp` gives: an account at once, or a place on the waitlist. */
export type SignUpOutcome =
  ({ __typename: 'Session' } & SessionResult) | ({ __typename: 'WaitlistTicket' } & TicketView);

export interface WaitlistConfig {
  defaults: Omit<WaitlistSettingsRecord, '_id' | 'updatedAt'>;
  tickMs: number;
  ticketTtlSeconds: number;
}

/** The claims inside a ticket token. */
interface TicketClaims {
  ticket: number;
  email: string;
  username: string;
}

const maxAdmitCount = 100_000;

/**
 * The launch waitlist (DESIGN.md, "Waitlist"): capacity settings, joining, positions, the
 * cluster-wide admission tick and completing sign-up once admitted.
 *
 * Joining costs no password hashing and one Redis script (plus one MongoDB insert for a new
 * ticket): the script draws the number and records the email in one step, so the same email
 * always gets the same ticket and the numbers are dense. MongoDB holds every entry (unique on
 * ticket and on email) and every completion; the Redis side is part of the read model,
 * rebuilt from them when lost. No request reads MongoDB beyond three small state documents.
 */
export function createWaitlistService(deps: {
  model: ReadModel;
  Entry: WaitlistEntryModel;
  Completion: WaitlistCompletionModel;
  State: WaitlistStateModel;
  Admission: WaitlistAdmissionModel;
  users: UserService;
  effects: Effects;
  notifications: NotificationService;
  mail: MailService;
  redis: RedisClients;
  bus: EventBus<WaitlistTopics>;
  tokens: TokenService;
  config: WaitlistConfig;
  logger: Logger;
}) {
  const {
    model,
    Entry,
    Completion,
    State,
    Admission,
    users,
    effects,
    notifications,
    mail,
    redis,
    bus,
    tokens,
    config,
    logger,
  } = deps;
  const keys = waitlistKeys(redis.namespace, model.prefix);
  const sequence = createWaitlistSequence({
    model,
    redis,
    keys,
    Entry,
    Completion,
    State,
    logger,
  });

  const settings = (): Promise<WaitlistSettingsRecord> =>
    stateDocument<WaitlistSettingsRecord>(State, {
      _id: 'settings',
      ...config.defaults,
      updatedAt: new Date(),
    });

  // Changes are serialised: FerretDB v1 may lose one of two concurrent updates of a document.
  const changeSettings = (changes: Partial<Omit<WaitlistSettingsRecord, '_id'>>) =>
    withLock(redis, keys.settingsLock, async () => {
      await settings();
      await State.collection.updateOne(
        { _id: 'settings' as never },
        { $set: { ...changes, updatedAt: new Date() } },
      );
    });

  const admission = createAdmission({
    redis,
    keys,
    State,
    Admission,
    accountCount: () => users.accountCount(),
    sequence,
    settings,
    bus,
    leaseMs: Math.max(5_000, config.tickMs * 5),
    tickMs: config.tickMs,
    logger,
  });
  const watch = createWaitlistWatch({ bus, admittedThrough: () => sequence.admittedThrough() });

  /** A ticket as its holder sees it; `ticketToken` only where the caller may be given it. */
  const view = async (
    entry: Pick<WaitlistEntryRecord, 'ticket' | 'username'>,
    ticketToken: string | null,
  ): Promise<TicketView> => {
    const through = await sequence.admittedThrough();
    return {
      ticket: entry.ticket,
      position: positionOf(entry.ticket, through),
      admitted: entry.ticket <= through,
      username: entry.username,
      ticketToken,
    };
  };

  // A process that died between storing a completion and applying it left its journal entry.
  effects.recover('completed', async (email) => {
    const completion = await Completion.findById(email).lean<WaitlistCompletionRecord>().exec();
    const entry = completion ? await sequence.entry(email) : null;
    if (!completion || !entry) return;
    await effects.apply(`completed:${email}`, [
      () => sequence.completed(email, entry.usernameKey, completion.usernameKey),
      () => notifications.notifyAdmitted(completion.userId.toHexString(), completion.ticket),
    ]);
  });

  const signTicket = async (entry: Pick<WaitlistEntryRecord, 'ticket' | 'email' | 'username'>) =>
    (
      await tokens.sign('waitlist-ticket', String(entry.ticket), config.ticketTtlSeconds, {
        email: entry.email,
        username: entry.username,
      })
    ).token;

  /**
   * Sends the ticket token to the address it belongs to. The first join for an address is
   * also answered with the token; any later join only triggers this mail (at most one per
   * address per minute), so a token never reaches someone who merely knows the address.
   */
  const mailTicket = async (
    entry: WaitlistEntryRecord,
    ticketToken: string,
    first: boolean,
  ): Promise<void> => {
    try {
      if (!first) {
        const fresh = await redis.command.set(
          keys.mailedRecently(entry.email),
          '1',
          'EX',
          60,
          'NX',
        );
        if (fresh !== 'OK') return;
      }
      if (await users.hasAccountWithEmail(entry.email)) {
        await mail.send({ kind: 'waitlist-account-exists', to: entry.email });
      } else {
        await mail.send({
          kind: first ? 'waitlist-ticket' : 'waitlist-ticket-again',
          to: entry.email,
          ticket: entry.ticket,
          username: entry.username,
          ticketToken,
        });
      }
    } catch (error) {
      // The ticket is stored either way; the first joiner also has the token in the answer.
      logger.warn({ err: error, ticket: entry.ticket }, 'could not queue the waitlist mail');
    }
  };

  const inserts = createInserter(Entry.collection);
  const completionInserts = createInserter<WaitlistCompletionRecord>(
    Completion.collection as never,
  );

  /**
   * Stores the entry for a claimed ticket: the entry, and whether this call created the ticket
   * (rather than an earlier or racing join for the same address). An existing claim is stored
   * again too (the unique email refuses it): its first join may have died before storing it.
   */
  const store = async (
    claim: Extract<Claim, { ticket: number }>,
    email: string,
  ): Promise<{ entry: WaitlistEntryRecord; created: boolean } | 'retry'> => {
    const record: WaitlistEntryRecord = {
      _id: new Types.ObjectId(),
      ticket: claim.ticket,
      email,
      username: claim.username,
      usernameKey: claim.usernameKey,
      createdAt: new Date(),
    };
    try {
      await inserts.insert(record);
      return { entry: record, created: claim.kind === 'new' };
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
    if (claim.kind === 'existing') return { entry: record, created: false };
    // A new claim refused by MongoDB: the read model did not know what MongoDB holds (Redis was
    // restored from an old snapshot while trusted as durable). Rare, so MongoDB is read here.
    const stored = await Entry.findOne({ email }).lean<WaitlistEntryRecord>().exec();
    await sequence.release(email, claim.usernameKey, claim.ticket);
    const highest = await Entry.findOne({}, { ticket: 1 })
      .sort({ ticket: -1 })
      .lean<{ ticket: number }>()
      .exec();
    await sequence.catchUp(highest?.ticket ?? 0);
    if (stored) {
      logger.warn({ ticket: stored.ticket }, 'the waitlist index missed a stored entry');
      return { entry: stored, created: false };
    }
    return 'retry';
  };

  /**
   * Joins the waitlist. The answer never says whether an account exists for the address (the
   * owner learns it by mail), and carries the ticket token only when this call created the
   * ticket: a repeat join, by anyone, gets the number and position, and the token goes to the
   * address by mail.
   */
  const join = async (input: { email: string; username: string }): Promise<TicketView> => {
    const [email, username] = validateTogether(
      () => normalizeEmail(input.email),
      () => validateUsername(input.username),
    );
    const usernameKey = usernameKeyOf(username);
    if (await users.isUsernameTaken(usernameKey)) {
      throw conflict('That username is taken.', 'username');
    }

    for (let attempt = 0; attempt < 5; attempt++) {
      const claim = await sequence.claim(email, username, usernameKey);
      if (claim.kind === 'username-taken') throw usernameWaitlisted();
      const stored = await store(claim, email);
      if (stored === 'retry') continue;
      const { entry, created } = stored;
      const token = await signTicket(entry);
      await mailTicket(entry, token, created);
      return view(entry, created ? token : null);
    }
    throw new ServiceUnavailableError('the waitlist sequence did not settle');
  };

  /** The claims of a genuine ticket token whose ticket exists; UNAUTHENTICATED otherwise. */
  const verifyTicket = async (token: string): Promise<TicketClaims> => {
    const { subject, claims } = await tokens.verify('waitlist-ticket', token);
    const ticket = Number(subject);
    const { email, username } = claims as { email?: unknown; username?: unknown };
    if (!Number.isSafeInteger(ticket) || typeof email !== 'string' || typeof username !== 'string')
      throw unauthenticated('Invalid ticket token.');
    const entry = await sequence.entry(email);
    if (entry?.ticket !== ticket) throw unauthenticated('Unknown ticket.');
    return { ticket, email, username };
  };

  const isUnderCapacity = async (current: WaitlistSettingsRecord): Promise<boolean> => {
    if (current.paused) return false;
    let { lastTicket, admittedThrough } = await sequence.snapshot();
    lastTicket ??= await sequence.lastTicket();
    admittedThrough ??= await sequence.admittedThrough();
    // First come, first served: nobody skips the people already waiting.
    if (lastTicket > admittedThrough) return false;
    return (await admission.freeSeats(current, admittedThrough)) > 0;
  };

  const stats = async (): Promise<WaitlistStats> => {
    const [current, mark, lastTicket] = await Promise.all([
      settings(),
      sequence.durableWatermark(),
      sequence.lastTicket(),
    ]);
    const waiting = Math.max(0, lastTicket - mark.admittedThrough);
    const rate = current.admissionRatePerMinute;
    return {
      waiting,
      admitted: mark.admittedThrough,
      admittedThrough: mark.admittedThrough,
      lastTicket,
      maxActiveAccounts: current.maxActiveAccounts,
      admissionRatePerMinute: rate,
      paused: current.paused,
      estimatedWaitSeconds: current.paused || rate === 0 ? null : Math.ceil((waiting * 60) / rate),
    };
  };

  let timer: NodeJS.Timeout | undefined;
  let ticking = false;
  /** The admitNext calls of this instance, one after another (see admitNext). */
  let admitting: Promise<void> = Promise.resolve();
  /**
   * This instance's ticks, the timer's and admitNext's, one after another: a call meeting the
   * timer's tick waits for it to end, instead of finding the lease taken and polling for it.
   */
  let ticks: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(run: () => Promise<T>): Promise<T> => {
    const turn = ticks.then(run);
    ticks = turn.catch(() => undefined);
    return turn;
  };

  return {
    join,
    stats,
    /** The local subscriber index (for tests and metrics). */
    watchers: watch,

    /**
     * Creates the account when there is room and nobody is waiting; otherwise joins the
     * waitlist (no password hashing: that happens at `completeSignUp`). Every input is
     * validated first either way, so the outcome never depends on a bad value.
     */
    async signUp(input: NewAccount): Promise<SignUpOutcome> {
      const { username, email } = validateNewAccount(input);
      if (await isUnderCapacity(await settings())) {
        // An admitted ticket that has not completed yet still holds the username it asked for.
        const holder = await sequence.usernameHolder(usernameKeyOf(username));
        if (holder !== null && holder !== email) throw usernameWaitlisted();
        return { __typename: 'Session', ...(await users.createAccount(input)) };
      }
      return { __typename: 'WaitlistTicket', ...(await join({ email, username })) };
    },

    /** Throws UNAUTHENTICATED unless the token is genuine and its ticket exists. */
    async verifyTicketToken(token: string): Promise<void> {
      await verifyTicket(token);
    },

    /** Where a ticket stands now. */
    async ticket(token: string): Promise<TicketView> {
      return view(await verifyTicket(token), token);
    },

    /** A ticket's position now, then on each move, ending with the admitted value. */
    async watch(token: string): Promise<EventStream<TicketView>> {
      const claims = await verifyTicket(token);
      return watch.watch({
        ticket: claims.ticket,
        username: claims.username,
        ticketToken: token,
      });
    },

    /** Creates the account of an admitted ticket. */
    async completeSignUp(input: {
      ticketToken: string;
      password: string;
      displayName?: string | null | undefined;
      username?: string | null | undefined;
    }): Promise<SessionResult> {
      const { ticket, email } = await verifyTicket(input.ticketToken);
      const entry = await sequence.entry(email);
      if (!entry) throw unauthenticated('Unknown ticket.');
      // Every input is checked before the ticket's state is: the answer never depends on
      // whether a bad value would have been used.
      const { username } = validateNewAccount({
        username: input.username ?? entry.username,
        email,
        password: input.password,
        displayName: input.displayName,
      });
      if (entry.completed) {
        // A retry whose first answer was lost signs in; anyone else is told the ticket is used.
        try {
          return await users.logIn({ login: email, password: input.password });
        } catch (error) {
          if (error instanceof VerityError && error.code === ErrorCode.UNAUTHENTICATED)
            throw conflict('This ticket has already been used to sign up.');
          throw error;
        }
      }
      const { admittedThrough } = await sequence.durableWatermark();
      if (ticket > admittedThrough) {
        const position = positionOf(ticket, admittedThrough);
        throw new VerityError(
          ErrorCode.WAITLISTED,
          `You are still on the waitlist, at position ${position}.`,
          { position },
        );
      }
      if (username !== entry.username) {
        // Another waiting or admitted email may hold the new name.
        const holder = await sequence.usernameHolder(usernameKeyOf(username));
        if (holder !== null && holder !== email) throw usernameWaitlisted();
      }
      // The users' unique indexes decide a race between two completions of one ticket.
      const session = await users.createAccount({
        username,
        email,
        password: input.password,
        displayName: input.displayName,
      });
      const completion: WaitlistCompletionRecord = {
        _id: email,
        ticket,
        userId: session.user._id,
        usernameKey: session.user.usernameKey,
        at: new Date(),
      };
      const journal = `completed:${email}`;
      await effects.intend(journal);
      await insertResolved(() => completionInserts.insert(completion), { unknown: {} });
      await effects.apply(journal, [
        () => sequence.completed(email, entry.usernameKey, completion.usernameKey),
        () => notifications.notifyAdmitted(session.user._id.toHexString(), ticket),
      ]);
      return session;
    },

    setCapacity: async (input: { maxActiveAccounts: number; admissionRatePerMinute: number }) => {
      validateTogether(
        () => {
          if (!Number.isSafeInteger(input.maxActiveAccounts) || input.maxActiveAccounts < 0)
            throw badUserInput('maxActiveAccounts is 0 (unlimited) or more.', 'maxActiveAccounts');
        },
        () => {
          if (
            !Number.isSafeInteger(input.admissionRatePerMinute) ||
            input.admissionRatePerMinute < 0
          )
            throw badUserInput('admissionRatePerMinute is 0 or more.', 'admissionRatePerMinute');
        },
      );
      await changeSettings(input);
      return stats();
    },

    setPaused: async (paused: boolean) => {
      await changeSettings({ paused });
      return stats();
    },

    /**
     * Admits the next `count` tickets now, through the same leased, fenced tick. This
     * instance's calls take their turns in order (polling for the lease together, some would
     * wait past their request's time while later ones got it), after this instance's timer
     * tick if one is running; other instances' calls and ticks are waited for by polling.
     */
    async admitNext(count: number): Promise<WaitlistStats> {
      if (!Number.isSafeInteger(count) || count < 1 || count > maxAdmitCount)
        throw badUserInput(`count is 1 to ${maxAdmitCount.toLocaleString('en')}.`, 'count');
      const deadline = Date.now() + 10_000;
      const turn = admitting.then(async () => {
        while ((await inTurn(() => admission.tick({ count }))).status === 'busy') {
          if (Date.now() > deadline) throw new ServiceUnavailableError('admission lease is busy');
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      });
      admitting = turn.catch(() => undefined);
      await turn;
      return stats();
    },

    /** One admission tick in this instance's turn (as the timer runs it); options are for tests. */
    tick: (options?: TickOptions): Promise<TickOutcome> => inTurn(() => admission.tick(options)),

    /** Starts this instance's admission timer (every WAITLIST_TICK_MS; one tick at a time). */
    start() {
      timer ??= setInterval(() => {
        if (ticking) return;
        ticking = true;
        inTurn(() => admission.tick())
          .catch((error: unknown) => logger.warn({ err: error }, 'admission tick failed'))
          .finally(() => {
            ticking = false;
          });
      }, config.tickMs);
      timer.unref();
    },

    /** Stops the timer and ends every local position subscription. */
    stop() {
      clearInterval(timer);
      timer = undefined;
      watch.close();
    },
  };
}

export type WaitlistService = ReturnType<typeof createWaitlistService>;
