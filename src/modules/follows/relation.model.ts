import { Schema, type Connection, type Model, type Types } from 'mongoose';

export type RelationKind = 'follow' | 'block' | 'mute';

/**
 * One change of a directed relation between two users, in `relation_events`: `fromId` starts
 * (`on`) or ends following, blocking or muting `toId`. The relation's state is the change with
 * the highest `version` (a number from the follows' Redis sequence, taken before the insert).
 * Changes are inserted, never applied in place, and never deleted: on the embedded database an
 * update or a delete reads the whole collection, an insert does not.
 */
export interface RelationEventRecord {
  _id: Types.ObjectId;
  fromId: Types.ObjectId;
  toId: Types.ObjectId;
  kind: RelationKind;
  on: boolean;
  version: number;
  at: Date;
}

const relationEventSchema = new Schema<RelationEventRecord>(
  {
    fromId: { type: Schema.Types.ObjectId, required: true },
    toId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, enum: ['follow', 'block', 'mute'], required: true },
    on: { type: Boolean, required: true },
    version: { type: Number, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'relation_events', versionKey: false },
);

export type RelationEventModel = Model<RelationEventRecord>;

export function createRelationEventModel(connection: Connection): RelationEventModel {
  return connection.model<RelationEventRecord>('RelationEvent', relationEventSchema);
}

/**
 * A relation as earlier versions of Verity stored it, one document per live relation in
 * `relations`. Read only when the read model is rebuilt: each counts as a start at version 0.
 */
export interface LegacyRelationRecord {
  _id: Types.ObjectId;
  fromId: Types.ObjectId;
  toId: Types.ObjectId;
  kind: RelationKind;
  createdAt: Date;
}

const legacyRelationSchema = new Schema<LegacyRelationRecord>(
  {},
  { collection: 'relations', versionKey: false, strict: false },
);

export type LegacyRelationModel = Model<LegacyRelationRecord>;

export function createLegacyRelationModel(connection: Connection): LegacyRelationModel {
  return connection.model<LegacyRelationRecord>('LegacyRelation', legacyRelationSchema);
}
