import { Types } from 'mongoose';
import type { Logger } from '../../infra/logger.js';
import { createInserter } from '../../infra/mongo.js';
import type { MailKind, MailModel, MailRecord } from './mail.model.js';

/** A message to send: the recipient and the template's values. */
export type Mail =
  | { kind: 'waitlist-ticket'; to: string; ticket: number; username: string; ticketToken: string }
  | {
      kind: 'waitlist-ticket-again';
      to: string;
      ticket: number;
      username: string;
      ticketToken: string;
    }
  | { kind: 'waitlist-account-exists'; to: string };

const templates: { [K in MailKind]: (mail: Extract<Mail, { kind: K }>) => [string, string] } = {
  'waitlist-ticket': (mail) => [
    `Your place on the Verity waitlist: ticket ${mail.ticket}`,
    `You joined the Verity waitlist as @${mail.username} with ticket ${mail.ticket}.\n\n` +
      `Your ticket token proves this place is yours; keep it private:\n\n${mail.ticketToken}\n\n` +
      'Watch your position with it, and use it to finish signing up once you are admitted.',
  ],
  'waitlist-ticket-again': (mail) => [
    `Your Verity waitlist ticket ${mail.ticket}, again`,
    `Someone (hopefully you) asked to join the Verity waitlist again with this address. ` +
      `Your place is unchanged: ticket ${mail.ticket}, as @${mail.username}.\n\n` +
      `Your ticket token; keep it private:\n\n${mail.ticketToken}`,
  ],
  'waitlist-account-exists': () => [
    'You already have a Verity account',
    'Someone (hopefully you) asked to join the Verity waitlist with this address, which ' +
      'already belongs to a Verity account: sign in with it instead. A waitlist place cannot ' +
      'make a second account for one address.',
  ],
};

/**
 * Outgoing email, through an outbox: each message is one insert into `mail_outbox` (grouped
 * with others under load), which a mail relay drains. The only way Verity hands a secret (a
 * ticket token) to the owner of an address rather than to whoever asked.
 */
export function createMailService(deps: { Mail: MailModel; logger: Logger }) {
  const { Mail, logger } = deps;
  const inserts = createInserter<MailRecord>(Mail.collection);
  return {
    async send(mail: Mail): Promise<void> {
      const [subject, text] = (templates[mail.kind] as (m: Mail) => [string, string])(mail);
      const { kind, to, ...data } = mail;
      const record: MailRecord = {
        _id: new Types.ObjectId(),
        to,
        kind,
        subject,
        text,
        data,
        createdAt: new Date(),
      };
      await inserts.insert(record);
      logger.info({ kind, mailId: record._id.toHexString() }, 'mail queued');
    },
  };
}

export type MailService = ReturnType<typeof createMailService>;
