import { Types } from 'mongoose';

/** True for a 24-character lower-case hex ObjectId. */
export const isObjectIdHex = (value: string) => /^[0-9a-f]{24}$/.test(value);

/** The ObjectId for a hex string already validated by `isObjectIdHex`. */
export const objectId = (hex: string) => new Types.ObjectId(hex);

/** Hex strings of ObjectIds: DataLoader and Map keys must be strings, not ObjectId instances. */
export const hexOf = (id: Types.ObjectId) => id.toHexString();

/**
 * base64url of a string (UTF-8), remembered for the most recent inputs: every feed page encodes
 * the global IDs and cursors of the same hot truths and authors again and again.
 */
export const opaqueId = (() => {
  const remembered = new Map<string, string>();
  const max = 100_000;
  return (plain: string): string => {
    let encoded = remembered.get(plain);
    if (encoded === undefined) {
      // Cleared wholesale past the bound: the hot inputs come back on their next use.
      if (remembered.size >= max) remembered.clear();
      encoded = Buffer.from(plain).toString('base64url');
      remembered.set(plain, encoded);
    }
    return encoded;
  };
})();
