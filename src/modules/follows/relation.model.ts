import { Schema, type Connection, type Model, type Types } from 'mongoose';

export type RelationKind = 'follow' | 'block' | 'mute';

/**
 * One directed relation between two users in `relations`: `fromId` follows, blocks or mutes
 * `toId`. A unique index makes each (from, kind, to) exist at most once, so following twice is
 * the same as once, even for racing requests.
 */
export interface RelationRecord {
  _id: Types.ObjectId;
  fromId: Types.ObjectId;
  toId: Types.ObjectId;
  kind: RelationKind;
  createdAt: Date;
}

export const relationSchema = new Schema<RelationRecord>(
  {
    fromId: { type: Schema.Types.ObjectId, required: true },
    toId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, enum: ['follow', 'block', 'mute'], required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'relations', versionKey: false },
);
// "Does A follow B", and A's following / blocks / mutes lists, newest first.
relationSchema.index({ fromId: 1, kind: 1, toId: 1 }, { unique: true });
relationSchema.index({ fromId: 1, kind: 1, _id: -1 });
// B's followers, newest first; who blocked B.
relationSchema.index({ toId: 1, kind: 1, _id: -1 });

export type RelationModel = Model<RelationRecord>;

export function createRelationModel(connection: Connection): RelationModel {
  return connection.model<RelationRecord>('Relation', relationSchema);
}
