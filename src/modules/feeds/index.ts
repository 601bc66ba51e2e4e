/**
 * The feeds module's face: home, public, hashtag, account and thread feeds, live and paged.
 * Owns `whale_flags`, and the read model's `fd:*`, `tl:*` and `whales` keys. Leaves out the
 * truths of suspended accounts, as the moderation module says (`suspendedAmong`).
 */
export type { FeedEvent, FeedTopics, SuspendedTruth } from './feed.events.js';
export { createFeedLists, type FeedLists } from './feed.lists.js';
export { createWhaleFlagModel } from './feed.model.js';
export { feedResolvers, type ThreadView } from './feed.resolvers.js';
export {
  createFeedService,
  timelineCapacity,
  timelineTtlSeconds,
  type FeedService,
  type FeedTruth,
  type FeedUpdate,
} from './feed.service.js';
export { createWhaleRegistry, type WhaleRegistry } from './whale.registry.js';
