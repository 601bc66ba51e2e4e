import { objectId } from '../../lib/ids.js';
import type { AttachedMedia } from '../media/index.js';
import type { TruthKind, TruthRecord } from './truth.model.js';

/** A truth as it travels in events (JSON). */
export interface TruthWire {
  id: string;
  authorId: string;
  kind: TruthKind;
  text: string;
  hashtags: string[];
  mentionIds: string[];
  replyToId: string | null;
  ancestorIds: string[];
  quoteOfId: string | null;
  retruthOfId: string | null;
  createdAt: string;
  deletedAt: string | null;
  /** Only for an edited truth. */
  editedAt?: string;
  revision?: number;
  /** Absent when the truth has none. */
  media?: AttachedMedia[];
}

const hexOrNull = (id: TruthRecord['replyToId']) => (id ? id.toHexString() : null);
const idOrNull = (hex: string | null) => (hex ? objectId(hex) : null);

export function toTruthWire(truth: TruthRecord): TruthWire {
  return {
    id: truth._id.toHexString(),
    authorId: truth.authorId.toHexString(),
    kind: truth.kind,
    text: truth.text,
    hashtags: truth.hashtags,
    mentionIds: truth.mentionIds.map((id) => id.toHexString()),
    replyToId: hexOrNull(truth.replyToId),
    ancestorIds: truth.ancestorIds.map((id) => id.toHexString()),
    quoteOfId: hexOrNull(truth.quoteOfId),
    retruthOfId: hexOrNull(truth.retruthOfId),
    createdAt: truth.createdAt.toISOString(),
    deletedAt: truth.deletedAt ? truth.deletedAt.toISOString() : null,
    ...(truth.editedAt
      ? { editedAt: truth.editedAt.toISOString(), revision: truth.revision ?? 0 }
      : {}),
    ...(truth.media?.length ? { media: truth.media } : {}),
  };
}

export function fromTruthWire(wire: TruthWire): TruthRecord {
  return {
    _id: objectId(wire.id),
    authorId: objectId(wire.authorId),
    kind: wire.kind,
    text: wire.text,
    hashtags: wire.hashtags,
    mentionIds: wire.mentionIds.map(objectId),
    replyToId: idOrNull(wire.replyToId),
    ancestorIds: wire.ancestorIds.map(objectId),
    quoteOfId: idOrNull(wire.quoteOfId),
    retruthOfId: idOrNull(wire.retruthOfId),
    createdAt: new Date(wire.createdAt),
    deletedAt: wire.deletedAt ? new Date(wire.deletedAt) : null,
    ...(wire.editedAt ? { editedAt: new Date(wire.editedAt), revision: wire.revision ?? 0 } : {}),
    ...(wire.media?.length ? { media: wire.media } : {}),
  };
}
