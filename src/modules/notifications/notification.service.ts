import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import type { Page, PageRequest } from '../../graphql/pagination.js';
import type { Logger } from '../../infra/logger.js';
import type { EventBus } from '../../infra/pubsub.js';
import { SlowConsumerError } from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import { objectId } from '../../lib/ids.js';
import type { RelationModel } from '../follows/relation.model.js';
import type { NotificationTopics, NotificationWire } from './notification.events.js';
import type {
  NotificationKind,
  NotificationModel,
  NotificationRecord,
} from './notification.model.js';

export interface NewNotification {
  kind: NotificationKind;
  /** The recipient. */
  userId: string;
  actorId: string;
  truthId?: string | null;
}

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

/** The fact a notification comes from: a name for it, and when it happened. */
export interface Origin {
  /** For example `truth:<id>`: the same for every run of the fact's effects. */
  fact: string;
  at: Date;
}

/**
 * The id of a notification, derived from the fact that caused it (`fact`, e.g. `truth:<id>`),
 * its recipient and kind, so recording it again (the effects of a write run again after a
 * failure) is refused by MongoDB instead of notifying twice. It begins with the time of the
 * fact (seconds, like any ObjectId, then milliseconds), so notifications still sort newest
 * first.
 */
function notificationId(fact: string, recipient: string, kind: NotificationKind, at: Date) {
  const bytes = Buffer.alloc(12);
  const ms = at.getTime();
  bytes.writeUInt32BE(Math.floor(ms / 1000), 0);
  bytes.writeUInt16BE(ms % 1000, 4);
  createHash('sha256').update(`${fact}|${recipient}|${kind}`).digest().copy(bytes, 6, 0, 6);
  return new Types.ObjectId(bytes);
}

/**
 * Notifications: stored in MongoDB, announced live to the recipient. Nobody is notified of
 * their own actions, nor of the actions of someone they block or mute, or who blocks them.
 * Recording is idempotent per fact (see `notificationId`).
 */
export function createNotificationService(deps: {
  Notification: NotificationModel;
  Relation: RelationModel;
  bus: EventBus<NotificationTopics>;
  logger: Logger;
}) {
  const { Notification, Relation, bus } = deps;

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

  const suppressed = async (recipients: string[], actorId: string): Promise<Set<string>> => {
    const actor = objectId(actorId);
    const rows = await Relation.find(
      {
        $or: [
          {
            fromId: { $in: recipients.map(objectId) },
            toId: actor,
            kind: { $in: ['block', 'mute'] },
          },
          { fromId: actor, toId: { $in: recipients.map(objectId) }, kind: 'block' },
        ],
      },
      { fromId: 1, toId: 1 },
    )
      .lean<{ fromId: Types.ObjectId; toId: Types.ObjectId }[]>()
      .exec();
    return new Set(
      rows.map((row) => (row.fromId.equals(actor) ? row.toId : row.fromId).toHexString()),
    );
  };

  const notifyAll = async (list: readonly NewNotification[], origin: Origin): Promise<void> => {
    const candidates = list.filter((n) => n.userId !== n.actorId);
    if (candidates.length === 0) return;
    const byActor = new Map<string, NewNotification[]>();
    for (const n of candidates) byActor.set(n.actorId, [...(byActor.get(n.actorId) ?? []), n]);
    const records: NotificationRecord[] = [];
    for (const [actorId, group] of byActor) {
      const skip = await suppressed([...new Set(group.map((n) => n.userId))], actorId);
      for (const n of group) {
        if (skip.has(n.userId)) continue;
        records.push({
          _id: notificationId(origin.fact, n.userId, n.kind, origin.at),
          userId: objectId(n.userId),
          kind: n.kind,
          actorId: objectId(n.actorId),
          truthId: n.truthId ? objectId(n.truthId) : null,
          createdAt: new Date(),
          readAt: null,
        });
      }
    }
    await store(records);
  };

  /**
   * Inserts notifications and announces each to its recipient; one already stored (by an
   * earlier run of the same effects) is neither stored nor announced again.
   */
  const store = async (records: NotificationRecord[]): Promise<void> => {
    if (records.length === 0) return;
    let fresh = records;
    try {
      await Notification.collection.insertMany(records, { ordered: false });
    } catch (error) {
      const writeErrors = (error as { writeErrors?: { index: number; code?: number }[] })
        .writeErrors;
      if (!writeErrors) throw error;
      const refused = new Set<number>();
      for (const writeError of [writeErrors].flat()) {
        if (writeError.code !== 11000) throw error;
        refused.add(writeError.index);
      }
      fresh = records.filter((_, index) => !refused.has(index));
    }
    await Promise.all(
      fresh.map((record) =>
        bus.publish('notificationReceived', record.userId.toHexString(), {
          id: record._id.toHexString(),
          userId: record.userId.toHexString(),
          kind: record.kind,
          actorId: record.actorId.toHexString(),
          truthId: record.truthId?.toHexString() ?? null,
          ticket: record.ticket ?? null,
          createdAt: record.createdAt.toISOString(),
        }),
      ),
    );
  };

  return {
    /** Records and announces one notification (unless suppressed; see above), once per fact. */
    notify: (notification: NewNotification, origin: Origin) => notifyAll([notification], origin),

    /**
     * Welcomes someone admitted from the waitlist, in their new account: the one notification
     * whose actor is its recipient, carrying the ticket they waited with.
     */
    notifyAdmitted: (userId: string, ticket: number) =>
      store([
        {
          _id: notificationId(`admitted:${ticket}`, userId, 'ADMITTED', new Date()),
          userId: objectId(userId),
          kind: 'ADMITTED',
          actorId: objectId(userId),
          truthId: null,
          ticket,
          createdAt: new Date(),
          readAt: null,
        },
      ]),
    notifyAll,

    async list(
      userId: string,
      page: PageRequest,
      unreadOnly: boolean,
    ): Promise<Page<NotificationRecord>> {
      const rows = await Notification.find({
        userId: objectId(userId),
        ...(unreadOnly ? { readAt: null } : {}),
        ...(page.after ? { _id: { $lt: objectId(page.after) } } : {}),
      })
        .sort({ _id: -1 })
        .limit(page.first + 1)
        .lean<NotificationRecord[]>()
        .exec();
      return { items: rows.slice(0, page.first), hasNextPage: rows.length > page.first };
    },

    async byId(userId: string, id: string): Promise<NotificationRecord | null> {
      return Notification.findOne({ _id: objectId(id), userId: objectId(userId) })
        .lean<NotificationRecord>()
        .exec();
    },

    unreadCount: (userId: string) =>
      Notification.countDocuments({ userId: objectId(userId), readAt: null }).exec(),

    /** Marks the given ids (only the user's own) or all as read; returns the unread count. */
    async markRead(userId: string, target: { ids: string[] } | { all: true }): Promise<number> {
      const filter = {
        userId: objectId(userId),
        readAt: null,
        ...('ids' in target ? { _id: { $in: target.ids.map(objectId) } } : {}),
      };
      await Notification.updateMany(filter, { $set: { readAt: new Date() } }).exec();
      return Notification.countDocuments({ userId: objectId(userId), readAt: null }).exec();
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
