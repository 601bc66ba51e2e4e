import type { GraphQLContext } from '../../graphql/context.js';
import { requireViewer } from '../../graphql/context.js';
import type { Resolvers } from '../../graphql/generated/resolvers-types.js';
import { forbidden } from '../../lib/errors.js';
import { opaqueId } from '../../lib/ids.js';
import type { TicketView } from './waitlist.watch.js';

/** There is one waitlist, so its stats have one ID. */
const waitlistStatsId = opaqueId('WaitlistStats:verity');

/** UNAUTHENTICATED without a session, FORBIDDEN without the admin role. */
function requireAdmin(context: GraphQLContext): void {
  if (requireViewer(context).role !== 'admin') throw forbidden('Only admins may do this.');
}

export const waitlistResolvers: Resolvers = {
  Query: {
    waitlistTicket: (_parent, { ticketToken }, context) =>
      context.services.waitlist.ticket(ticketToken),
    waitlistStats: (_parent, _args, context) => {
      requireAdmin(context);
      return context.services.waitlist.stats();
    },
  },

  Mutation: {
    signUp: (_parent, { input }, context) => context.services.waitlist.signUp(input),
    joinWaitlist: (_parent, { input }, context) => context.services.waitlist.join(input),
    completeSignUp: (_parent, { input }, context) =>
      context.services.waitlist.completeSignUp(input),
    setWaitlistCapacity: (_parent, { input }, context) => {
      requireAdmin(context);
      return context.services.waitlist.setCapacity(input);
    },
    pauseAdmissions: (_parent, _args, context) => {
      requireAdmin(context);
      return context.services.waitlist.setPaused(true);
    },
    resumeAdmissions: (_parent, _args, context) => {
      requireAdmin(context);
      return context.services.waitlist.setPaused(false);
    },
    admitNext: (_parent, { count }, context) => {
      requireAdmin(context);
      return context.services.waitlist.admitNext(count);
    },
  },

  // A ticket's and the waitlist's IDs are for client caches only: neither is a `node(id:)`,
  // since a ticket is shown only to its token's holder and the stats only to admins.
  WaitlistTicket: {
    id: (ticket) => opaqueId(`WaitlistTicket:${ticket.ticket}`),
  },

  WaitlistStats: {
    id: () => waitlistStatsId,
  },

  Subscription: {
    waitlistPosition: {
      subscribe: (_parent, { ticketToken }, context) =>
        context.services.waitlist.watch(ticketToken),
      resolve: (ticket: TicketView) => ticket,
    },
  },
};
