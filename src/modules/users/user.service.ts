import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import type { Logger } from '../../infra/logger.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import type { BusSubscription, EventBus } from '../../infra/pubsub.js';
import type { Effects } from '../../infra/effects.js';
import {
  ErrorCode,
  SlowConsumerError,
  conflict,
  fieldsError,
  unauthenticated,
  validateTogether,
  type FieldError,
} from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import type { Hooks } from '../../lib/hooks.js';
import {
  burnPasswordCheck,
  hashPassword,
  verifyPassword,
  type TokenService,
} from '../auth/index.js';
import type { UserTopics } from './user.events.js';
import type {
  ProfileField,
  UserChangeModel,
  UserChangeRecord,
  UserModel,
  UserRecord,
  UserRole,
} from './user.model.js';
import type { SessionStore } from './user.sessions.js';
import type { UserStore } from './user.store.js';
import { fromUserWire, toUserWire } from './user.wire.js';
import {
  loginKeyOf,
  usernameKeyOf,
  validateAvatarUrl,
  validateBio,
  validateDisplayName,
  validateNewAccount,
  type NewAccount,
} from './user.validation.js';

export type { NewAccount };

/** What the users module tells the modules that follow it (lib/hooks.ts). */
export interface UserHooks {
  /** An account was created (its record in the read model). */
  accountCreated: { user: UserRecord };
  /** A profile changed; `user` is the record as it is now. */
  profileChanged: { user: UserRecord };
}

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
  /** The session the token belongs to (absent for a viewer made by the server itself). */
  readonly session?: ViewerSession;
}

/** A session as its token tells it. */
export interface ViewerSession {
  /** The session's id, the same for every renewal of it; null for a token without one. */
  readonly id: string | null;
  /** When this token was issued (ms). */
  readonly issuedAt: number;
  readonly expiresAt: Date;
}

export interface ProfileChanges {
  displayName?: string | null | undefined;
  bio?: string | null | undefined;
  avatarUrl?: string | null | undefined;
}

/**
 * Accounts: creating them, signing in, reading and changing profiles. Every input is validated
 * before anything is written; a rejected request changes nothing. Reads come from the read
 * model (user.store.ts), never from MongoDB; MongoDB gets inserts only: an account (whose unique
 * indexes decide who gets a name or an email), a profile change.
 */
export function createUserService(deps: {
  User: UserModel;
  UserChange: UserChangeModel;
  store: UserStore;
  tokens: TokenService;
  sessionTtlSeconds: number;
  /** Revoked sessions. */
  sessions: SessionStore;
  /** Lower-cased usernames whose accounts are created with the admin role (ADMIN_USERNAMES). */
  adminUsernames: ReadonlySet<string>;
  effects: Effects;
  hooks: Hooks<UserHooks>;
  bus: EventBus<UserTopics>;
  logger: Logger;
}) {
  const { User, UserChange, store, tokens, sessionTtlSeconds, sessions, effects, bus, logger } =
    deps;
  const { hooks } = deps;

  /** The effects of a new account, in order: the read model, then the modules that follow. */
  const createdEffects = (user: UserRecord, passwordHash: string) => [
    () => store.created(user, passwordHash),
    ...hooks.effectsOf('accountCreated', { user }),
  ];
  /** What follows a profile change applied to the read model (`user`: the record now). */
  const profileFollowUps = async (user: UserRecord) => {
    for (const effect of hooks.effectsOf('profileChanged', { user })) await effect();
  };
  const { records } = store;

  const profiles = new WeakMap<UserTopics['userUpdated'], UserRecord>();
  const profileOf = (event: UserTopics['userUpdated']) => {
    let profile = profiles.get(event);
    if (!profile) {
      profile = fromUserWire(event.user);
      profiles.set(event, profile);
    }
    return profile;
  };

  /**
   * A session token: a new session, or a renewal of `sessionId`. Its claims carry the session's
   * id (`sid`, what log-out revokes) and the issue time in ms (`at`, what "log out everywhere"
   * compares with).
   */
  const issueSession = async (
    user: UserRecord,
    sessionId: string = randomBytes(16).toString('hex'),
  ): Promise<SessionResult> => {
    const { token, expiresAt } = await tokens.sign(
      'session',
      user._id.toHexString(),
      sessionTtlSeconds,
      { sid: sessionId, at: Date.now() },
    );
    // Checked after signing: a guard's change (a suspension) that lands after this check
    // revokes sessions issued before it, this one included.
    for (const guard of sessionGuards) await guard(user._id.toHexString());
    return { token, expiresAt, user };
  };
  /** Checks that may refuse a new session (registered by other modules: suspensions). */
  const sessionGuards: ((userId: string) => Promise<void>)[] = [];

  /** The viewer's session, for the mutations that end or renew it. */
  const sessionOf = (viewer: Viewer): ViewerSession => {
    if (!viewer.session) throw unauthenticated('This request carries no session.', 'missing');
    return viewer.session;
  };

  /** Stores a revocation, applies it, and tells every instance (which closes the sockets). */
  const revoke = async (input: Parameters<SessionStore['revoke']>[0]) => {
    await sessions.revoke(input);
    await bus.publish('sessionsRevoked', input.userId, {
      sessionId: input.sessionId,
      before: input.before?.getTime() ?? null,
    });
    logger.info({ userId: input.userId, everywhere: !input.sessionId }, 'sessions revoked');
  };

  const userInserts = createInserter(User.collection);
  const changeInserts = createInserter(UserChange.collection);

  const recordOf = async (id: string) => (await records.getMany([id])).get(id) ?? null;

  /** The unique fields that accounts already hold, with what to tell the client. */
  const takenFields = async (usernameKey: string, email: string): Promise<FieldError[]> => {
    const [byName, byEmail] = await Promise.all([
      store.idBy('usernameKey', usernameKey),
      store.idBy('email', email),
    ]);
    return [
      ...(byName ? [{ field: 'username', message: 'That username is taken.' }] : []),
      ...(byEmail
        ? [{ field: 'email', message: 'An account with that email already exists.' }]
        : []),
    ];
  };

  /**
   * What a sign-up that collided with an existing account gets. A retry of a sign-up that
   * already succeeded (its answer lost: a time-out, a dropped connection) is the same account,
   * name, email and password: it signs in, so retrying a sign-up is always safe. Anything else
   * is a CONFLICT naming every field taken.
   */
  const retryOrConflict = async (
    taken: readonly FieldError[],
    usernameKey: string,
    email: string,
    password: string,
  ): Promise<SessionResult> => {
    const same = await store.credentialsBy('usernameKey', usernameKey);
    if (
      same?.passwordHash &&
      (await store.idBy('email', email)) === same.id &&
      (await verifyPassword(same.passwordHash, password))
    ) {
      const user = await recordOf(same.id);
      if (user) return issueSession(user);
    }
    const [first, ...rest] = taken;
    if (first) throw fieldsError(ErrorCode.CONFLICT, [first, ...rest]);
    throw conflict('That username or email was just taken. Try again.');
  };

  // A process that died between storing an account (or a profile change) and applying it
  // left its journal entry: any instance applies it from what MongoDB holds.
  effects.recover('account', async (userId) => {
    const record = await User.findById(userId).lean<UserRecord>().exec();
    if (!record?.passwordHash) return;
    const { passwordHash, ...user } = record;
    await effects.apply(`account:${userId}`, createdEffects(user, passwordHash));
  });
  effects.recover('profile', async (changeId) => {
    const change = await UserChange.findById(changeId).lean<UserChangeRecord>().exec();
    if (!change) return;
    await effects.apply(`profile:${changeId}`, [
      async () => {
        const updated = await store.changed(change);
        if (updated) {
          await bus.publish('userUpdated', change.userId.toHexString(), {
            user: toUserWire(updated),
          });
          await profileFollowUps(updated);
        }
      },
    ]);
  });

  return {
    /**
     * Validates the new account, hashes the password (argon2id, off the event loop) and inserts
     * it. Uniqueness of the username (regardless of case) and of the email is decided by the
     * unique indexes on insert, so two racing sign-ups cannot both win; the read model answers
     * the checks before hashing.
     */
    async createAccount(
      input: NewAccount,
      options: { role?: UserRole; passwordHash?: string } = {},
    ): Promise<SessionResult> {
      const { username, email, displayName } = validateNewAccount(input, {
        password: !options.passwordHash,
      });
      const usernameKey = usernameKeyOf(username);

      // Checked before hashing so a taken name costs no argon2 work; the index still decides.
      const taken = await takenFields(usernameKey, email);
      if (taken.length > 0) return retryOrConflict(taken, usernameKey, email, input.password);

      const passwordHash = options.passwordHash ?? (await hashPassword(input.password));
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
      const entry = `account:${record._id.toHexString()}`;
      await effects.intend(entry);
      const stored = await insertResolved(() => userInserts.insert(record), {
        unknown: {},
      });
      const { passwordHash: _hash, ...user } = record;
      if (stored.outcome === 'duplicate') {
        await effects.discard(entry);
        // Taken meanwhile, or our own first attempt that MongoDB answered late (then its
        // effects may not have run: run them).
        if (stored.retried && (await User.exists({ _id: record._id }))) {
          await effects.apply(entry, createdEffects(user, passwordHash));
          return issueSession(user);
        }
        const taken = await takenFields(usernameKey, email);
        return retryOrConflict(taken, usernameKey, email, input.password);
      }
      await effects.apply(entry, createdEffects(user, passwordHash));
      logger.info({ userId: record._id.toHexString() }, 'account created');
      return issueSession(user);
    },

    /** Signs in by username (any case) or email. The same error for every wrong combination. */
    async logIn(input: { login: string; password: string }): Promise<SessionResult> {
      const { field, value } = loginKeyOf(input.login);
      const found = await store.credentialsBy(field, value);
      if (!found?.passwordHash) {
        await burnPasswordCheck(input.password);
        throw unauthenticated('Wrong username, email or password.');
      }
      if (!(await verifyPassword(found.passwordHash, input.password))) {
        throw unauthenticated('Wrong username, email or password.');
      }
      const user = await recordOf(found.id);
      if (!user) throw unauthenticated('Wrong username, email or password.');
      return issueSession(user);
    },

    /**
     * The viewer behind a session token; UNAUTHENTICATED, with the reason (`expired`,
     * `invalid`, `revoked`), when it is not valid, its account is gone or it was signed out.
     */
    async viewerFromToken(token: string): Promise<Viewer> {
      const { subject, claims } = await tokens.verify('session', token);
      if (!Types.ObjectId.isValid(subject))
        throw unauthenticated('Invalid session token.', 'invalid');
      const session: ViewerSession = {
        id: typeof claims['sid'] === 'string' ? claims['sid'] : null,
        issuedAt: typeof claims['at'] === 'number' ? claims['at'] : (claims.iat ?? 0) * 1000,
        expiresAt: new Date((claims.exp ?? 0) * 1000),
      };
      // A viewer this instance has not seen: the account is read with the session's state, in
      // one script (both are keys of the user's).
      let user = records.peek(subject) ?? null;
      let revoked: boolean;
      if (user) {
        ({ revoked } = await sessions.isRevoked(subject, session.id, session.issuedAt));
      } else {
        const token = records.begin();
        const read = await sessions.isRevoked(
          subject,
          session.id,
          session.issuedAt,
          records.keyOf(subject),
        );
        revoked = read.revoked;
        user = records.adopt(token, subject, read.alongside, { viewer: true });
      }
      if (!user) throw unauthenticated('This account no longer exists.', 'invalid');
      if (revoked) {
        throw unauthenticated('This session was signed out. Sign in again.', 'revoked');
      }
      return { id: user._id.toHexString(), role: user.role, session };
    },

    /** Ends the viewer's session at once, on every instance. */
    async logOut(viewer: Viewer): Promise<void> {
      const session = sessionOf(viewer);
      await revoke(
        session.id
          ? { userId: viewer.id, sessionId: session.id, before: null, expiresAt: session.expiresAt }
          : // A token without a session id: everything issued up to it.
            {
              userId: viewer.id,
              sessionId: null,
              before: new Date(session.issuedAt + 1),
              expiresAt: session.expiresAt,
            },
      );
    },

    /** Ends every session of the viewer issued until now, this one included. */
    async logOutEverywhere(viewer: Viewer): Promise<void> {
      sessionOf(viewer);
      const now = Date.now();
      await revoke({
        userId: viewer.id,
        sessionId: null,
        before: new Date(now + 1),
        expiresAt: new Date(now + sessionTtlSeconds * 1000),
      });
    },

    /**
     * Ends every session of the user issued until now, on every instance, and closes their
     * sockets (4441), as `logOutEverywhere` does (a suspension).
     */
    async endSessionsOf(userId: string): Promise<void> {
      const now = Date.now();
      await revoke({
        userId,
        sessionId: null,
        before: new Date(now + 1),
        expiresAt: new Date(now + sessionTtlSeconds * 1000),
      });
    },

    /**
     * Adds a check every new session (sign-up, log-in, renewal) must pass; it throws the error
     * the client gets (a suspended account's ACCOUNT_SUSPENDED).
     */
    guardSessions(guard: (userId: string) => Promise<void>): void {
      sessionGuards.push(guard);
    },

    /** A fresh token for the viewer's session, valid for another session lifetime. */
    async renewSession(viewer: Viewer): Promise<SessionResult> {
      const session = sessionOf(viewer);
      const user = await recordOf(viewer.id);
      if (!user) throw unauthenticated('This account no longer exists.', 'invalid');
      return issueSession(user, session.id ?? undefined);
    },

    /** Whether an account holds this username key (lower-cased username). */
    isUsernameTaken: async (usernameKey: string): Promise<boolean> =>
      (await store.idBy('usernameKey', usernameKey)) !== null,

    /** Whether an account holds this normalised email. */
    hasAccountWithEmail: async (email: string): Promise<boolean> =>
      (await store.idBy('email', email)) !== null,

    /** Whether a user with this id exists. */
    exists: async (userId: string): Promise<boolean> => (await recordOf(userId)) !== null,

    /** How many accounts exist. */
    accountCount: () => store.count(),

    /** Registers a rebuild step for what another module derives from every user. */
    onReplay: (replay: (users: readonly UserRecord[]) => Promise<void>) => store.onReplay(replay),

    async findByUsername(username: string): Promise<UserRecord | null> {
      const id = await store.idBy('usernameKey', usernameKeyOf(username));
      return id ? recordOf(id) : null;
    },

    /** The ids of the users with these username keys (lower-cased usernames; unknown left out). */
    idsByUsernameKeys: (usernameKeys: readonly string[]) => store.idsByUsernameKeys(usernameKeys),

    /** Users by id (missing ones absent), from the read model. */
    getMany: (ids: Iterable<string>) => records.getMany(ids),
    /** A user's record if this process holds a current copy; no I/O. */
    peek: (id: string) => records.peek(id),

    /** Applies the given changes to the viewer's profile and announces them to subscribers. */
    async updateProfile(viewer: Viewer, changes: ProfileChanges): Promise<UserRecord> {
      const [displayName, bio, avatarUrl] = validateTogether(
        () => (changes.displayName == null ? undefined : validateDisplayName(changes.displayName)),
        () => (changes.bio == null ? undefined : validateBio(changes.bio)),
        () => (changes.avatarUrl === undefined ? undefined : validateAvatarUrl(changes.avatarUrl)),
      );
      const set: Partial<Pick<UserRecord, ProfileField>> = {};
      if (displayName !== undefined) set.displayName = displayName;
      if (bio !== undefined) set.bio = bio;
      if (avatarUrl !== undefined) set.avatarUrl = avatarUrl;
      const current = await recordOf(viewer.id);
      if (!current) throw unauthenticated('This account no longer exists.');
      if (Object.keys(set).length === 0) return current;

      const change: UserChangeRecord = {
        _id: new Types.ObjectId(),
        userId: current._id,
        version: await store.nextVersion(),
        set,
        at: new Date(),
      };
      const entry = `profile:${change._id.toHexString()}`;
      await effects.intend(entry);
      await insertResolved(() => changeInserts.insert(change), { unknown: {} });
      let updated: UserRecord = { ...current, ...set, updatedAt: change.at };
      await effects.apply(entry, [
        async () => {
          updated = (await store.changed(change)) ?? updated;
        },
        () => bus.publish('userUpdated', viewer.id, { user: toUserWire(updated) }),
        () => profileFollowUps(updated),
      ]);
      return updated;
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
        .then(() => recordOf(userId))
        .then((user) => (user ? stream.push(user) : stream.end()))
        .catch((error: unknown) => stream.fail(error as Error));
      return stream;
    },

    /** Calls `listener` whenever sessions of the user are ended, on any instance. */
    watchSessions(
      userId: string,
      listener: (revoked: UserTopics['sessionsRevoked']) => void,
    ): BusSubscription {
      return bus.subscribe('sessionsRevoked', userId, listener);
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
