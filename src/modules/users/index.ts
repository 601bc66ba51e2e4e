/**
 * The users module's face: accounts, sessions and profiles. Owns `users` and `user_changes`,
 * and the read model's `user:*`, `uname`, `uemail`, `cred` and `user:seq` keys.
 */
export type { UserTopics } from './user.events.js';
export {
  createUserChangeModel,
  createUserModel,
  type UserRecord,
  type UserRole,
} from './user.model.js';
export { userResolvers } from './user.resolvers.js';
export {
  createUserService,
  type NewAccount,
  type SessionResult,
  type UserService,
  type Viewer,
} from './user.service.js';
export { createUserStore, type UserStore } from './user.store.js';
export {
  normalizeEmail,
  usernameKeyOf,
  validateDisplayName,
  validateUsername,
} from './user.validation.js';
export { fromUserWire, toUserWire, type UserWire } from './user.wire.js';
