/** The trends as computed at `computedAt` (ms): what `trends` and `trendsUpdated` show. */
export interface TrendsView {
  computedAt: number;
  hashtags: { tag: string; score: number }[];
  /** Highest first; more than are shown, so that deleted ones can be left out. */
  truths: { truthId: string; score: number }[];
}

/** Events the discover module publishes; the trends have one key, `all`. */
export interface DiscoverTopics {
  /** The trends changed; the event carries them, so subscribers read nothing. */
  trendsUpdated: TrendsView;
}
