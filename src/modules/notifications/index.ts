/**
 * The notifications module's face. Owns `notifications` and `notification_reads`, and the
 * read model's `ntf:*`, `nl:*` and `nu:*` keys, each tagged with its recipient's id.
 */
export type { NotificationTopics } from './notification.events.js';
export {
  createNotificationModel,
  createNotificationReadModel,
  type NotificationRecord,
} from './notification.model.js';
export {
  notificationResolvers,
  type NotificationConnectionView,
} from './notification.resolvers.js';
export {
  createNotificationService,
  type NewNotification,
  type NotificationService,
} from './notification.service.js';
export { createNotificationStore, type NotificationStore } from './notification.store.js';
