import { Schema, type Connection, type Model, type Types } from 'mongoose';

/** Why someone reported a truth or an account. */
export const reportReasons = ['SPAM', 'ABUSE', 'HARASSMENT', 'ILLEGAL', 'MISINFORMATION', 'OTHER'];
export type ReportReason = 'SPAM' | 'ABUSE' | 'HARASSMENT' | 'ILLEGAL' | 'MISINFORMATION' | 'OTHER';

/** What a report is about. */
export type ReportTargetKind = 'TRUTH' | 'USER';

/** How a moderator closes the open reports of a target. */
export type ReportResolution = 'DISMISS' | 'REMOVE_TRUTH' | 'SUSPEND_ACCOUNT';

/** What a moderation log entry records. */
export type ModerationActionKind =
  'RESOLVE_REPORT' | 'REMOVE_TRUTH' | 'SUSPEND_ACCOUNT' | 'UNSUSPEND_ACCOUNT' | 'SET_ROLE';

/** The roles `setRole` grants (ADMIN comes from ADMIN_USERNAMES only). */
export type GrantedRole = 'USER' | 'MODERATOR';

/**
 * A report, in `reports` (inserts only). `key` is `<reporter>:<kind>:<target>:<round>`, unique:
 * a reporter has at most one report on a target per round, and a round ends when a moderator
 * resolves the target's reports (the next report opens the next round).
 */
export interface ReportRecord {
  _id: Types.ObjectId;
  key: string;
  reporterId: Types.ObjectId;
  targetKind: ReportTargetKind;
  targetId: Types.ObjectId;
  /** The account behind the target: the truth's author, or the reported account itself. */
  accountId: Types.ObjectId;
  round: number;
  reason: ReportReason;
  note: string;
  createdAt: Date;
}

const reportSchema = new Schema<ReportRecord>(
  {
    key: { type: String, required: true },
    reporterId: { type: Schema.Types.ObjectId, required: true },
    targetKind: { type: String, enum: ['TRUTH', 'USER'], required: true },
    targetId: { type: Schema.Types.ObjectId, required: true },
    accountId: { type: Schema.Types.ObjectId, required: true },
    round: { type: Number, required: true },
    reason: { type: String, enum: reportReasons, required: true },
    note: { type: String, default: '' },
    createdAt: { type: Date, required: true },
  },
  { collection: 'reports', versionKey: false },
);
// Decides "one open report per reporter and target"; read only in the recovery of a report
// whose effects a dead process left unfinished.
reportSchema.index({ key: 1 }, { unique: true });

/**
 * One moderation action, in `moderation_actions` (inserts only): the audit log, and the facts
 * that suspensions, roles and report resolutions are rebuilt from. `key` is unique: a
 * resolution's is `res:<kind>:<target>:<round>` (a round is resolved once), every other
 * action's its own id.
 */
export interface ModerationActionRecord {
  _id: Types.ObjectId;
  key: string;
  actorId: Types.ObjectId;
  action: ModerationActionKind;
  /** The account acted on (a suspension, a role; the author of a truth or reported account). */
  userId: Types.ObjectId | null;
  /** The truth acted on (a removal, a resolution of a truth's reports). */
  truthId: Types.ObjectId | null;
  /** A resolution: the target and round it closes, and how. */
  targetKind: ReportTargetKind | null;
  round: number | null;
  resolution: ReportResolution | null;
  /** The report a resolution was made from, and its reason. */
  reportId: Types.ObjectId | null;
  reason: ReportReason | null;
  role: GrantedRole | null;
  note: string;
  at: Date;
}

const actionSchema = new Schema<ModerationActionRecord>(
  {
    key: { type: String, required: true },
    actorId: { type: Schema.Types.ObjectId, required: true },
    action: { type: String, required: true },
    userId: { type: Schema.Types.ObjectId, default: null },
    truthId: { type: Schema.Types.ObjectId, default: null },
    targetKind: { type: String, default: null },
    round: { type: Number, default: null },
    resolution: { type: String, default: null },
    reportId: { type: Schema.Types.ObjectId, default: null },
    reason: { type: String, default: null },
    role: { type: String, default: null },
    note: { type: String, default: '' },
    at: { type: Date, required: true },
  },
  { collection: 'moderation_actions', versionKey: false },
);
actionSchema.index({ key: 1 }, { unique: true });

export type ReportModel = Model<ReportRecord>;
export type ModerationActionModel = Model<ModerationActionRecord>;

export function createReportModel(connection: Connection): ReportModel {
  return connection.model<ReportRecord>('Report', reportSchema);
}

export function createModerationActionModel(connection: Connection): ModerationActionModel {
  return connection.model<ModerationActionRecord>('ModerationAction', actionSchema);
}
