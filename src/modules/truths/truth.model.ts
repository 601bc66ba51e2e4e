import { Schema, type Connection, type Model, type Types } from 'mongoose';
import type { AttachedMedia } from '../media/index.js';

export type TruthKind = 'POST' | 'REPLY' | 'RETRUTH' | 'QUOTE';

/** A truth as stored in `truths`: posts, replies, retruths and quotes alike. */
export interface TruthRecord {
  _id: Types.ObjectId;
  authorId: Types.ObjectId;
  kind: TruthKind;
  /** Empty for a retruth. */
  text: string;
  /** Lower-case, without '#', unique, in order of appearance. */
  hashtags: string[];
  /** Users mentioned with @username who existed when the truth was posted. */
  mentionIds: Types.ObjectId[];
  replyToId: Types.ObjectId | null;
  /** For a reply: the thread from its root down to its parent, so a thread loads in one query. */
  ancestorIds: Types.ObjectId[];
  quoteOfId: Types.ObjectId | null;
  retruthOfId: Types.ObjectId | null;
  createdAt: Date;
  /** Set in the read model from `truth_deletions`; earlier versions of Verity set it here. */
  deletedAt: Date | null;
  /**
   * Set in the read model from `truth_edits` (truth.edit.model.ts): when the text was last
   * edited, and the revision it is (0 or absent: as posted). `text`, `hashtags` and
   * `mentionIds` are then the edit's.
   */
  editedAt?: Date | null;
  revision?: number;
  /**
   * The images and videos attached when it was posted, described in full so that reading a
   * truth reads nothing else; absent when there are none.
   */
  media?: AttachedMedia[];
}

const attachedMediaSchema = new Schema<AttachedMedia>(
  {
    id: { type: String, required: true },
    kind: { type: String, enum: ['IMAGE', 'VIDEO'], required: true },
    contentType: { type: String, required: true },
    file: { type: String, required: true },
    thumbnailFile: { type: String, default: null },
    width: { type: Number, default: null },
    height: { type: Number, default: null },
    altText: { type: String, default: '' },
  },
  { _id: false },
);

export const truthSchema = new Schema<TruthRecord>(
  {
    authorId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, enum: ['POST', 'REPLY', 'RETRUTH', 'QUOTE'], required: true },
    text: { type: String, default: '' },
    hashtags: { type: [String], default: [] },
    mentionIds: { type: [Schema.Types.ObjectId], default: [] },
    replyToId: { type: Schema.Types.ObjectId, default: null },
    ancestorIds: { type: [Schema.Types.ObjectId], default: [] },
    quoteOfId: { type: Schema.Types.ObjectId, default: null },
    retruthOfId: { type: Schema.Types.ObjectId, default: null },
    createdAt: { type: Date, required: true },
    deletedAt: { type: Date, default: null },
    media: { type: [attachedMediaSchema], default: undefined },
  },
  { collection: 'truths', versionKey: false },
);
// Every read of truths is served by the read model; MongoDB only receives inserts (the `_id`
// index decides a retried insert) and the read model's rebuild scans the collection.

export type TruthModel = Model<TruthRecord>;

/**
 * A deletion, in `truth_deletions`, keyed by the truth's id: deleting is an insert (a second
 * deletion of the same truth is refused by the key), since on the embedded database an update
 * reads the whole collection.
 */
export interface TruthDeletionRecord {
  _id: Types.ObjectId;
  authorId: Types.ObjectId;
  at: Date;
}

const truthDeletionSchema = new Schema<TruthDeletionRecord>(
  {
    authorId: { type: Schema.Types.ObjectId, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'truth_deletions', versionKey: false },
);

export type TruthDeletionModel = Model<TruthDeletionRecord>;

export function createTruthDeletionModel(connection: Connection): TruthDeletionModel {
  return connection.model<TruthDeletionRecord>('TruthDeletion', truthDeletionSchema);
}

export function createTruthModel(connection: Connection): TruthModel {
  return connection.model<TruthRecord>('Truth', truthSchema);
}

/**
 * One record per (user, idempotency key) in `idempotency_keys`: the hash of what was asked and
 * the id of the truth it created. The id is chosen before the truth is inserted, so a retry
 * after a crash between the two finishes the same truth instead of making a second one.
 */
export interface IdempotencyRecord {
  _id: string;
  requestHash: string;
  truthId: Types.ObjectId;
  createdAt: Date;
}

export const idempotencySchema = new Schema<IdempotencyRecord>(
  {
    _id: { type: String, required: true },
    requestHash: { type: String, required: true },
    truthId: { type: Schema.Types.ObjectId, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'idempotency_keys', versionKey: false },
);

export type IdempotencyModel = Model<IdempotencyRecord>;

export function createIdempotencyModel(connection: Connection): IdempotencyModel {
  return connection.model<IdempotencyRecord>('IdempotencyKey', idempotencySchema);
}
