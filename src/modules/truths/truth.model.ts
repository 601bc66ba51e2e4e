import { Schema, type Connection, type Model, type Types } from 'mongoose';

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
  /**
   * `<authorId>:<retruthOfId>` on a live retruth only: a sparse unique index on it makes
   * "one retruth per user per truth" hold even for two racing requests.
   */
  retruthKey?: string;
  createdAt: Date;
  deletedAt: Date | null;
}

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
    retruthKey: { type: String },
    createdAt: { type: Date, required: true },
    deletedAt: { type: Date, default: null },
  },
  { collection: 'truths', versionKey: false },
);
// Account feed; home timeline rebuild (authorId $in).
truthSchema.index({ authorId: 1, _id: -1 });
// Public feed.
truthSchema.index({ kind: 1, deletedAt: 1, _id: -1 });
// Hashtag feed.
truthSchema.index({ hashtags: 1, _id: -1 });
// Thread replies and reply counts.
truthSchema.index({ replyToId: 1, _id: 1 });
// Quote and retruth counts; soft-deleting the retruths of a deleted truth.
truthSchema.index({ quoteOfId: 1 });
truthSchema.index({ retruthOfId: 1 });
truthSchema.index({ retruthKey: 1 }, { unique: true, sparse: true });

export type TruthModel = Model<TruthRecord>;

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
