import type { Logger } from '../../infra/logger.js';
import { tryAcquireLease } from '../../infra/lock.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { RedisClients } from '../../infra/redis.js';
import type { UserModel } from '../users/user.model.js';
import type { WaitlistTopics } from './waitlist.events.js';
import type { WaitlistKeys } from './waitlist.keys.js';
import type {
  WaitlistEntryModel,
  WaitlistSettingsRecord,
  WaitlistStateModel,
  WaitlistMarksRecord,
  WaitlistWatermarkRecord,
} from './waitlist.model.js';
import type { WaitlistSequence } from './waitlist.sequence.js';

/** What one tick did. */
export type TickOutcome =
  | { status: 'idle' | 'busy' | 'stale' }
  | { status: 'done'; admitted: number; admittedThrough: number };

export interface TickOptions {
  /** Admit exactly up to this many now (admitNext), regardless of the rate and of `paused`. */
  count?: number;
  /**
   * Test hook: stop right after the durable watermark write, as a process killed there would:
   * entries unmarked, nothing mirrored or published, the lease left to expire.
   */
  crashAfterWatermark?: boolean;
  /** Test hook: a shorter lease for this tick. */
  leaseMs?: number;
  /**
   * Test hook: runs after the tick has read the watermark under its lease, before it writes;
   * a test stalls here past the lease to play a stale holder.
   */
  afterRead?: () => Promise<void>;
}

const minuteMs = 60_000;

/**
 * The admission tick: advances the durable watermark `admittedThrough`, one tick at a time
 * across the cluster.
 *
 * Order of a tick, and why:
 * 1. Take the lease `waitlist:tick` with a fencing token (infra/lock.ts). Every instance's
 *    timer tries; only the holder works.
 * 2. Write the new watermark to MongoDB FIRST, conditional on the watermark it read and on a
 *    fence older than ours: a stale holder (its lease expired while it stalled) matches nothing
 *    and stops. The watermark is the fact: once written, those tickets are admitted.
 * 3. Raise the Redis mirror and publish ONE `waitlistAdvanced` event. A tick that died between
 *    2 and 3 left the mirror behind the watermark; the next tick (on any instance) sees that
 *    and announces it, in the same single event as its own advance.
 * 4. Mark the entries `admittedAt`, in the background (see markThrough), and record how far
 *    in the `marks` document. The next tick that finds the marks behind the watermark marks
 *    the rest. Nobody is skipped and nobody admitted twice: admission is `ticket <= watermark`.
 *
 * How many per tick: the rate (per minute) times the time since the limiter's clock, at most
 * one minute's worth, and never more than the free capacity or the number waiting.
 */
export function createAdmission(deps: {
  redis: RedisClients;
  keys: WaitlistKeys;
  Entry: WaitlistEntryModel;
  State: WaitlistStateModel;
  User: UserModel;
  sequence: WaitlistSequence;
  settings: () => Promise<WaitlistSettingsRecord>;
  bus: EventBus<WaitlistTopics>;
  /** How long a lease lasts if its holder dies. */
  leaseMs: number;
  logger: Logger;
}) {
  const { redis, keys, Entry, State, User, sequence, bus, logger } = deps;

  /** Seats left under maxActiveAccounts: accounts plus admitted tickets not yet completed. */
  const freeSeats = async (
    settings: WaitlistSettingsRecord,
    admittedThrough: number,
  ): Promise<number> => {
    if (settings.maxActiveAccounts === 0) return Number.POSITIVE_INFINITY;
    const [accounts, completed] = await Promise.all([
      User.estimatedDocumentCount().exec(),
      Entry.countDocuments({ completedAt: { $ne: null } }).exec(),
    ]);
    return Math.max(0, settings.maxActiveAccounts - accounts - (admittedThrough - completed));
  };

  const readMarkedThrough = async (): Promise<number> => {
    const marks = (await State.collection.findOne({
      _id: 'marks' as never,
    })) as unknown as WaitlistMarksRecord | null;
    return marks?.markedThrough ?? 0;
  };

  // This instance's marking run, if one is going, and how far it has been asked to go.
  let marking: Promise<void> | undefined;
  let markWanted = 0;
  let markDone = 0;

  /**
   * Marks the entries through `to` as admitted, in the background, one run per instance at a
   * time. Idempotent: a range marked twice (two instances, or a retry after a crash) changes
   * nothing the second time. It is off the tick's path because on a database that scans
   * (FerretDB) an update over a large collection takes seconds, and positions depend on the
   * watermark alone.
   */
  const markThrough = (to: number): Promise<void> => {
    markWanted = Math.max(markWanted, to);
    marking ??= (async () => {
      try {
        for (;;) {
          const markedThrough = await readMarkedThrough();
          const target = markWanted;
          if (markedThrough >= target) {
            markDone = Math.max(markDone, target);
            return;
          }
          await Entry.updateMany(
            { ticket: { $gt: markedThrough, $lte: target }, admittedAt: null },
            { $set: { admittedAt: new Date() } },
          ).exec();
          // Racing markers may lose one of their writes here (FerretDB v1); the lower value
          // only means a range is marked again, which changes nothing.
          await State.collection.updateOne(
            { _id: 'marks' as never },
            { $max: { markedThrough: target } },
            { upsert: true },
          );
        }
      } catch (error) {
        logger.warn({ err: error }, 'marking admitted entries failed; the next tick retries');
      } finally {
        marking = undefined;
      }
    })();
    return marking;
  };

  const tick = async (options: TickOptions = {}): Promise<TickOutcome> => {
    const forced = options.count !== undefined;
    if (!forced) {
      // The common case costs one Redis round trip: nobody is waiting.
      const { lastTicket, admittedThrough } = await sequence.snapshot();
      if (lastTicket !== null && admittedThrough !== null && lastTicket <= admittedThrough) {
        // Finish a marking run of ours that failed.
        if (markWanted > markDone && !marking) void markThrough(markWanted);
        return { status: 'idle' };
      }
    }
    const before = await sequence.durableWatermark();
    const lease = await tryAcquireLease(redis, keys.tickLease, {
      ttlMs: options.leaseMs ?? deps.leaseMs,
      minFence: before.fence,
    });
    if (!lease) return { status: 'busy' };
    let release = true;
    try {
      // Read again under the lease: the previous holder may have moved it meanwhile.
      const mark: WaitlistWatermarkRecord = await sequence.durableWatermark();
      const current = mark.admittedThrough;
      const [settings, lastTicket, mirrored, markedThrough] = await Promise.all([
        deps.settings(),
        sequence.lastTicket(),
        sequence.snapshot().then((snapshot) => snapshot.admittedThrough ?? 0),
        readMarkedThrough(),
      ]);
      const waiting = Math.max(0, lastTicket - current);
      await options.afterRead?.();
      const now = Date.now();

      let count = 0;
      let admitClockMs = mark.admitClockMs;
      if (forced) {
        count = Math.min(options.count!, waiting);
      } else if (!settings.paused && settings.admissionRatePerMinute > 0 && waiting > 0) {
        const rate = settings.admissionRatePerMinute;
        const clock = Math.max(mark.admitClockMs, now - minuteMs);
        const budget = Math.floor(((now - clock) * rate) / minuteMs);
        count = Math.min(budget, waiting);
        // Unused budget (nobody left, or no seats) is not saved up for later.
        admitClockMs = count < budget ? now : clock + (count * minuteMs) / rate;
      }
      if (count > 0) count = Math.min(count, await freeSeats(settings, current));

      let next = current;
      if (count > 0) {
        const moved = await State.collection.updateOne(
          { _id: 'watermark' as never, admittedThrough: current, fence: { $lt: lease.fence } },
          { $set: { admittedThrough: current + count, fence: lease.fence, admitClockMs } },
        );
        if (moved.matchedCount !== 1) {
          logger.warn({ fence: lease.fence }, 'admission tick lost its lease; nothing admitted');
          return { status: 'stale' };
        }
        next = current + count;
        if (options.crashAfterWatermark) {
          release = false;
          throw new Error('simulated crash after the watermark write');
        }
      }
      // Announce a new watermark, or one a crashed tick wrote and never announced: one event.
      if (next > mirrored) {
        await sequence.mirrorAdmittedThrough(next);
        await bus.publish('waitlistAdvanced', '', { admittedThrough: next });
      }
      if (next > markedThrough) void markThrough(next);
      if (count <= 0) return { status: 'idle' };
      logger.info({ admitted: count, admittedThrough: next }, 'waitlist admitted');
      return { status: 'done', admitted: count, admittedThrough: next };
    } finally {
      if (release) await lease.release();
    }
  };

  /** Resolves when this instance's marking run (if any) has finished. */
  const settled = async (): Promise<void> => {
    while (marking) await marking;
  };

  return { tick, settled };
}

export type Admission = ReturnType<typeof createAdmission>;
