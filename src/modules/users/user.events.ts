import type { UserWire } from './user.wire.js';

/** Events the users module publishes; the key of each is the user's id (hex). */
export interface UserTopics {
  /** The profile changed; the event carries it, so subscribers read nothing. */
  userUpdated: { user: UserWire };
  /**
   * Sessions of the user were ended: one (`sessionId`), or every one issued before `before`
   * (ms). Instances close the sockets those sessions opened.
   */
  sessionsRevoked: { sessionId: string | null; before: number | null };
}
