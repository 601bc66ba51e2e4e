import { Schema, type Connection, type Model, type Types } from 'mongoose';

/**
 * One person on the launch waitlist, in `waitlistentries`. Both uniqueness rules are unique
 * indexes enforced on insert (FerretDB v1 cannot be trusted to enforce them on update):
 * one entry per ticket number, one entry per normalised email.
 */
export interface WaitlistEntryRecord {
  _id: Types.ObjectId;
  /** 1, 2, 3, ... in joining order (from the Redis sequence; see waitlist.sequence.ts). */
  ticket: number;
  /** Normalised: NFKC, trimmed, lower-cased. */
  email: string;
  /** As asked for, with its original case. */
  username: string;
  usernameKey: string;
  createdAt: Date;
  /** Earlier versions of Verity set these in place; completion is now `waitlist_completions`. */
  admittedAt?: Date | null;
  completedAt?: Date | null;
}

export const waitlistEntrySchema = new Schema<WaitlistEntryRecord>(
  {
    ticket: { type: Number, required: true },
    email: { type: String, required: true },
    username: { type: String, required: true },
    usernameKey: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'waitlistentries', versionKey: false, strict: false },
);
waitlistEntrySchema.index({ ticket: 1 }, { unique: true });
waitlistEntrySchema.index({ email: 1 }, { unique: true });

export type WaitlistEntryModel = Model<WaitlistEntryRecord>;

export function createWaitlistEntryModel(connection: Connection): WaitlistEntryModel {
  return connection.model<WaitlistEntryRecord>('WaitlistEntry', waitlistEntrySchema);
}

/**
 * An entry whose account was created (`completeSignUp`), in `waitlist_completions`, keyed by
 * the entry's email: completing is an insert, and a second completion is refused by the key.
 */
export interface WaitlistCompletionRecord {
  _id: string;
  ticket: number;
  userId: Types.ObjectId;
  /** The username key the account was created under (it may differ from the one asked for). */
  usernameKey: string;
  at: Date;
}

const waitlistCompletionSchema = new Schema<WaitlistCompletionRecord>(
  {
    _id: { type: String, required: true },
    ticket: { type: Number, required: true },
    userId: { type: Schema.Types.ObjectId, required: true },
    usernameKey: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'waitlist_completions', versionKey: false },
);

export type WaitlistCompletionModel = Model<WaitlistCompletionRecord>;

export function createWaitlistCompletionModel(connection: Connection): WaitlistCompletionModel {
  return connection.model<WaitlistCompletionRecord>('WaitlistCompletion', waitlistCompletionSchema);
}

/** The operator's settings: one document, `_id: 'settings'`, created from config defaults. */
export interface WaitlistSettingsRecord {
  _id: 'settings';
  /** 0 means unlimited. */
  maxActiveAccounts: number;
  /** 0 admits only through `admitNext`. */
  admissionRatePerMinute: number;
  paused: boolean;
  updatedAt: Date;
}

/**
 * The admission watermark: one document, `_id: 'watermark'`, written only by the holder of
 * the admission lease and only conditionally on its fencing token (see waitlist.admission.ts).
 * It is a separate document from the settings because FerretDB v1 may lose one of two
 * concurrent updates of the same document: an admin's change and a tick must not collide.
 */
export interface WaitlistWatermarkRecord {
  _id: 'watermark';
  /** Every ticket up to this number is admitted. */
  admittedThrough: number;
  /** The fencing token of the lease that last wrote this document. */
  fence: number;
  /** The rate limiter's clock (ms since the epoch): admissions are paid for up to here. */
  admitClockMs: number;
}

/**
 * How far the admissions log reaches: one document, `_id: 'marks'`, apart from the watermark
 * so that recording an admission never writes the document a tick conditions on.
 */
export interface WaitlistMarksRecord {
  _id: 'marks';
  recordedThrough: number;
}

type WaitlistStateRecord = WaitlistSettingsRecord | WaitlistWatermarkRecord | WaitlistMarksRecord;

const waitlistStateSchema = new Schema<WaitlistStateRecord>(
  { _id: { type: String, required: true } },
  { collection: 'waitliststate', versionKey: false, strict: false },
);

export type WaitlistStateModel = Model<WaitlistStateRecord>;

/**
 * The state document `initial._id`, created from `initial` if there is none yet. Insert-if-absent:
 * when instances race, one insert wins (the others fail on the `_id`) and all read it.
 */
export async function stateDocument<T extends WaitlistStateRecord>(
  State: WaitlistStateModel,
  initial: T,
): Promise<T> {
  const filter = { _id: initial._id as never };
  const found = await State.collection.findOne(filter);
  if (found) return found as unknown as T;
  await State.collection.insertOne(initial as never).catch(() => undefined);
  return (await State.collection.findOne(filter)) as unknown as T;
}

export function createWaitlistStateModel(connection: Connection): WaitlistStateModel {
  return connection.model<WaitlistStateRecord>('WaitlistState', waitlistStateSchema);
}

/**
 * The admissions log, `waitlistadmissions`: one document per advance of the watermark, for
 * tickets (from, _id]. Append-only; the key makes recording a range twice impossible.
 */
export interface WaitlistAdmissionRecord {
  /** The last ticket of the range: the watermark after this advance. */
  _id: number;
  /** The range starts after this ticket. */
  from: number;
  admittedAt: Date;
  /** The fencing token of the tick that recorded it. */
  fence: number;
}

const waitlistAdmissionSchema = new Schema<WaitlistAdmissionRecord>(
  {
    _id: { type: Number, required: true },
    from: { type: Number, required: true },
    admittedAt: { type: Date, required: true },
    fence: { type: Number, required: true },
  },
  { collection: 'waitlistadmissions', versionKey: false },
);

export type WaitlistAdmissionModel = Model<WaitlistAdmissionRecord>;

export function createWaitlistAdmissionModel(connection: Connection): WaitlistAdmissionModel {
  return connection.model<WaitlistAdmissionRecord>('WaitlistAdmission', waitlistAdmissionSchema);
}
