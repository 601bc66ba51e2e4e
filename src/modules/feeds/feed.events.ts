import type { TruthWire } from '../truths/index.js';
import type { UserWire } from '../users/index.js';

/**
 * A change to a feed. A new truth travels with everything every subscriber would otherwise
 * load (the truth and its author's public profile), so fanning it out to N subscribers costs
 * no database reads; `originalAuthorId` lets a subscriber hide a retruth of someone it blocks.
 */
export type FeedEvent =
  | { type: 'posted'; truth: TruthWire; author: UserWire; originalAuthorId: string | null }
  | { type: 'deleted'; truthId: string; authorId: string }
  /** Its author edited a truth: the truth as it is now (its author's id is `truth.authorId`). */
  | { type: 'edited'; truth: TruthWire };

/**
 * Feed channels: `homeFeed` keyed by the follower's id (fan-out), `authorPosted` keyed by a
 * whale's id (their followers' home subscribers listen there instead), `publicFeed` by '',
 * `hashtagFeed` by tag, and `whaleFlagged` by '' when an account becomes a whale.
 */
export interface FeedTopics {
  homeFeed: FeedEvent;
  authorPosted: FeedEvent;
  publicFeed: FeedEvent;
  hashtagFeed: FeedEvent;
  whaleFlagged: { userId: string };
}
