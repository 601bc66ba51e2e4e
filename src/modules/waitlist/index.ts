/**
 * The waitlist module's face. Owns `waitlistentries`, `waitlist_completions`,
 * `waitlistadmissions` and `waitliststate`, and the read model's `wl:*` keys.
 */
export type { WaitlistTopics } from './waitlist.events.js';
export {
  createWaitlistAdmissionModel,
  createWaitlistCompletionModel,
  createWaitlistEntryModel,
  createWaitlistStateModel,
} from './waitlist.model.js';
export { waitlistResolvers } from './waitlist.resolvers.js';
export {
  createWaitlistService,
  type TicketView,
  type WaitlistConfig,
  type WaitlistService,
  type WaitlistStats,
} from './waitlist.service.js';
