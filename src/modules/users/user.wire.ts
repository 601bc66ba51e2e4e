import { objectId } from '../../lib/ids.js';
import type { UserRecord } from './user.model.js';

/** A user's public fields as they travel in events (JSON): no email, no password hash. */
export interface UserWire {
  id: string;
  username: string;
  usernameKey: string;
  displayName: string;
  bio: string;
  avatarUrl: string | null;
  createdAt: string;
  updatedAt: string;
}

export function toUserWire(user: UserRecord): UserWire {
  return {
    id: user._id.toHexString(),
    username: user.username,
    usernameKey: user.usernameKey,
    displayName: user.displayName,
    bio: user.bio,
    avatarUrl: user.avatarUrl,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

/**
 * Back to the record shape resolvers take. Events carry no email (empty here) and no role; the
 * read model's entries pass theirs (built in one literal: spreading a record to override two
 * fields costs several times the decoding itself).
 */
export function fromUserWire(
  wire: UserWire,
  email = '',
  role: UserRecord['role'] = 'user',
): UserRecord {
  return {
    _id: objectId(wire.id),
    username: wire.username,
    usernameKey: wire.usernameKey,
    email,
    displayName: wire.displayName,
    bio: wire.bio,
    avatarUrl: wire.avatarUrl,
    role,
    createdAt: new Date(wire.createdAt),
    updatedAt: new Date(wire.updatedAt),
  };
}
