import { Schema, type Connection, type Model, type Types } from 'mongoose';

export const reactionKinds = ['LIKE', 'LOVE', 'HAHA', 'WOW', 'SAD', 'ANGRY'] as const;
export type ReactionKind = (typeof reactionKinds)[number];

/** A user's one reaction to a truth, in `reactions`. */
export interface ReactionRecord {
  _id: Types.ObjectId;
  truthId: Types.ObjectId;
  userId: Types.ObjectId;
  kind: ReactionKind;
  createdAt: Date;
  updatedAt: Date;
}

export const reactionSchema = new Schema<ReactionRecord>(
  {
    truthId: { type: Schema.Types.ObjectId, required: true },
    userId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, enum: reactionKinds, required: true },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'reactions', versionKey: false },
);
// One per user per truth; counting a truth's reactions by kind.
reactionSchema.index({ truthId: 1, userId: 1 }, { unique: true });
// The viewer's reactions to a page of truths.
reactionSchema.index({ userId: 1, truthId: 1 });

export type ReactionModel = Model<ReactionRecord>;

export function createReactionModel(connection: Connection): ReactionModel {
  return connection.model<ReactionRecord>('Reaction', reactionSchema);
}
