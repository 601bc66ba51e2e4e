import { Types } from 'mongoose';

/** True for a 24-character lower-case hex ObjectId. */
export const isObjectIdHex = (value: string) => /^[0-9a-f]{24}$/.test(value);

/** The ObjectId for a hex string already validated by `isObjectIdHex`. */
export const objectId = (hex: string) => new Types.ObjectId(hex);

/** Hex strings of ObjectIds: DataLoader and Map keys must be strings, not ObjectId instances. */
export const hexOf = (id: Types.ObjectId) => id.toHexString();
