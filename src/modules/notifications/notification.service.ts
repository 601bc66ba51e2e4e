import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import type { Effects } from '../../infra/effects.js';
import type { Logger } from '../../infra/logger.js';
import { createInserter, insertResolved } from '../../infra/mongo.js';
import type { EventBus } from '../../infra/pubsub.js';
import { SlowConsumerError, isDuplicateKeyError } from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import type { HookEffect } from '../../lib/hooks.js';
import { objectId } from '../../lib/ids.js';
import type { RelationHooks, RelationService } from '../follows/index.js';
import type { ReactionHooks } from '../reactions/index.js';
import type { TruthEditHooks, TruthHooks } from '../truths/index.js';
import type { NotificationTopics, NotificationWire } from './notification.events.js';
import type {
  NotificationKind,
  NotificationModel,
  NotificationReadModel,
  NotificationReadRecord,
  NotificationRecord,
} from './notification.model.js';
import type { NotificationStore } from './notification.store.js';

export interface NewNotification {
  kind: NotificationKind;
  /** The recipient. */
  userId: string;
  actorId: string;
  truthId?: string | null;
}

/** The fact a notification comes from: a name for it, and when it happened. */
export interface Origin {
  /** For example `truth:<id>`: the same for every run of the fact's effects. */
  fact: string;
  at: Date;
}

/**
 * The id of a notification, derived from the fact that caused it, its recipient and kind, so
 * recording it again (the effects of a write run again after a failure) is refused by MongoDB
 * instead of notifying twice. It begins with the time of the fact (seconds, like any ObjectId,
 * then milliseconds), so notifications still sort newest first.
 */
function notificationId(fact: string, recipient: string, kind: NotificationKind, at: Date) {
  const bytes = Buffer.alloc(12);
  const ms = at.getTime();
  bytes.writeUInt32BE(Math.floor(ms / 1000), 0);
  bytes.writeUInt16BE(ms % 1000, 4);
  createHash('sha256').update(`${fact}|${recipient}|${kind}`).digest().copy(bytes, 6, 0, 6);
  return new Types.ObjectId(bytes);
}

const toWire = (record: NotificationRecord): NotificationWire => ({
  id: record._id.toHexString(),
  userId: record.userId.toHexString(),
  kind: record.kind,
  actorId: record.actorId.toHexString(),
  truthId: record.truthId?.toHexString() ?? null,
  ticket: record.ticket ?? null,
  createdAt: record.createdAt.toISOString(),
});

const fromWire = (wire: NotificationWire): NotificationRecord => ({
  _id: objectId(wire.id),
  userId: objectId(wire.userId),
  kind: wire.kind,
  actorId: objectId(wire.actorId),
  truthId: wire.truthId ? objectId(wire.truthId) : null,
  ticket: wire.ticket ?? null,
  createdAt: new Date(wire.createdAt),
  readAt: null,
});

/**
 * Notifications: stored in MongoDB (inserts only), kept in the read model
 * (notification.store.ts), announced live to the recipient. They follow the other modules'
 * writes through their hooks (a follow, a reaction, a reply, quote, mention or retruth).
 * Nobody is notified of their own actions, nor of the actions of someone they block or mute,
 * or who blocks them. Recording is idempotent per fact (see `notificationId`).
 */
export function createNotificationService(deps: {
  Notification: NotificationModel;
  NotificationRead: NotificationReadModel;
  store: NotificationStore;
  relations: RelationService;
  effects: Effects;
  bus: EventBus<NotificationTopics>;
  logger: Logger;
}) {
  const { Notification, NotificationRead, store, relations, effects, bus } = deps;

  const inserts = createInserter(Notification.collection);
  const readInserts = createInserter(NotificationRead.collection);

  // One object per event for all of a user's connections, so the live hub executes it once.
  const records = new WeakMap<NotificationWire, NotificationRecord>();
  const recordOf = (wire: NotificationWire) => {
    let record = records.get(wire);
    if (!record) {
      record = fromWire(wire);
      records.set(wire, record);
    }
    return record;
  };

  /**
   * Inserts notifications, adds them to the read model and announces each to its recipient;
   * one already stored (by an earlier run of the same effects) is neither stored nor
   * announced again.
   */
  const record = async (notifications: NotificationRecord[]): Promise<void> => {
    if (notifications.length === 0) return;
    await Promise.all(
      notifications.map((n) =>
        inserts.insert(n).catch((error: unknown) => {
          if (!isDuplicateKeyError(error)) throw error;
        }),
      ),
    );
    const added = await store.add(notifications);
    await Promise.all(
      added.map((n) => bus.publish('notificationReceived', n.userId.toHexString(), toWire(n))),
    );
  };

  const notifyAll = async (list: readonly NewNotification[], origin: Origin): Promise<void> => {
    const records: NotificationRecord[] = [];
    for (const n of list) {
      if (n.userId === n.actorId) continue;
      // The recipient's hidden authors: those they block or mute, and those who block them.
      if ((await relations.snapshot(n.userId)).hidden.has(n.actorId)) continue;
      records.push({
        _id: notificationId(origin.fact, n.userId, n.kind, origin.at),
        userId: objectId(n.userId),
        kind: n.kind,
        actorId: objectId(n.actorId),
        truthId: n.truthId ? objectId(n.truthId) : null,
        createdAt: origin.at,
        readAt: null,
      });
    }
    await record(records);
  };

  // A process that died between storing a read and applying it left its journal entry.
  effects.recover('read', async (readId) => {
    const read = await NotificationRead.findById(objectId(readId))
      .lean<NotificationReadRecord>()
      .exec();
    if (read) await effects.apply(`read:${readId}`, [() => store.read(read).then(() => undefined)]);
  });

  return {
    notifyAll,

    /** What a stored truth notifies: its parent's, quoted's or original's author, mentions. */
    afterTruthStored: (stored: TruthHooks['truthStored']): HookEffect[] => {
      const { truth, parent, quoted, original } = stored;
      const actorId = truth.authorId.toHexString();
      const truthId = truth._id.toHexString();
      const list: NewNotification[] = [];
      if (original) {
        const originalId = original._id.toHexString();
        list.push({
          kind: 'RETRUTHED',
          userId: original.authorId.toHexString(),
          actorId,
          truthId: originalId,
        });
      }
      if (parent)
        list.push({ kind: 'REPLIED', userId: parent.authorId.toHexString(), actorId, truthId });
      if (quoted)
        list.push({ kind: 'QUOTED', userId: quoted.authorId.toHexString(), actorId, truthId });
      const notified = new Set(list.map((n) => n.userId));
      for (const mentioned of truth.mentionIds) {
        if (!notified.has(mentioned.toHexString())) {
          list.push({ kind: 'MENTIONED', userId: mentioned.toHexString(), actorId, truthId });
        }
      }
      return [() => notifyAll(list, { fact: stored.fact, at: truth.createdAt })];
    },

    /**
     * Users an edit mentions for the first time are told as a post would tell them; one
     * mentioned before (by the text as posted or an earlier edit) is not told again.
     */
    afterTruthEdited: (edited: TruthEditHooks['truthEdited']): HookEffect[] => {
      const actorId = edited.truth.authorId.toHexString();
      const truthId = edited.truth._id.toHexString();
      const list = edited.newlyMentioned.map((userId): NewNotification => ({
        kind: 'MENTIONED',
        userId,
        actorId,
        truthId,
      }));
      const at = edited.truth.editedAt ?? new Date();
      return list.length === 0 ? [] : [() => notifyAll(list, { fact: edited.fact, at })];
    },

    afterFollowed: (followed: RelationHooks['followed']): HookEffect[] => [
      () =>
        notifyAll(
          [{ kind: 'FOLLOWED', userId: followed.followeeId, actorId: followed.followerId }],
          followed,
        ),
    ],

    afterReacted: (reacted: ReactionHooks['reacted']): HookEffect[] => [
      () =>
        notifyAll(
          [
            {
              kind: 'REACTED',
              userId: reacted.truth.authorId.toHexString(),
              actorId: reacted.userId,
              truthId: reacted.truth._id.toHexString(),
            },
          ],
          reacted,
        ),
    ],

    /**
     * Welcomes someone admitted from the waitlist, in their new account: the one notification
     * whose actor is its recipient, carrying the ticket they waited with.
     */
    notifyAdmitted: (userId: string, ticket: number) => {
      const at = new Date();
      return record([
        {
          _id: notificationId(`admitted:${ticket}`, userId, 'ADMITTED', at),
          userId: objectId(userId),
          kind: 'ADMITTED',
          actorId: objectId(userId),
          truthId: null,
          ticket,
          createdAt: at,
          readAt: null,
        },
      ]);
    },

    async list(
      userId: string,
      page: { first: number; after: string | null },
      unreadOnly: boolean,
    ): Promise<{ items: NotificationRecord[]; hasNextPage: boolean; unreadCount: number }> {
      const { items, unread } = await store.page(userId, page.after, page.first + 1, unreadOnly);
      return {
        items: items.slice(0, page.first),
        hasNextPage: items.length > page.first,
        unreadCount: unread,
      };
    },

    byId: (userId: string, id: string) => store.byId(userId, id),

    unreadCount: (userId: string) => store.unreadCount(userId),

    /**
     * Marks the given ids (only the user's own) or all as read. Answers how many stay unread
     * and, with `list`, what it marked, now read.
     */
    async markRead(
      userId: string,
      target: { ids: string[] } | { all: true },
      options: { list?: boolean } = {},
    ): Promise<{ marked: NotificationRecord[]; unread: number }> {
      const read: NotificationReadRecord = {
        _id: new Types.ObjectId(),
        userId: objectId(userId),
        ids: 'ids' in target ? target.ids.map(objectId) : null,
        at: new Date(),
      };
      const entry = `read:${read._id.toHexString()}`;
      await effects.intend(entry);
      await insertResolved(() => readInserts.insert(read), { unknown: {} });
      let applied: { marked: NotificationRecord[]; unread: number } | null = null;
      await effects.apply(entry, [
        async () => {
          applied = await store.read(read, options);
        },
      ]);
      // With Redis away the read is stored and applied later: the answer cannot list what it
      // marked, and counts everything read.
      return (
        applied ?? {
          marked: [],
          unread: await store.unreadCount(userId).catch(() => 0),
        }
      );
    },

    /** The user's new notifications as they happen. */
    watch(userId: string): EventStream<NotificationRecord> {
      const subscription = bus.subscribe('notificationReceived', userId, (wire) => {
        stream.push(recordOf(wire));
      });
      const stream = createEventStream<NotificationRecord>({
        maxQueued: 200,
        overflowError: () => new SlowConsumerError(),
        onClose: () => subscription.unsubscribe(),
      });
      return stream;
    },
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;
