import { requireViewer, type GraphQLContext } from '../../graphql/context.js';
import type { Resolvers, Role } from '../../graphql/generated/resolvers-types.js';
import { expectGlobalId, toGlobalId } from '../../graphql/global-id.js';
import { pageRequest, toConnection } from '../../graphql/pagination.js';
import { badUserInput, notFound } from '../../lib/errors.js';
import { opaqueId } from '../../lib/ids.js';

/** A report's global ID: `Report:<hex>`, base64url (not resolvable with `node`). */
const reportGlobalId = (id: string) => opaqueId(`Report:${id}`);

/** The account a moderation action was about, as its payload shows it. */
async function actedOn(context: GraphQLContext, userId: string) {
  const user = await context.loaders.userById.load(userId);
  if (!user) throw notFound('There is no user with that id.');
  return user;
}

/** The report id inside a report's global ID; BAD_USER_INPUT for anything else. */
function reportIdOf(globalId: string): string {
  const decoded = Buffer.from(globalId, 'base64url').toString('utf8');
  const id = decoded.startsWith('Report:') ? decoded.slice('Report:'.length) : '';
  if (!/^[0-9a-f]{24}$/.test(id)) throw badUserInput('id must be the ID of a Report.', 'id');
  return id;
}

export const moderationResolvers: Resolvers = {
  Query: {
    moderationQueue: async (_parent, args, context) => {
      const viewer = requireViewer(context);
      if (args.status === 'RESOLVED') {
        throw badUserInput(
          'The queue holds open reports; resolved ones are in moderationLog.',
          'status',
        );
      }
      const request = pageRequest(args);
      const page = await context.services.moderation.queue(viewer, request);
      return toConnection(page, request, (view) => view.report.id);
    },
    moderationLog: async (_parent, args, context) => {
      const viewer = requireViewer(context);
      const request = pageRequest(args);
      const page = await context.services.moderation.log(viewer, request);
      return toConnection(page, request, (entry) => entry.id);
    },
  },

  Mutation: {
    reportTruth: async (_parent, { input }, context) => ({
      report: await context.services.moderation.report(requireViewer(context), {
        kind: 'TRUTH',
        targetId: expectGlobalId(input.id, 'Truth', 'id'),
        reason: input.reason,
        note: input.note,
      }),
    }),
    reportUser: async (_parent, { input }, context) => ({
      report: await context.services.moderation.report(requireViewer(context), {
        kind: 'USER',
        targetId: expectGlobalId(input.id, 'User', 'id'),
        reason: input.reason,
        note: input.note,
      }),
    }),
    resolveReport: async (_parent, { input }, context) => ({
      report: await context.services.moderation.resolve(requireViewer(context), {
        reportId: reportIdOf(input.id),
        resolution: input.action,
        note: input.note,
      }),
    }),
    removeTruth: async (_parent, { input }, context) => {
      const truthId = expectGlobalId(input.id, 'Truth', 'id');
      await context.services.moderation.removeTruth(requireViewer(context), truthId, input.note);
      return { removedTruthId: toGlobalId('Truth', truthId) };
    },
    suspendUser: async (_parent, { input }, context) => {
      const userId = expectGlobalId(input.id, 'User', 'id');
      const suspended = await context.services.moderation.suspend(
        requireViewer(context),
        userId,
        input.note,
      );
      const user = await actedOn(context, userId);
      return { user, suspended };
    },
    unsuspendUser: async (_parent, { input }, context) => {
      const userId = expectGlobalId(input.id, 'User', 'id');
      const suspended = await context.services.moderation.unsuspend(
        requireViewer(context),
        userId,
        input.note,
      );
      const user = await actedOn(context, userId);
      return { user, suspended };
    },
    setRole: async (_parent, { input }, context) => {
      const viewer = requireViewer(context);
      const userId = expectGlobalId(input.userId, 'User', 'userId');
      if (input.role === 'ADMIN') {
        throw badUserInput('ADMIN comes from ADMIN_USERNAMES; grant MODERATOR or USER.', 'role');
      }
      await context.services.moderation.setRole(viewer, userId, input.role);
      const user = await actedOn(context, userId);
      return { user, role: input.role };
    },
  },

  // The users module's roles, with MODERATOR from this module (resolvers merge; this one wins).
  Viewer: {
    roles: async (viewer, _args, context) => {
      const roles: Role[] = viewer.role === 'admin' ? ['USER', 'ADMIN'] : ['USER'];
      if (await context.services.moderation.isModerator(viewer)) roles.push('MODERATOR');
      return roles;
    },
  },

  Report: {
    id: ({ report }) => reportGlobalId(report.id),
    target: async ({ report }, _args, context) => {
      if (report.targetKind === 'TRUTH') {
        const truth = await context.loaders.truthById.load(report.targetId);
        return truth ? { ...truth, __typename: 'Truth' as const } : null;
      }
      const user = await context.loaders.userById.load(report.targetId);
      return user ? { ...user, __typename: 'User' as const } : null;
    },
    account: ({ report }, _args, context) => context.loaders.userById.load(report.accountId),
    reporter: ({ report }, _args, context) => context.loaders.userById.load(report.reporterId),
    reason: ({ report }) => report.reason,
    note: ({ report }) => report.note,
    createdAt: ({ report }) => report.createdAt,
    status: ({ report }) => (report.resolution ? 'RESOLVED' : 'OPEN'),
    resolution: ({ report }) => report.resolution,
    openReportsOnTarget: ({ openOnTarget }) => openOnTarget,
  },

  ReportTarget: {
    __resolveType: (target) => target.__typename,
  },

  ReportResolution: {
    action: (resolution) => resolution.resolution,
    moderator: (resolution, _args, context) => context.loaders.userById.load(resolution.actorId),
    note: (resolution) => resolution.note,
    resolvedAt: (resolution) => resolution.at,
  },

  ModerationLogEntry: {
    id: (entry) => opaqueId(`ModerationLogEntry:${entry.id}`),
    actor: (entry, _args, context) => context.loaders.userById.load(entry.actorId),
    action: (entry) => entry.action,
    targetUser: (entry, _args, context) =>
      entry.userId ? context.loaders.userById.load(entry.userId) : null,
    targetTruth: (entry, _args, context) =>
      entry.truthId ? context.loaders.truthById.load(entry.truthId) : null,
    resolution: (entry) => entry.resolution,
    reportId: (entry) => (entry.reportId ? reportGlobalId(entry.reportId) : null),
    reason: (entry) => entry.reason,
    role: (entry) => entry.role,
    note: (entry) => entry.note,
    createdAt: (entry) => entry.at,
  },
};
