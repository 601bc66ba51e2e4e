/** The mail module's face: the outbox (`mail_outbox`). */
export { createMailModel, type MailKind, type MailModel, type MailRecord } from './mail.model.js';
export { createMailService, type Mail, type MailService } from './mail.service.js';
