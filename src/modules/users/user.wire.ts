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

/** Back to the record shape resolvers take; `email` is empty (never sent in events). */
export function fromUserWire(wire: UserWire): UserRecord {
  return {
    _id: objectId(wire.id),
    username: wire.username,
    usernameKey: wire.usernameKey,
    email: '',
    displayName: wire.displayName,
    bio: wire.bio,
    avatarUrl: wire.avatarUrl,
    role: 'user',
    createdAt: new Date(wire.createdAt),
    updatedAt: new Date(wire.updatedAt),
  };
}
