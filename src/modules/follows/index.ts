/**
 * The follows module's face: follows, blocks and mutes. Owns `relation_events` (and reads the
 * `relations` of earlier versions when rebuilding), and the read model's `rel:*` keys.
 */
export type { RelationTopics } from './relation.events.js';
export { createLegacyRelationModel, createRelationEventModel } from './relation.model.js';
export { createRelationFlagsLoader } from './relation.loaders.js';
export { prefetchUsers, relationResolvers } from './relation.resolvers.js';
export {
  createRelationService,
  type RelationHooks,
  type RelationService,
} from './relation.service.js';
export {
  createRelationStore,
  type RelationFlags,
  type RelationSnapshot,
  type RelationStore,
} from './relation.store.js';
