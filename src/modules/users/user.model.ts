import { Schema, type Connection, type Model, type Types } from 'mongoose';

export type UserRole = 'user' | 'admin';

/**
 * A user as stored in `users`. The private fields (email, passwordHash) live on the same
 * document so that sign-up is one insert guarded by two unique indexes; loaders leave
 * `passwordHash` out and the GraphQL layer shows `email` only to its owner.
 */
export interface UserRecord {
  _id: Types.ObjectId;
  /** As chosen, with its original case. */
  username: string;
  /** Lower-cased username: uniqueness regardless of case. */
  usernameKey: string;
  /** Normalised: trimmed and lower-cased. */
  email: string;
  passwordHash?: string;
  displayName: string;
  bio: string;
  avatarUrl: string | null;
  role: UserRole;
  createdAt: Date;
  updatedAt: Date;
}

export const userSchema = new Schema<UserRecord>(
  {
    username: { type: String, required: true },
    usernameKey: { type: String, required: true },
    email: { type: String, required: true },
    passwordHash: { type: String, required: true },
    displayName: { type: String, required: true },
    bio: { type: String, default: '' },
    avatarUrl: { type: String, default: null },
    role: { type: String, enum: ['user', 'admin'], default: 'user' },
  },
  { collection: 'users', timestamps: true, versionKey: false },
);
// Uniqueness is decided by these indexes on insert: a taken name or email fails fast (E11000)
// whatever the size of the collection.
userSchema.index({ usernameKey: 1 }, { unique: true });
userSchema.index({ email: 1 }, { unique: true });

export type UserModel = Model<UserRecord>;

export function createUserModel(connection: Connection): UserModel {
  return connection.model<UserRecord>('User', userSchema);
}

/** The profile fields a user can change. */
export type ProfileField = 'displayName' | 'bio' | 'avatarUrl';

/**
 * One change of a profile, in `user_changes`: the fields it set, each winning over any change
 * with a lower `version` (a number from the users' Redis sequence, taken before the insert).
 * Changes are inserted, never applied to `users` in place: on the embedded database an update
 * reads the whole collection.
 */
export interface UserChangeRecord {
  _id: Types.ObjectId;
  userId: Types.ObjectId;
  version: number;
  set: Partial<Pick<UserRecord, ProfileField>>;
  at: Date;
}

const userChangeSchema = new Schema<UserChangeRecord>(
  {
    userId: { type: Schema.Types.ObjectId, required: true },
    version: { type: Number, required: true },
    set: { type: Schema.Types.Mixed, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'user_changes', versionKey: false },
);

export type UserChangeModel = Model<UserChangeRecord>;

export function createUserChangeModel(connection: Connection): UserChangeModel {
  return connection.model<UserChangeRecord>('UserChange', userChangeSchema);
}
