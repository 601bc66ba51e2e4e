/** Events of the truths module; the key is the truth's id. */
export interface TruthTopics {
  /**
   * A truth's counts changed (a reply, retruth, quote or reaction). A notice only: subscribers
   * read the counts, through the event's shared loaders, once per instance.
   */
  truthCountsChanged: { truthId: string };
}
