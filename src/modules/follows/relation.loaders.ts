import DataLoader from 'dataloader';
import { objectId } from '../../lib/ids.js';
import type { RelationFlags } from './relation.service.js';
import type { RelationModel, RelationRecord } from './relation.model.js';

const none: RelationFlags = { following: false, followedBy: false, blocking: false, muting: false };

/**
 * A viewer's relations to a user (following, followed by, blocking, muting), by
 * `<viewerId>:<userId>`, for any number of viewers at once: one query per batch.
 */
export function createRelationFlagsByViewerLoader(
  Relation: RelationModel,
  options: { cache: boolean },
) {
  return new DataLoader<string, RelationFlags>(
    async (keys) => {
      const pairs = keys.map((key) => key.split(':') as [string, string]);
      const viewers = [...new Set(pairs.map(([viewer]) => viewer))].map(objectId);
      const others = [...new Set(pairs.map(([, other]) => other))].map(objectId);
      const rows = await Relation.find(
        {
          $or: [
            { fromId: { $in: viewers }, toId: { $in: others } },
            { fromId: { $in: others }, toId: { $in: viewers }, kind: 'follow' },
          ],
        },
        { fromId: 1, toId: 1, kind: 1 },
      )
        .lean<Pick<RelationRecord, 'fromId' | 'toId' | 'kind'>[]>()
        .exec();
      const flags = new Map<string, RelationFlags>();
      const entry = (key: string) => {
        let value = flags.get(key);
        if (!value) {
          value = { ...none };
          flags.set(key, value);
        }
        return value;
      };
      for (const row of rows) {
        const from = row.fromId.toHexString();
        const to = row.toId.toHexString();
        // As seen by `from`: its own follow, block or mute of `to`.
        if (row.kind === 'follow') entry(`${from}:${to}`).following = true;
        if (row.kind === 'block') entry(`${from}:${to}`).blocking = true;
        if (row.kind === 'mute') entry(`${from}:${to}`).muting = true;
        // As seen by `to`: followed by `from`.
        if (row.kind === 'follow') entry(`${to}:${from}`).followedBy = true;
      }
      return keys.map((key) => flags.get(key) ?? none);
    },
    { cache: options.cache, maxBatchSize: 500 },
  );
}
