import { Schema, type Connection, type Model, type Types } from 'mongoose';

/**
 * An account that became a whale (see feed.service.ts), in `whale_flags`, keyed by the user's
 * id: flagged once, for good, by an insert.
 */
export interface WhaleFlagRecord {
  _id: Types.ObjectId;
  at: Date;
}

const whaleFlagSchema = new Schema<WhaleFlagRecord>(
  { at: { type: Date, required: true } },
  { collection: 'whale_flags', versionKey: false },
);

export type WhaleFlagModel = Model<WhaleFlagRecord>;

export function createWhaleFlagModel(connection: Connection): WhaleFlagModel {
  return connection.model<WhaleFlagRecord>('WhaleFlag', whaleFlagSchema);
}
