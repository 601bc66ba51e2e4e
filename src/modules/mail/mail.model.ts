import { Schema, type Connection, type Model, type Types } from 'mongoose';

/** What a message is about; templates live in mail.service.ts. */
export type MailKind = 'waitlist-ticket' | 'waitlist-ticket-again' | 'waitlist-account-exists';

/**
 * One message waiting to be delivered, in `mail_outbox`. Verity only ever inserts here: a mail
 * relay (or a test) reads the outbox and delivers. `data` holds the template's values, so a
 * reader need not parse the text.
 */
export interface MailRecord {
  _id: Types.ObjectId;
  /** A normalised email address. */
  to: string;
  kind: MailKind;
  subject: string;
  text: string;
  data: Record<string, string | number>;
  createdAt: Date;
}

const mailSchema = new Schema<MailRecord>(
  {
    to: { type: String, required: true },
    kind: { type: String, required: true },
    subject: { type: String, required: true },
    text: { type: String, required: true },
    data: { type: Schema.Types.Mixed, default: {} },
    createdAt: { type: Date, required: true },
  },
  { collection: 'mail_outbox', versionKey: false },
);
// A relay delivers in order of arrival; a mailbox's messages, newest first.
mailSchema.index({ to: 1, _id: -1 });

export type MailModel = Model<MailRecord>;

export function createMailModel(connection: Connection): MailModel {
  return connection.model<MailRecord>('Mail', mailSchema);
}
