import { Types } from 'mongoose';
import type { Effect, Effects } from '../../infra/effects.js';
import type { Logger } from '../../infra/logger.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import type { Hooks } from '../../lib/hooks.js';
import {
  ErrorCode,
  VerityError,
  badUserInput,
  conflict,
  forbidden,
  notFound,
} from '../../lib/errors.js';
import type { TruthService } from '../truths/index.js';
import type { UserService, Viewer } from '../users/index.js';
import type {
  GrantedRole,
  ModerationActionModel,
  ModerationActionRecord,
  ReportModel,
  ReportReason,
  ReportRecord,
  ReportResolution,
  ReportTargetKind,
} from './moderation.model.js';
import {
  actionStateOf,
  reportStateOf,
  type ActionState,
  type ModerationStore,
  type ReportState,
  type StorePage,
} from './moderation.store.js';

/** After-write hooks of moderation: modules that show accounts' truths follow suspensions. */
export interface ModerationHooks {
  /** An account was suspended: its truths must leave every feed. */
  accountSuspended: { userId: string };
  /** A suspension was lifted. */
  accountUnsuspended: { userId: string };
}

/** A report with the number of open reports on its target. */
export interface ReportView {
  report: ReportState;
  openOnTarget: number;
}

/** The longest note a report or a moderation action may carry, in characters. */
export const maxNoteLength = 1_000;

const noteOf = (note: string | null | undefined): string => {
  const trimmed = (note ?? '').trim();
  if (trimmed.length > maxNoteLength) {
    throw badUserInput(`A note has at most ${maxNoteLength} characters.`, 'note');
  }
  return trimmed;
};

/**
 * Reports and moderation. Anyone signed in reports a truth or an account; moderators (the
 * MODERATOR role, and every admin) work the queue of open reports, remove truths and suspend
 * accounts; admins grant roles and read the log. Every action is one inserted document in
 * `moderation_actions`, which is the audit log and the fact its effects follow from (the
 * read model, ended sessions, feeds). Requests read only the read model (moderation.store.ts).
 *
 * Reports are kept per target in rounds: a reporter has at most one report on a target per
 * round (reporting again returns the open report), and resolving any report of the round closes
 * them all with the same decision, which starts the next round.
 */
export function createModerationService(deps: {
  Report: ReportModel;
  ModerationAction: ModerationActionModel;
  store: ModerationStore;
  users: UserService;
  truths: TruthService;
  effects: Effects;
  hooks: Hooks<ModerationHooks>;
  /** Lower-cased usernames that are moderators unless `setRole` said otherwise. */
  moderatorUsernames: ReadonlySet<string>;
  logger: Logger;
}) {
  const { Report, ModerationAction, store, users, truths, effects, hooks, logger } = deps;
  const reportInserts = createInserter(Report.collection);
  const actionInserts = createInserter(ModerationAction.collection);

  const userOf = async (id: string) => (await users.getMany([id])).get(id) ?? null;

  /** Whether a user is a moderator: an admin, a granted MODERATOR, or named in the setting. */
  const isModeratorId = async (userId: string, role?: string): Promise<boolean> => {
    const user = role ? null : await userOf(userId);
    if ((role ?? user?.role) === 'admin') return true;
    const granted = await store.grantedRole(userId);
    if (granted) return granted === 'MODERATOR';
    const named = user ?? (await userOf(userId));
    return !!named && deps.moderatorUsernames.has(named.usernameKey);
  };

  const requireModerator = async (viewer: Viewer) => {
    if (!(await isModeratorId(viewer.id, viewer.role))) {
      throw forbidden('Only moderators may do this.');
    }
  };
  const requireAdmin = (viewer: Viewer) => {
    if (viewer.role !== 'admin') throw forbidden('Only admins may do this.');
  };

  /** The effects of a stored action, in order (idempotent: a recovery runs them again). */
  const effectsOf = (record: ModerationActionRecord): Effect[] => {
    const action = actionStateOf(record);
    const userId = action.userId ?? '';
    const steps: Effect[] = [];
    switch (record.action) {
      case 'RESOLVE_REPORT': {
        const kind = record.targetKind!;
        const targetId = kind === 'TRUTH' ? action.truthId! : userId;
        steps.push(() => store.resolved(kind, targetId, record.round!, action));
        break;
      }
      case 'SUSPEND_ACCOUNT':
        // The flag first: a log-in that passed the check before it is ended by the revocation.
        steps.push(() => store.suspension(userId, action.id, true));
        steps.push(() => users.endSessionsOf(userId));
        steps.push(...hooks.effectsOf('accountSuspended', { userId }));
        break;
      case 'UNSUSPEND_ACCOUNT':
        steps.push(() => store.suspension(userId, action.id, false));
        steps.push(...hooks.effectsOf('accountUnsuspended', { userId }));
        break;
      case 'SET_ROLE':
        steps.push(() => store.role(userId, action.id, record.role!));
        break;
      case 'REMOVE_TRUTH':
        break;
    }
    steps.push(() => store.logged(action));
    return steps;
  };

  /**
   * Stores an action and applies it. A unique `key` refused (a round resolved by someone
   * else first) is a CONFLICT; nothing was stored.
   */
  const act = async (
    actor: Viewer,
    fields: Partial<ModerationActionRecord> & Pick<ModerationActionRecord, 'action'>,
  ): Promise<ActionState> => {
    const _id = new Types.ObjectId();
    const record: ModerationActionRecord = {
      _id,
      key: fields.key ?? _id.toHexString(),
      actorId: new Types.ObjectId(actor.id),
      action: fields.action,
      userId: fields.userId ?? null,
      truthId: fields.truthId ?? null,
      targetKind: fields.targetKind ?? null,
      round: fields.round ?? null,
      resolution: fields.resolution ?? null,
      reportId: fields.reportId ?? null,
      reason: fields.reason ?? null,
      role: fields.role ?? null,
      note: fields.note ?? '',
      at: new Date(),
    };
    const entry = `moderation:${_id.toHexString()}`;
    await effects.intend(entry);
    const stored = await insertResolved(() => actionInserts.insert(record), { unknown: {} });
    if (stored.outcome === 'duplicate' && !stored.retried) {
      await effects.discard(entry);
      throw conflict('These reports were resolved already.');
    }
    await effects.apply(entry, effectsOf(record));
    logger.info(
      { action: record.action, actorId: actor.id, userId: fields.userId?.toHexString() },
      'moderation action',
    );
    return actionStateOf(record);
  };

  // A process that died between storing an action and finishing its effects.
  effects.recover('moderation', async (id) => {
    const record = await ModerationAction.findById(new Types.ObjectId(id))
      .lean<ModerationActionRecord>()
      .exec();
    if (record) await effects.apply(`moderation:${id}`, effectsOf(record));
  });
  effects.recover('report', async (id) => {
    const record = await Report.findById(new Types.ObjectId(id)).lean<ReportRecord>().exec();
    if (record) await effects.apply(`report:${id}`, [() => store.reported(reportStateOf(record))]);
  });

  /** A suspension (or its lifting) of `userId` by a moderator. */
  const setSuspended = async (
    viewer: Viewer,
    userId: string,
    suspended: boolean,
    note: string,
  ): Promise<boolean> => {
    await requireModerator(viewer);
    const user = await userOf(userId);
    if (!user) throw notFound('There is no user with that id.');
    if (suspended) {
      if (userId === viewer.id) throw badUserInput('You cannot suspend yourself.', 'id');
      if (user.role === 'admin') throw forbidden('Admins cannot be suspended.');
      if (viewer.role !== 'admin' && (await isModeratorId(userId))) {
        throw forbidden('Only an admin may suspend a moderator.');
      }
    }
    // Suspending a suspended account (or lifting a lifted one) changes nothing.
    if ((await store.suspendedAmong([userId])).has(userId) === suspended) return suspended;
    await act(viewer, {
      action: suspended ? 'SUSPEND_ACCOUNT' : 'UNSUSPEND_ACCOUNT',
      userId: new Types.ObjectId(userId),
      note,
    });
    return suspended;
  };

  /** Removes a truth as a moderator: the truths module's deletion, then the log entry. */
  const removeTruth = async (viewer: Viewer, truthId: string, note: string) => {
    await requireModerator(viewer);
    const truth = (await truths.getMany([truthId])).get(truthId);
    if (!truth) throw notFound('There is no truth with that id.');
    // Removing a removed (or deleted) truth changes nothing.
    if (truth.deletedAt) return;
    await truths.removeAny(truthId);
    await act(viewer, {
      action: 'REMOVE_TRUTH',
      truthId: truth._id,
      userId: truth.authorId,
      note,
    });
  };

  return {
    /** Whether the viewer may moderate. */
    isModerator: (viewer: Viewer) => isModeratorId(viewer.id, viewer.role),

    /** Which of these accounts are suspended (a feed's authors); cheap when held. */
    suspendedAmong: (userIds: Iterable<string>) => store.suspendedAmong(userIds),

    /** Refuses a new session for a suspended account (registered on the users' sessions). */
    async guardSession(userId: string): Promise<void> {
      if ((await store.suspendedAmong([userId])).has(userId)) {
        throw new VerityError(
          ErrorCode.ACCOUNT_SUSPENDED,
          'This account is suspended and cannot sign in.',
        );
      }
    },

    /**
     * Reports a truth or an account. A reporter has one open report per target: reporting it
     * again while that report is open returns it unchanged.
     */
    async report(
      viewer: Viewer,
      input: {
        kind: ReportTargetKind;
        targetId: string;
        reason: ReportReason;
        note?: string | null;
      },
    ): Promise<ReportView> {
      const note = noteOf(input.note);
      let accountId: string;
      if (input.kind === 'TRUTH') {
        const truth = (await truths.getMany([input.targetId])).get(input.targetId);
        if (!truth || truth.deletedAt) throw notFound('There is no truth with that id.');
        accountId = truth.authorId.toHexString();
        if (accountId === viewer.id) throw badUserInput('You cannot report your own truth.', 'id');
      } else {
        if (!(await userOf(input.targetId))) throw notFound('There is no user with that id.');
        if (input.targetId === viewer.id) throw badUserInput('You cannot report yourself.', 'id');
        accountId = input.targetId;
      }
      const { round, open } = await store.target(input.kind, input.targetId, viewer.id);
      if (open) {
        const existing = (await store.reportsById([open])).get(open);
        if (existing) return existing;
      }
      const record: ReportRecord = {
        _id: new Types.ObjectId(),
        key: `${viewer.id}:${input.kind}:${input.targetId}:${round}`,
        reporterId: new Types.ObjectId(viewer.id),
        targetKind: input.kind,
        targetId: new Types.ObjectId(input.targetId),
        accountId: new Types.ObjectId(accountId),
        round,
        reason: input.reason,
        note,
        createdAt: new Date(),
      };
      const entry = `report:${record._id.toHexString()}`;
      await effects.intend(entry);
      const stored = await insertResolved(() => reportInserts.insert(record), { unknown: {} });
      let report = record;
      if (stored.outcome === 'duplicate' && !stored.retried) {
        await effects.discard(entry);
        // A twin request of the same reporter won (or died before applying its report): the
        // one recovery read, by the unique key.
        const twin = await Report.findOne({ key: record.key }).lean<ReportRecord>().exec();
        if (!twin) throw conflict('This report was just sent. Try again.');
        report = twin;
      }
      const state = reportStateOf(report);
      await effects.apply(`report:${state.id}`, [() => store.reported(state)]);
      return (
        (await store.reportsById([state.id])).get(state.id) ?? { report: state, openOnTarget: 1 }
      );
    },

    /** Open reports, oldest first, with their targets' open counts (moderators). */
    async queue(
      viewer: Viewer,
      page: { first: number; after: string | null },
    ): Promise<StorePage<ReportView>> {
      await requireModerator(viewer);
      const open = await store.openPage(page.after, page.first);
      const views = await store.reportsById(open.items.map((report) => report.id));
      return {
        items: open.items.flatMap((report) => views.get(report.id) ?? []),
        hasNextPage: open.hasNextPage,
      };
    },

    /**
     * Resolves a report, and with it every open report on the same target: dismissing them,
     * removing the reported truth, or suspending the account behind it. The action runs first;
     * a report resolved already is a CONFLICT.
     */
    async resolve(
      viewer: Viewer,
      input: { reportId: string; resolution: ReportResolution; note?: string | null },
    ): Promise<ReportView> {
      await requireModerator(viewer);
      const note = noteOf(input.note);
      const found = (await store.reportsById([input.reportId])).get(input.reportId);
      if (!found) throw notFound('There is no report with that id.');
      const { report } = found;
      if (report.resolution) throw conflict('This report was resolved already.');
      if (input.resolution === 'REMOVE_TRUTH' && report.targetKind !== 'TRUTH') {
        throw badUserInput('Only a report about a truth can remove one.', 'action');
      }
      if (input.resolution === 'REMOVE_TRUTH') await removeTruth(viewer, report.targetId, note);
      if (input.resolution === 'SUSPEND_ACCOUNT') {
        await setSuspended(viewer, report.accountId, true, note);
      }
      await act(viewer, {
        key: `res:${report.targetKind}:${report.targetId}:${report.round}`,
        action: 'RESOLVE_REPORT',
        targetKind: report.targetKind,
        truthId: report.targetKind === 'TRUTH' ? new Types.ObjectId(report.targetId) : null,
        userId: new Types.ObjectId(report.accountId),
        round: report.round,
        resolution: input.resolution,
        reportId: new Types.ObjectId(report.id),
        reason: report.reason,
        note,
      });
      return (await store.reportsById([report.id])).get(report.id) ?? { report, openOnTarget: 0 };
    },

    /** Removes a truth (moderators); removing a removed truth changes nothing. */
    removeTruth: async (viewer: Viewer, truthId: string, note?: string | null) =>
      removeTruth(viewer, truthId, noteOf(note)),

    /** Suspends an account (moderators): no sign-in, sessions ended, truths out of feeds. */
    suspend: (viewer: Viewer, userId: string, note?: string | null) =>
      setSuspended(viewer, userId, true, noteOf(note)),

    /** Lifts a suspension (moderators). */
    unsuspend: (viewer: Viewer, userId: string, note?: string | null) =>
      setSuspended(viewer, userId, false, noteOf(note)),

    /** Whether an account is suspended. */
    isSuspended: async (userId: string) => (await store.suspendedAmong([userId])).has(userId),

    /** Grants a role (admins): MODERATOR, or USER to take it back. */
    async setRole(viewer: Viewer, userId: string, role: GrantedRole): Promise<void> {
      requireAdmin(viewer);
      const user = await userOf(userId);
      if (!user) throw notFound('There is no user with that id.');
      if (user.role === 'admin')
        throw badUserInput('An admin’s role comes from ADMIN_USERNAMES.', 'userId');
      await act(viewer, { action: 'SET_ROLE', userId: user._id, role });
    },

    /** The moderation log, newest first (admins). */
    async log(
      viewer: Viewer,
      page: { first: number; after: string | null },
    ): Promise<StorePage<ActionState>> {
      requireAdmin(viewer);
      return store.logPage(page.after, page.first);
    },
  };
}

export type ModerationService = ReturnType<typeof createModerationService>;
