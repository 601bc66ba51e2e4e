import { Schema, type Connection, type Model, type Types } from 'mongoose';

export const reactionKinds = ['LIKE', 'LOVE', 'HAHA', 'WOW', 'SAD', 'ANGRY'] as const;
export type ReactionKind = (typeof reactionKinds)[number];

/**
 * One change of a user's reaction to a truth, in `reaction_events`: the new kind, or null when
 * it was removed. The reaction is the change with the highest `version` (a number from the
 * reactions' Redis sequence, taken before the insert). Changes are inserted, never applied in
 * place: on the embedded database an update or a delete reads the whole collection.
 */
export interface ReactionEventRecord {
  _id: Types.ObjectId;
  userId: Types.ObjectId;
  truthId: Types.ObjectId;
  kind: ReactionKind | null;
  version: number;
  at: Date;
}

const reactionEventSchema = new Schema<ReactionEventRecord>(
  {
    userId: { type: Schema.Types.ObjectId, required: true },
    truthId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, enum: [...reactionKinds, null], default: null },
    version: { type: Number, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'reaction_events', versionKey: false },
);

export type ReactionEventModel = Model<ReactionEventRecord>;

export function createReactionEventModel(connection: Connection): ReactionEventModel {
  return connection.model<ReactionEventRecord>('ReactionEvent', reactionEventSchema);
}

/**
 * A reaction as earlier versions of Verity stored it, one document per live reaction in
 * `reactions`. Read only when the read model is rebuilt: each counts as a change at version 0.
 */
export interface LegacyReactionRecord {
  _id: Types.ObjectId;
  truthId: Types.ObjectId;
  userId: Types.ObjectId;
  kind: ReactionKind;
  createdAt: Date;
}

const legacyReactionSchema = new Schema<LegacyReactionRecord>(
  {},
  { collection: 'reactions', versionKey: false, strict: false },
);

export type LegacyReactionModel = Model<LegacyReactionRecord>;

export function createLegacyReactionModel(connection: Connection): LegacyReactionModel {
  return connection.model<LegacyReactionRecord>('LegacyReaction', legacyReactionSchema);
}
