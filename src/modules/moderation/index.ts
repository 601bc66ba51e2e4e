/**
 * The moderation module's face: reports, the moderation queue, removals, suspensions, granted
 * roles and the moderation log. Owns `reports` and `moderation_actions`, and the read model's
 * `mod:*` keys (the queue tagged `{mod}`, the log `{modlog}`, account flags by account).
 */
export {
  createModerationActionModel,
  createReportModel,
  type GrantedRole,
  type ReportReason,
} from './moderation.model.js';
export { moderationResolvers } from './moderation.resolvers.js';
export {
  createModerationService,
  type ModerationHooks,
  type ModerationService,
  type ReportView,
} from './moderation.service.js';
export {
  createModerationStore,
  type ActionState,
  type ModerationStore,
  type ResolutionState,
} from './moderation.store.js';
