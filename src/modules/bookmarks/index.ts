/**
 * The bookmarks module's face: private bookmarks and public pins. Owns `bookmark_events` and
 * `pin_events`, and the read model's `bm:*`, `bml:*`, `bmv:*` and `pins:*` keys.
 */
export {
  createBookmarkEventModel,
  createPinEventModel,
  maxPinnedTruths,
} from './bookmark.model.js';
export { bookmarkResolvers } from './bookmark.resolvers.js';
export { createBookmarkService, type BookmarkService } from './bookmark.service.js';
export { createBookmarkStore, type BookmarkStore } from './bookmark.store.js';
