import type { TruthCounts } from './truth.counts.js';

/** Events of the truths module; the key is the truth's id. */
export interface TruthTopics {
  /** A truth's counts after a reaction, reply, retruth or quote changed them. */
  truthCountsChanged: { truthId: string; counts: TruthCounts };
}
