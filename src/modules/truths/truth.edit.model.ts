import { Schema, type Connection, type Model, type Types } from 'mongoose';

/**
 * One edit of a truth's text, in `truth_edits`, keyed `<truth id>:<revision>` (revisions count
 * from 1; the text as posted is revision 0, in `truths`). Editing is an insert: of two edits
 * racing for the same revision the key lets one in and refuses the other (a CONFLICT), and on
 * the embedded database an update would read the whole collection.
 */
export interface TruthEditRecord {
  _id: string;
  truthId: Types.ObjectId;
  authorId: Types.ObjectId;
  revision: number;
  /** The new text, and what the posting rules derive from it. */
  text: string;
  hashtags: string[];
  mentionIds: Types.ObjectId[];
  at: Date;
  /** The attempt that stored it: its journal entry names it (truth.edit.service.ts). */
  attempt: string;
}

const truthEditSchema = new Schema<TruthEditRecord>(
  {
    _id: { type: String, required: true },
    truthId: { type: Schema.Types.ObjectId, required: true },
    authorId: { type: Schema.Types.ObjectId, required: true },
    revision: { type: Number, required: true },
    text: { type: String, required: true },
    hashtags: { type: [String], default: [] },
    mentionIds: { type: [Schema.Types.ObjectId], default: [] },
    at: { type: Date, required: true },
    attempt: { type: String, required: true },
  },
  { collection: 'truth_edits', versionKey: false },
);
// Requests read edits from the read model; MongoDB is read by `_id` only to finish an edit a
// dead process left unapplied, and scanned by the read model's rebuild.

export type TruthEditModel = Model<TruthEditRecord>;

export function createTruthEditModel(connection: Connection): TruthEditModel {
  return connection.model<TruthEditRecord>('TruthEdit', truthEditSchema);
}

export const editKeyOf = (truthId: string, revision: number) => `${truthId}:${revision}`;
