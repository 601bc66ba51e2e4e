/**
 * The reactions module's face: one reaction per user per truth. Owns `reaction_events` (and
 * reads the `reactions` of earlier versions when rebuilding), and the read model's `rx:*`,
 * `rxv:*`, `rc:*`, `rcby:*` and `rx:seq` keys.
 */
export {
  createLegacyReactionModel,
  createReactionEventModel,
  reactionKinds,
  type ReactionEventRecord,
  type ReactionKind,
} from './reaction.model.js';
export { reactionResolvers } from './reaction.resolvers.js';
export {
  createReactionService,
  type ReactionHooks,
  type ReactionService,
} from './reaction.service.js';
export { createReactionStore, type ReactionStore } from './reaction.store.js';
