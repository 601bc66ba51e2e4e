import { requireViewer } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { expectGlobalId, toGlobalId } from '../../graphql/global-id.js';
import { pageRequest, toConnection } from '../../graphql/pagination.js';
import { selectedFieldNames } from '../../graphql/selection.js';
import { badUserInput } from '../../lib/errors.js';
import { prefetchUsers } from '../follows/index.js';
import type { NotificationRecord } from './notification.model.js';

/** What the NotificationConnection type resolves from: a page, and how many are unread. */
export interface NotificationConnectionView extends ReturnType<
  typeof toConnection<NotificationRecord>
> {
  unreadCount: number;
}

export const notificationResolvers: Resolvers = {
  Query: {
    notifications: async (_parent, args, context, info) => {
      const viewer = requireViewer(context);
      const request = pageRequest(args);
      const page = await context.services.notifications.list(
        viewer.id,
        request,
        args.unreadOnly ?? false,
      );
      // The page's actors and truths, read together before its fields resolve: one round trip,
      // and fields that then resolve at once (no promise per field).
      if (context.loaders.caching) {
        const selected = selectedFieldNames(info, ['edges', 'node']);
        const truthIds = page.items.flatMap((n) => (n.truthId ? [n.truthId.toHexString()] : []));
        await Promise.all([
          selected.has('actor')
            ? prefetchUsers(
                context,
                selectedFieldNames(info, ['edges', 'node', 'actor']),
                page.items.map((n) => n.actorId.toHexString()),
              )
            : null,
          selected.has('truth') ? context.loaders.truthById.loadMany(truthIds) : null,
        ]);
      }
      return {
        ...toConnection(page, request, (n) => n._id.toHexString()),
        unreadCount: page.unreadCount,
      };
    },
  },

  NotificationConnection: {
    unreadCount: (view) => view.unreadCount,
  },

  Mutation: {
    markNotificationsRead: async (_parent, { input }, context, info) => {
      const viewer = requireViewer(context);
      let target: { ids: string[] } | { all: true };
      if (input.all) {
        target = { all: true };
      } else {
        if (!input.ids || input.ids.length === 0) {
          throw badUserInput('Give the ids to mark as read, or all: true.', 'ids');
        }
        target = { ids: input.ids.map((id) => expectGlobalId(id, 'Notification', 'ids')) };
      }
      // What it marked is read back only for an answer that shows it.
      const { marked, unread } = await context.services.notifications.markRead(viewer.id, target, {
        list: selectedFieldNames(info).has('notifications'),
      });
      return { notifications: marked, unreadCount: unread };
    },
  },

  Subscription: {
    notificationReceived: {
      subscribe: (_parent, _args, context) =>
        context.services.notifications.watch(requireViewer(context).id),
      resolve: (notification: NotificationRecord) => notification,
    },
  },

  Notification: {
    id: (notification) => toGlobalId('Notification', notification._id),
    actor: async (notification, _args, context) => {
      const actor = await context.loaders.userById.load(notification.actorId.toHexString());
      if (!actor) throw new Error('the actor of a notification is missing');
      return actor;
    },
    truth: (notification, _args, context) =>
      notification.truthId
        ? context.loaders.truthById.load(notification.truthId.toHexString())
        : null,
    read: (notification) => notification.readAt !== null,
    waitlistTicket: (notification) => notification.ticket ?? null,
  },
};
