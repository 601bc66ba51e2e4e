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
  /**
   * Set (for good) once the user's followers reach the whale threshold: their truths are no
   * longer fanned out but merged into followers' home feeds when read (see feeds/).
   */
  isWhale?: boolean;
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
    isWhale: { type: Boolean, default: false },
  },
  { collection: 'users', timestamps: true, versionKey: false },
);
userSchema.index({ usernameKey: 1 }, { unique: true });
userSchema.index({ email: 1 }, { unique: true });
// Which of a viewer's followees are whales (home feed merge).
userSchema.index({ isWhale: 1 });

export type UserModel = Model<UserRecord>;

export function createUserModel(connection: Connection): UserModel {
  return connection.model<UserRecord>('User', userSchema);
}

/** Projection for everything but the password hash. */
export const publicUserFields = { passwordHash: 0 } as const;
