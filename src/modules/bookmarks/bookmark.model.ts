import { Schema, type Connection, type Model, type Types } from 'mongoose';

/**
 * One change of a user's bookmark of a truth, in `bookmark_events`: added (`on`) or removed.
 * The bookmark's state is the change with the highest `version` (a number from the bookmarks'
 * Redis sequence, taken before the insert), which also orders a user's bookmarks. Changes are
 * inserted, never applied in place: on the embedded database an update reads the whole
 * collection.
 */
export interface BookmarkEventRecord {
  _id: Types.ObjectId;
  userId: Types.ObjectId;
  truthId: Types.ObjectId;
  on: boolean;
  version: number;
  at: Date;
}

const bookmarkEventSchema = new Schema<BookmarkEventRecord>(
  {
    userId: { type: Schema.Types.ObjectId, required: true },
    truthId: { type: Schema.Types.ObjectId, required: true },
    on: { type: Boolean, required: true },
    version: { type: Number, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'bookmark_events', versionKey: false },
);

export type BookmarkEventModel = Model<BookmarkEventRecord>;

export function createBookmarkEventModel(connection: Connection): BookmarkEventModel {
  return connection.model<BookmarkEventRecord>('BookmarkEvent', bookmarkEventSchema);
}

/**
 * A user's pinned truths after one change, in `pin_events`, keyed `<user id>:<revision>`
 * (revisions count from 1 per user). Each change records the whole list (at most
 * `maxPinnedTruths`), computed from the revision before it: of two changes racing from the same
 * revision the key lets one in, and the other is computed again from the winner's list, so
 * the limit holds whatever the timing.
 */
export interface PinEventRecord {
  _id: string;
  userId: Types.ObjectId;
  revision: number;
  /** In pin order. */
  truthIds: Types.ObjectId[];
  at: Date;
  /** The attempt that stored it: its journal entry names it (bookmark.service.ts). */
  attempt: string;
}

const pinEventSchema = new Schema<PinEventRecord>(
  {
    _id: { type: String, required: true },
    userId: { type: Schema.Types.ObjectId, required: true },
    revision: { type: Number, required: true },
    truthIds: { type: [Schema.Types.ObjectId], default: [] },
    at: { type: Date, required: true },
    attempt: { type: String, required: true },
  },
  { collection: 'pin_events', versionKey: false },
);
// Requests read bookmarks and pins from the read model; MongoDB is read by `_id` only after a
// lost race or a crash, and scanned by the read model's rebuild.

export type PinEventModel = Model<PinEventRecord>;

export function createPinEventModel(connection: Connection): PinEventModel {
  return connection.model<PinEventRecord>('PinEvent', pinEventSchema);
}

/** How many truths a profile can pin. */
export const maxPinnedTruths = 3;

export const pinKeyOf = (userId: string, revision: number) => `${userId}:${revision}`;
