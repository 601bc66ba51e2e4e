import type { NotificationKind } from './notification.model.js';

/** A notification as it travels in events (JSON). */
export interface NotificationWire {
  id: string;
  userId: string;
  kind: NotificationKind;
  actorId: string;
  truthId: string | null;
  ticket?: number | null;
  createdAt: string;
}

/** Events of the notifications module; the key is the recipient's id. */
export interface NotificationTopics {
  notificationReceived: NotificationWire;
}
