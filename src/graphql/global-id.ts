import type { Types } from 'mongoose';
import { badUserInput } from '../lib/errors.js';
import { opaqueId } from '../lib/ids.js';

/**
 * The types whose IDs `node(id:)` can resolve. A TruthCounts' ID holds its truth's id. A Media
 * ID names an upload (`createMediaUpload`, `postTruth`'s `media`); `node` resolves it to null:
 * an attachment is read through its truth.
 */
export type NodeType = 'User' | 'Truth' | 'TruthCounts' | 'Notification' | 'Media';

const nodeTypes: ReadonlySet<string> = new Set<NodeType>([
  'User',
  'Truth',
  'TruthCounts',
  'Notification',
  'Media',
]);

/** An opaque global ID: base64url of `Type:hex`. Clients must not parse it. */
export function toGlobalId(type: NodeType, id: string | Types.ObjectId): string {
  return opaqueId(`${type}:${String(id)}`);
}

/** The type and ObjectId hex of a global ID, or null when it is not one of Verity's. */
export function fromGlobalId(globalId: string): { type: NodeType; id: string } | null {
  const decoded = Buffer.from(globalId, 'base64url').toString('utf8');
  const separator = decoded.indexOf(':');
  if (separator < 0) return null;
  const type = decoded.slice(0, separator);
  const id = decoded.slice(separator + 1);
  if (!nodeTypes.has(type) || !/^[0-9a-f]{24}$/.test(id)) return null;
  return { type: type as NodeType, id };
}

/**
 * The ObjectId hex of a global ID that must name a `type`; BAD_USER_INPUT (naming `field`)
 * for anything else, so a User ID passed as a truth is refused before any lookup.
 */
export function expectGlobalId(globalId: string, type: NodeType, field: string): string {
  const parsed = fromGlobalId(globalId);
  if (!parsed || parsed.type !== type) {
    throw badUserInput(`${field} must be the ID of a ${type}.`, field);
  }
  return parsed.id;
}
