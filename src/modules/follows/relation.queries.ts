import { objectId } from '../../lib/ids.js';
import type { RelationModel, RelationRecord } from './relation.model.js';

/** Ids (hex) of the users `userId` follows. */
export async function followeeIdsOf(Relation: RelationModel, userId: string): Promise<string[]> {
  const rows = await Relation.find({ fromId: objectId(userId), kind: 'follow' }, { toId: 1 })
    .lean<Pick<RelationRecord, 'toId'>[]>()
    .exec();
  return rows.map((row) => row.toId.toHexString());
}

/**
 * Whose truths `userId` must not see: the users they block or mute, and those who block them.
 * One query.
 */
export async function hiddenAuthorIdsOf(
  Relation: RelationModel,
  userId: string,
): Promise<Set<string>> {
  const id = objectId(userId);
  const rows = await Relation.find(
    {
      $or: [
        { fromId: id, kind: { $in: ['block', 'mute'] } },
        { toId: id, kind: 'block' },
      ],
    },
    { fromId: 1, toId: 1 },
  )
    .lean<Pick<RelationRecord, 'fromId' | 'toId'>[]>()
    .exec();
  return new Set(rows.map((row) => (row.fromId.equals(id) ? row.toId : row.fromId).toHexString()));
}

/** Ids (hex) of the users who follow `userId`. */
export async function followerIdsOf(Relation: RelationModel, userId: string): Promise<string[]> {
  const rows = await Relation.find({ toId: objectId(userId), kind: 'follow' }, { fromId: 1 })
    .lean<Pick<RelationRecord, 'fromId'>[]>()
    .exec();
  return rows.map((row) => row.fromId.toHexString());
}
