import { Schema, type Connection, type Model, type Types } from 'mongoose';

export type NotificationKind =
  'FOLLOWED' | 'REACTED' | 'REPLIED' | 'RETRUTHED' | 'QUOTED' | 'MENTIONED' | 'ADMITTED';

/** One notification for one user, in `notifications`. Inserted once, never changed. */
export interface NotificationRecord {
  _id: Types.ObjectId;
  userId: Types.ObjectId;
  kind: NotificationKind;
  actorId: Types.ObjectId;
  truthId: Types.ObjectId | null;
  /** ADMITTED: the waitlist ticket that was admitted. */
  ticket?: number | null;
  createdAt: Date;
  /** Whether it is read lives in the read model (and `notification_reads`): set when shown. */
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

export type NotificationModel = Model<NotificationRecord>;

export function createNotificationModel(connection: Connection): NotificationModel {
  return connection.model<NotificationRecord>('Notification', notificationSchema);
}

/**
 * A user marking notifications read, in `notification_reads`: the given ones, or (`ids` null)
 * every one created up to `at`. Inserted, never applied in place: on the embedded database an
 * update reads the whole collection.
 */
export interface NotificationReadRecord {
  _id: Types.ObjectId;
  userId: Types.ObjectId;
  ids: Types.ObjectId[] | null;
  at: Date;
}

const notificationReadSchema = new Schema<NotificationReadRecord>(
  {
    userId: { type: Schema.Types.ObjectId, required: true },
    ids: { type: [Schema.Types.ObjectId], default: null },
    at: { type: Date, required: true },
  },
  { collection: 'notification_reads', versionKey: false },
);

export type NotificationReadModel = Model<NotificationReadRecord>;

export function createNotificationReadModel(connection: Connection): NotificationReadModel {
  return connection.model<NotificationReadRecord>('NotificationRead', notificationReadSchema);
}
