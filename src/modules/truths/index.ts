/**
 * The truths module's face: posts, replies, quotes, retruths, their edits and their deletion.
 * Owns `truths`, `truth_edits`, `truth_deletions` and `idempotency_keys`, and the read model's
 * `truth:*`, `tc:*`, `authored:*`, `own:*`, `rep:*`, `qof:*`, `rtof:*`, `gone:*`, `rt:*`,
 * `tedit:*` and `idem:*` keys, each tagged by its truth's or user's id (`truth:{<id>}`).
 */
export type { TruthTopics } from './truth.events.js';
export {
  createIdempotencyModel,
  createTruthDeletionModel,
  createTruthModel,
  type TruthKind,
  type TruthRecord,
} from './truth.model.js';
export { truthResolvers, type TruthCountsView } from './truth.resolvers.js';
export {
  createTruthService,
  type NewTruth,
  type TruthHooks,
  type TruthInput,
  type TruthService,
} from './truth.service.js';
export { createTruthStore, truthCountFields, type TruthStore } from './truth.store.js';
export { normalizeHashtag } from './truth.text.js';
export { fromTruthWire, toTruthWire, type TruthWire } from './truth.wire.js';
export { createTruthEditModel, type TruthEditRecord } from './truth.edit.model.js';
export { truthEditResolvers } from './truth.edit.resolvers.js';
export {
  createTruthEditService,
  maxEditsPerTruth,
  type TruthEditHooks,
  type TruthEditService,
} from './truth.edit.service.js';
export { createTruthEditStore, type TruthEditStore } from './truth.edit.store.js';
