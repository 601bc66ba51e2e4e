import { Types } from 'mongoose';
import type { Logger } from '../../infra/logger.js';
import { insertResolved } from '../../infra/mongo.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { RecordCache } from '../../infra/record-cache.js';
import { SlowConsumerError, conflict, unauthenticated } from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import {
  assertStrongPassword,
  burnPasswordCheck,
  hashPassword,
  verifyPassword,
} from '../auth/auth.password.js';
import type { TokenService } from '../auth/auth.tokens.js';
import type { UserCountStore } from './user.counts.js';
import type { UserTopics } from './user.events.js';
import { fromUserWire, toUserWire } from './user.wire.js';
import { publicUserFields, type UserModel, type UserRecord, type UserRole } from './user.model.js';
import {
  normalizeEmail,
  usernameKeyOf,
  validateAvatarUrl,
  validateBio,
  validateDisplayName,
  validateUsername,
} from './user.validation.js';

/** A signed-in session as returned by sign-up and log-in. */
export interface SessionResult {
  token: string;
  expiresAt: Date;
  user: UserRecord;
}

/** Who is making a request: resolved from a session token once per request or connection. */
export interface Viewer {
  readonly id: string;
  readonly role: UserRole;
}

export interface NewAccount {
  username: string;
  email: string;
  password: string;
  displayName?: string | null | undefined;
}

export interface ProfileChanges {
  displayName?: string | null | undefined;
  bio?: string | null | undefined;
  avatarUrl?: string | null | undefined;
}

/**
 * Accounts: creating them, signing in, reading and changing profiles. Every input is validated
 * before anything is written; a rejected request changes nothing.
 */
export function createUserService(deps: {
  User: UserModel;
  tokens: TokenService;
  sessionTtlSeconds: number;
  /** Lower-cased usernames whose accounts are created with the admin role (ADMIN_USERNAMES). */
  adminUsernames: ReadonlySet<string>;
  userRecords: RecordCache<UserRecord>;
  userCounts: UserCountStore;
  bus: EventBus<UserTopics>;
  logger: Logger;
}) {
  const { User, tokens, sessionTtlSeconds, userRecords, userCounts, bus, logger } = deps;

  const profiles = new WeakMap<UserTopics['userUpdated'], UserRecord>();
  const profileOf = (event: UserTopics['userUpdated']) => {
    let profile = profiles.get(event);
    if (!profile) {
      profile = fromUserWire(event.user);
      profiles.set(event, profile);
    }
    return profile;
  };

  const issueSession = async (user: UserRecord): Promise<SessionResult> => {
    const { token, expiresAt } = await tokens.sign(
      'session',
      user._id.toHexString(),
      sessionTtlSeconds,
    );
    return { token, expiresAt, user };
  };

  /** Which unique field an account already holds (FerretDB v1 does not always name the index). */
  const takenField = async (usernameKey: string, email: string) => {
    if (await User.exists({ usernameKey })) return 'username' as const;
    if (await User.exists({ email })) return 'email' as const;
    return null;
  };

  /**
   * What a sign-up that collided with an existing account gets. A retry of a sign-up that
   * already succeeded (its answer lost: a time-out, a dropped connection) is the same account,
   * name, email and password: it signs in, so retrying a sign-up is always safe. Anything else
   * is a CONFLICT naming the field.
   */
  const retryOrConflict = async (
    field: 'username' | 'email' | null,
    usernameKey: string,
    email: string,
    password: string,
  ): Promise<SessionResult> => {
    const same = await User.findOne({ usernameKey, email }).lean<UserRecord>().exec();
    if (same?.passwordHash && (await verifyPassword(same.passwordHash, password))) {
      const { passwordHash: _hash, ...user } = same;
      return issueSession(user);
    }
    if (field === 'username') throw conflict('That username is taken.', 'username');
    if (field === 'email') throw conflict('An account with that email already exists.', 'email');
    throw conflict('That username or email was just taken. Try again.');
  };

  return {
    /**
     * Validates the new account, hashes the password (argon2id, off the event loop) and inserts
     * it. Uniqueness of the username (regardless of case) and of the email is enforced by unique
     * indexes on insert, so two racing sign-ups cannot both win.
     */
    async createAccount(
      input: NewAccount,
      options: { role?: UserRole } = {},
    ): Promise<SessionResult> {
      const username = validateUsername(input.username);
      const email = normalizeEmail(input.email);
      assertStrongPassword(input.password, { username, email });
      const displayName = validateDisplayName(input.displayName ?? username);
      const usernameKey = usernameKeyOf(username);

      // Checked before hashing so a taken name costs no argon2 work; the index still decides.
      const taken = await takenField(usernameKey, email);
      if (taken) return retryOrConflict(taken, usernameKey, email, input.password);

      const passwordHash = await hashPassword(input.password);
      const now = new Date();
      const record = {
        _id: new Types.ObjectId(),
        username,
        usernameKey,
        email,
        passwordHash,
        displayName,
        bio: '',
        avatarUrl: null,
        role: options.role ?? (deps.adminUsernames.has(usernameKey) ? 'admin' : 'user'),
        createdAt: now,
        updatedAt: now,
      } satisfies UserRecord;
      // Zero counts before the account exists, so its first follower or truth is counted from
      // them. Best effort: counts that are not there are rebuilt from MongoDB when read.
      await userCounts.seed(record._id.toHexString()).catch(() => undefined);
      const stored = await insertResolved(() => User.collection.insertOne(record), {
        unknown: {},
      });
      if (stored.outcome === 'duplicate') {
        // Taken meanwhile, or our own first attempt that MongoDB answered late: the same
        // name, email and password sign in either way.
        const field = await takenField(usernameKey, email);
        return retryOrConflict(field, usernameKey, email, input.password);
      }
      const { passwordHash: _hash, ...user } = record;
      // Warm from the start: the new account's first requests need no MongoDB read.
      await userRecords.put(user);
      logger.info({ userId: record._id.toHexString() }, 'account created');
      return issueSession(user);
    },

    /** Signs in by username (any case) or email. The same error for every wrong combination. */
    async logIn(input: { login: string; password: string }): Promise<SessionResult> {
      const login = input.login.trim();
      const filter = login.includes('@')
        ? { email: login.normalize('NFKC').toLowerCase() }
        : { usernameKey: usernameKeyOf(login) };
      const user = await User.findOne(filter).lean<UserRecord>().exec();
      if (!user?.passwordHash) {
        await burnPasswordCheck(input.password);
        throw unauthenticated('Wrong username, email or password.');
      }
      if (!(await verifyPassword(user.passwordHash, input.password))) {
        throw unauthenticated('Wrong username, email or password.');
      }
      const { passwordHash: _hash, ...publicUser } = user;
      return issueSession(publicUser);
    },

    /** The viewer behind a session token; UNAUTHENTICATED when it is invalid or the user is gone. */
    async viewerFromToken(token: string): Promise<Viewer> {
      const { subject } = await tokens.verify('session', token);
      if (!Types.ObjectId.isValid(subject)) throw unauthenticated('Invalid session token.');
      const user = (await userRecords.getMany([subject])).get(subject);
      if (!user) throw unauthenticated('This account no longer exists.');
      return { id: user._id.toHexString(), role: user.role };
    },

    /** Whether an account holds this username key (lower-cased username). */
    isUsernameTaken: async (usernameKey: string): Promise<boolean> =>
      Boolean(await User.exists({ usernameKey })),

    /** Whether an account holds this normalised email. */
    hasAccountWithEmail: async (email: string): Promise<boolean> =>
      Boolean(await User.exists({ email })),

    async findByUsername(username: string): Promise<UserRecord | null> {
      return User.findOne({ usernameKey: usernameKeyOf(username) }, publicUserFields)
        .lean<UserRecord>()
        .exec();
    },

    /** Applies the given changes to the viewer's profile and announces them to subscribers. */
    async updateProfile(viewer: Viewer, changes: ProfileChanges): Promise<UserRecord> {
      const set: Partial<UserRecord> = {};
      if (changes.displayName !== undefined && changes.displayName !== null) {
        set.displayName = validateDisplayName(changes.displayName);
      }
      if (changes.bio !== undefined && changes.bio !== null) set.bio = validateBio(changes.bio);
      if (changes.avatarUrl !== undefined) set.avatarUrl = validateAvatarUrl(changes.avatarUrl);

      const updated = await User.findOneAndUpdate(
        { _id: viewer.id },
        { $set: { ...set, updatedAt: new Date() } },
        { returnDocument: 'after' },
      )
        .lean<UserRecord>()
        .exec();
      if (!updated) throw unauthenticated('This account no longer exists.');
      const { passwordHash: _hash, ...user } = updated;
      await userRecords.put(user);
      await bus.publish('userUpdated', viewer.id, { user: toUserWire(user) });
      return user;
    },

    /**
     * A user's profile now, then again after each change. The first value is read only after
     * the Redis channel is confirmed, so no change between "now" and "live" is missed; later
     * values come from the events themselves, one object per event for every subscriber.
     */
    watchProfile(userId: string): EventStream<UserRecord> {
      const subscription = bus.subscribe('userUpdated', userId, (event) =>
        stream.push(profileOf(event)),
      );
      const stream = createEventStream<UserRecord>({
        maxQueued: 100,
        overflowError: () => new SlowConsumerError(),
        onClose: () => subscription.unsubscribe(),
      });
      void subscription.ready
        .then(() => User.findById(userId, publicUserFields).lean<UserRecord>().exec())
        .then((user) => (user ? stream.push(user) : stream.end()))
        .catch((error: unknown) => stream.fail(error as Error));
      return stream;
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
