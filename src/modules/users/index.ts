/**
 * The users module's face: accounts, sessions and profiles. Owns `users`, `user_changes` and
 * `session_revocations`, and the read model's `user:{<id>}`, `cred:{<id>}`, `uname`, `uemail`,
 * `user:seq` and `rev:*` keys.
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
  type UserHooks,
  type UserService,
  type Viewer,
  type ViewerSession,
} from './user.service.js';
export {
  createSessionRevocationModel,
  createSessionStore,
  type SessionStore,
} from './user.sessions.js';
export { createUserStore, type UserStore } from './user.store.js';
export {
  loginKeyOf,
  normalizeEmail,
  usernameKeyOf,
  validateNewAccount,
  validateUsername,
} from './user.validation.js';
export { fromUserWire, toUserWire, type UserWire } from './user.wire.js';
