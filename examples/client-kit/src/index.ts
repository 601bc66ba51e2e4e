/**
 * Verity's client kit: a typed Apollo Client 4 for Verity. See ../README.md.
 */
export {
  createVerityClient,
  reconnectDelayMs,
  VerityCloseCode,
  type FeedUpdate,
  type LiveHandle,
  type RetryPolicy,
  type SessionEndReason,
  type VerityClient,
  type VerityClientOptions,
} from './client.js';
export {
  createVerityCache,
  possibleTypes,
  newestCursor,
  normalizeTag,
  prependToFeed,
  removeFromFeeds,
  type FeedKey,
  type PostedTruth,
} from './cache.js';
export { createTokenStore, type TokenStorage, type TokenStore } from './token-store.js';
export * from './operations.js';
export type {
  NotificationKind,
  ProfileFieldsFragment,
  ReactionKind,
  TruthFieldsFragment,
  TruthKind,
} from './gql/graphql.js';
