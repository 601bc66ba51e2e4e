import { Schema, type Connection, type Model, type Types } from 'mongoose';

export type NotificationKind =
  'FOLLOWED' | 'REACTED' | 'REPLIED' | 'RETRUTHED' | 'QUOTED' | 'MENTIONED' | 'ADMITTED';

/** One notification for one user, in `notifications`. */
export interface NotificationRecord {
  _id: Types.ObjectId;
  userId: Types.ObjectId;
  kind: NotificationKind;
  actorId: Types.ObjectId;
  truthId: Types.ObjectId | null;
  /** ADMITTED: the waitlist ticket that was admitted. */
  ticket?: number | null;
  createdAt: Date;
  readAt: Date | null;
}

export const notificationSchema = new Schema<NotificationRecord>(
  {
    userId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, required: true },
    actorId: { type: Schema.Types.ObjectId, required: true },
    truthId: { type: Schema.Types.ObjectId, default: null },
    ticket: { type: Number, default: null },
    createdAt: { type: Date, required: true },
    readAt: { type: Date, default: null },
  },
  { collection: 'notifications', versionKey: false },
);
// A user's notifications newest first, and their unread ones.
notificationSchema.index({ userId: 1, _id: -1 });
notificationSchema.index({ userId: 1, readAt: 1 });

export type NotificationModel = Model<NotificationRecord>;

export function createNotificationModel(connection: Connection): NotificationModel {
  return connection.model<NotificationRecord>('Notification', notificationSchema);
}
