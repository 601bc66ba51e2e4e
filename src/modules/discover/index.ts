/**
 * The discover module's face: people and hashtag search, trends and suggested accounts. Owns
 * no MongoDB collection (it derives everything from the facts of users, truths, reactions and
 * follows, through their hooks and replays) and the read model's `disc:*` keys.
 */
export type { DiscoverTopics, TrendsView } from './discover.events.js';
export { discoverResolvers, maxDiscoverResults } from './discover.resolvers.js';
export { createDiscoverService, trendsShown, type DiscoverService } from './discover.service.js';
export { createDiscoverStore, type DiscoverStore, type TrendSettings } from './discover.store.js';
