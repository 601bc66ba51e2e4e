import { Schema, type Connection, type Model, type Types } from 'mongoose';

export type MediaKind = 'IMAGE' | 'VIDEO';

/**
 * An uploaded file, in `media`, keyed by the id its upload URL named (so an upload URL used
 * twice is refused by the key). Written once, when the upload is stored; never updated.
 */
export interface MediaRecord {
  _id: Types.ObjectId;
  ownerId: Types.ObjectId;
  kind: MediaKind;
  /** The type as served, decided from the bytes. */
  contentType: string;
  /** The stored file's size. */
  byteSize: number;
  /** The stored file's name in the media store: `<id>-<content hash>.<ext>`. */
  file: string;
  /** An image's thumbnail (WebP) in the media store; null for a video. */
  thumbnailFile: string | null;
  width: number | null;
  height: number | null;
  createdAt: Date;
}

const mediaSchema = new Schema<MediaRecord>(
  {
    ownerId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, enum: ['IMAGE', 'VIDEO'], required: true },
    contentType: { type: String, required: true },
    byteSize: { type: Number, required: true },
    file: { type: String, required: true },
    thumbnailFile: { type: String, default: null },
    width: { type: Number, default: null },
    height: { type: Number, default: null },
    createdAt: { type: Date, required: true },
  },
  { collection: 'media', versionKey: false },
);
// Requests read media from the read model; MongoDB receives inserts (the `_id` index refuses a
// second upload with the same URL) and the rebuild scans the collection.

export type MediaModel = Model<MediaRecord>;

export function createMediaModel(connection: Connection): MediaModel {
  return connection.model<MediaRecord>('Media', mediaSchema);
}

/**
 * A media file attached to a truth, in `media_attachments`, keyed by the media's id: attaching
 * is an insert, and the key makes sure a file goes with one truth only, whichever request wins.
 * The sweeper claims an upload left unattached the same way, with `truthId` null, before it
 * deletes its files: then no post can attach it any more.
 */
export interface MediaAttachmentRecord {
  _id: Types.ObjectId;
  /** Null: swept (its files deleted), never to be attached. */
  truthId: Types.ObjectId | null;
  at: Date;
}

const attachmentSchema = new Schema<MediaAttachmentRecord>(
  {
    truthId: { type: Schema.Types.ObjectId, default: null },
    at: { type: Date, required: true },
  },
  { collection: 'media_attachments', versionKey: false },
);

export type MediaAttachmentModel = Model<MediaAttachmentRecord>;

export function createMediaAttachmentModel(connection: Connection): MediaAttachmentModel {
  return connection.model<MediaAttachmentRecord>('MediaAttachment', attachmentSchema);
}
