import type { UserWire } from './user.wire.js';

/** Events the users module publishes; the key of each is the user's id (hex). */
export interface UserTopics {
  /** The profile changed; the event carries it, so subscribers read nothing. */
  userUpdated: { user: UserWire };
}
