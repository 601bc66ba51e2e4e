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
 * `hashtagFeed` by tag, `whaleFlagged` by '' when an account becomes a whale, and
 * `authorSuspended` by '' when an account is suspended.
 */
export interface FeedTopics {
  homeFeed: FeedEvent;
  authorPosted: FeedEvent;
  publicFeed: FeedEvent;
  hashtagFeed: FeedEvent;
  whaleFlagged: { userId: string };
  /**
   * An account was suspended (by '', to every instance): the newest of its truths, which each
   * instance turns into `TruthDeleted` for its live feeds that may show them.
   */
  authorSuspended: { authorId: string; truths: SuspendedTruth[] };
}

/** A suspended author's truth, as live feeds need it to tell whether they may show it. */
export interface SuspendedTruth {
  id: string;
  /** A reply: not in the public feed. */
  reply: boolean;
  hashtags: string[];
}
