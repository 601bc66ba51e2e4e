import { createHashMirror } from '../../infra/hash-mirror.js';
import type { Logger } from '../../infra/logger.js';
import type { RedisClients } from '../../infra/redis.js';
import type { RelationModel } from './relation.model.js';
import { followeeIdsOf, followerIdsOf, hiddenAuthorIdsOf } from './relation.queries.js';

/** What feeds need of a viewer's relations on every page. */
export interface RelationSnapshot {
  followees: string[];
  /** Authors the viewer blocks or mutes, or who block the viewer. */
  hidden: Set<string>;
}

/**
 * Each viewer's followees and hidden authors, mirrored in Redis (see infra/hash-mirror.ts) so a
 * feed page reads them in one round trip. Any relation change invalidates the snapshots of the
 * users it concerns; the next read rebuilds from MongoDB, exactly.
 */
export function createRelationSnapshots(deps: {
  redis: RedisClients;
  Relation: RelationModel;
  logger: Logger;
}) {
  const mirror = createHashMirror({
    redis: deps.redis,
    logger: deps.logger,
    family: 'rel',
    ttlSeconds: 3_600,
    async load(userId) {
      const [followees, hidden] = await Promise.all([
        followeeIdsOf(deps.Relation, userId),
        hiddenAuthorIdsOf(deps.Relation, userId),
      ]);
      const fields = new Map<string, string>();
      for (const id of followees) fields.set(`f:${id}`, '1');
      for (const id of hidden) fields.set(`h:${id}`, '1');
      return fields;
    },
  });
  return {
    async get(userId: string): Promise<RelationSnapshot> {
      const snapshot: RelationSnapshot = { followees: [], hidden: new Set() };
      for (const field of (await mirror.getAll(userId)).keys()) {
        if (field.startsWith('f:')) snapshot.followees.push(field.slice(2));
        else if (field.startsWith('h:')) snapshot.hidden.add(field.slice(2));
      }
      return snapshot;
    },
    /** Call after a relation change, for every user it concerns. */
    invalidate: (...userIds: string[]) =>
      Promise.all(userIds.map((id) => mirror.invalidate(id))).then(() => undefined),
  };
}

export type RelationSnapshots = ReturnType<typeof createRelationSnapshots>;

/**
 * Each account's followers, mirrored in Redis (see infra/hash-mirror.ts) for fan-out on write,
 * which reads them on every post. Only accounts below the whale threshold are ever read (whales
 * are not fanned out), so a mirror holds at most that many followers. Each follow change is
 * applied exactly; a lost mirror is rebuilt from MongoDB on the next post.
 */
export function createFollowerMirror(deps: {
  redis: RedisClients;
  Relation: RelationModel;
  logger: Logger;
}) {
  const mirror = createHashMirror({
    redis: deps.redis,
    logger: deps.logger,
    family: 'fol',
    ttlSeconds: 24 * 3_600,
    async load(userId) {
      const followers = await followerIdsOf(deps.Relation, userId);
      return new Map(followers.map((id) => [id, '1']));
    },
  });
  return {
    async followerIds(userId: string): Promise<string[]> {
      return [...(await mirror.getAll(userId)).keys()];
    },
    /** Call after the follow was written to (or deleted from) MongoDB. */
    changed: (followeeId: string, followerId: string, following: boolean) =>
      mirror.set(followeeId, followerId, following ? '1' : null),
  };
}

export type FollowerMirror = ReturnType<typeof createFollowerMirror>;
