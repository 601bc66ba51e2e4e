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
 * 3. Raise the Redis mirror, publish ONE `waitlistAdvanced` event, mark the entries, and record
 *    `markedThrough`. A crash anywhere in 3 leaves `markedThrough < admittedThrough`, and the
 *    next tick (on any instance) redoes 3 for that range before admitting more: nobody is
 *    skipped, and nobody is admitted twice, since admission is "ticket <= watermark".
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

  /**
   * Step 3 for tickets (from, to]: idempotent, so a repeat after a crash is harmless (a
   * subscriber ignores a watermark it has already seen). The event goes out before the entries
   * are marked: positions depend on the watermark alone, and marking a range can be slow on a
   * database that scans.
   */
  const announce = async (from: number, to: number, fence: number): Promise<void> => {
    await sequence.mirrorAdmittedThrough(to);
    await bus.publish('waitlistAdvanced', '', { admittedThrough: to });
    if (to > from) {
      await Entry.updateMany(
        { ticket: { $gt: from, $lte: to }, admittedAt: null },
        { $set: { admittedAt: new Date() } },
      ).exec();
    }
    await State.collection.updateOne(
      { _id: 'watermark' as never, fence: { $lte: fence }, markedThrough: { $lt: to } },
      { $set: { markedThrough: to } },
    );
  };

  const tick = async (options: TickOptions = {}): Promise<TickOutcome> => {
    const forced = options.count !== undefined;
    if (!forced) {
      // The common case costs one Redis round trip: nobody is waiting.
      const { lastTicket, admittedThrough } = await sequence.snapshot();
      if (lastTicket !== null && admittedThrough !== null && lastTicket <= admittedThrough) {
        return { status: 'idle' };
      }
    }
    const before = await sequence.durableWatermark();
    const lease = await tryAcquireLease(redis, keys.tickLease, {
      ttlMs: deps.leaseMs,
      minFence: before.fence,
    });
    if (!lease) return { status: 'busy' };
    let release = true;
    try {
      // Read again under the lease: the previous holder may have moved it meanwhile.
      const mark: WaitlistWatermarkRecord = await sequence.durableWatermark();
      const from = mark.markedThrough;
      const current = mark.admittedThrough;
      const settings = await deps.settings();
      const waiting = Math.max(0, (await sequence.lastTicket()) - current);
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

      if (count <= 0) {
        if (from < current) await announce(from, current, lease.fence);
        return { status: 'idle' };
      }

      const next = current + count;
      const moved = await State.collection.updateOne(
        { _id: 'watermark' as never, admittedThrough: current, fence: { $lt: lease.fence } },
        { $set: { admittedThrough: next, fence: lease.fence, admitClockMs } },
      );
      if (moved.matchedCount !== 1) {
        logger.warn({ fence: lease.fence }, 'admission tick lost its lease; nothing admitted');
        return { status: 'stale' };
      }
      if (options.crashAfterWatermark) {
        release = false;
        throw new Error('simulated crash after the watermark write');
      }
      await announce(from, next, lease.fence);
      logger.info({ admitted: count, admittedThrough: next }, 'waitlist admitted');
      return { status: 'done', admitted: count, admittedThrough: next };
    } finally {
      if (release) await lease.release();
    }
  };

  return { tick };
}

export type Admission = ReturnType<typeof createAdmission>;
