import type { Logger } from '../../infra/logger.js';
import { tryAcquireLease } from '../../infra/lock.js';
import type { EventBus } from '../../infra/pubsub.js';
import type { RedisClients } from '../../infra/redis.js';
import { isDuplicateKeyError } from '../../lib/errors.js';
import type { WaitlistTopics } from './waitlist.events.js';
import type { WaitlistKeys } from './waitlist.keys.js';
import type {
  WaitlistAdmissionModel,
  WaitlistAdmissionRecord,
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
 * Runs a conditional write up to three times: the embedded database answers a write that
 * meets another writer's transaction with SQLITE_BUSY. Safe because the write is conditional:
 * if an attempt did land after all, the next matches nothing, the tick reports itself stale,
 * and the next tick announces and records what it wrote.
 */
async function retried<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (attempt >= 3 || isDuplicateKeyError(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

/**
 * The admission tick: advances the durable watermark `admittedThrough`, one tick at a time
 * across the cluster.
 *
 * Order of a tick, and why:
 * 1. Take the lease `waitlist:tick` with a fencing token (infra/lock.ts). Every instance's
 *    timer tries, unless nobody waits or admissions are stopped with no tick left to finish
 *    (then the timer leaves the lease to admitNext); only the holder works.
 * 2. Write the new watermark to MongoDB FIRST, conditional on the watermark it read and on a
 *    fence older than ours: a stale holder (its lease expired while it stalled) matches nothing
 *    and stops. The watermark is the fact: once written, those tickets are admitted.
 * 3. Record the admitted range in the admissions log (`waitlistadmissions`, one document per
 *    advance, keyed by its end) and raise `marks.recordedThrough`.
 * 4. Raise the Redis mirror and publish ONE `waitlistAdvanced` event.
 * A tick that died after step 2 left the log or the mirror behind the watermark; the next tick
 * (on any instance) sees that and finishes 3 and 4, in the same single event as its own
 * advance. Nobody is skipped and nobody admitted twice: admission is `ticket <= watermark`,
 * and the recorded ranges are contiguous.
 *
 * How many per tick: the rate (per minute) times the time since the limiter's clock, never
 * more than the free capacity or the number waiting. The clock catches up at most one burst
 * window (two ticks, or one ticket's interval at low rates): budget that went unused (while
 * paused, at rate 0, with nobody waiting, or while no instance ticked) is not saved up, so a
 * new rate, a resume or a sudden crowd starts at the rate, not with a minute's worth at once.
 */
export function createAdmission(deps: {
  redis: RedisClients;
  keys: WaitlistKeys;
  State: WaitlistStateModel;
  Admission: WaitlistAdmissionModel;
  /** How many accounts exist (from the users' read model). */
  accountCount: () => Promise<number>;
  sequence: WaitlistSequence;
  settings: () => Promise<WaitlistSettingsRecord>;
  bus: EventBus<WaitlistTopics>;
  /** How long a lease lasts if its holder dies. */
  leaseMs: number;
  /** How often every instance's timer ticks. */
  tickMs: number;
  logger: Logger;
}) {
  const { redis, keys, State, Admission, sequence, bus, logger } = deps;

  /** Seats left under maxActiveAccounts: accounts plus admitted tickets not yet completed. */
  const freeSeats = async (
    settings: WaitlistSettingsRecord,
    admittedThrough: number,
  ): Promise<number> => {
    if (settings.maxActiveAccounts === 0) return Number.POSITIVE_INFINITY;
    const [accounts, completed] = await Promise.all([
      deps.accountCount(),
      sequence.completedCount(),
    ]);
    return Math.max(0, settings.maxActiveAccounts - accounts - (admittedThrough - completed));
  };

  const readRecordedThrough = async (): Promise<number> => {
    const marks = (await State.collection.findOne({
      _id: 'marks' as never,
    })) as unknown as WaitlistMarksRecord | null;
    return marks?.recordedThrough ?? 0;
  };

  /**
   * Marks tickets (from, to] admitted: one insert into the admissions log, keyed by `to`, then
   * `marks.recordedThrough` raised. Idempotent: a second record of the same range (a repair
   * racing a slow holder) is refused by the key, and ranges stay contiguous because each
   * starts where the recorded ones end.
   *
   * An insert, not an update of the entries: FerretDB v1 runs an update over a large
   * collection as a scan inside one write transaction, seconds at launch-day sizes, during
   * which every other write (joins, the watermark itself) fails with SQLITE_BUSY.
   */
  const record = async (from: number, to: number, fence: number): Promise<void> => {
    try {
      const entry: WaitlistAdmissionRecord = { _id: to, from, admittedAt: new Date(), fence };
      await Admission.collection.insertOne(entry as never);
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
    await State.collection.updateOne(
      { _id: 'marks' as never },
      { $max: { recordedThrough: to } },
      { upsert: true },
    );
  };

  /**
   * Whether admissions are stopped (paused, or at rate 0) and no tick that died part way left
   * the log or the mirror behind `watermark`: then a timer's tick has nothing to do and leaves
   * the lease to admitNext.
   */
  const stoppedAndComplete = async (watermark: number, mirrored: number | null) => {
    if (mirrored === null || mirrored < watermark) return false;
    const settings = await deps.settings();
    if (!settings.paused && settings.admissionRatePerMinute > 0) return false;
    return (await readRecordedThrough()) >= watermark;
  };

  const tick = async (options: TickOptions = {}): Promise<TickOutcome> => {
    const forced = options.count !== undefined;
    let mirroredBefore: number | null = null;
    if (!forced) {
      // The common case costs one Redis round trip: nobody is waiting.
      const { lastTicket, admittedThrough } = await sequence.snapshot();
      if (lastTicket !== null && admittedThrough !== null && lastTicket <= admittedThrough) {
        return { status: 'idle' };
      }
      mirroredBefore = admittedThrough;
    }
    const before = await sequence.durableWatermark();
    if (!forced && (await stoppedAndComplete(before.admittedThrough, mirroredBefore))) {
      return { status: 'idle' };
    }
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
      const [settings, lastTicket, mirrored, recordedThrough] = await Promise.all([
        deps.settings(),
        sequence.lastTicket(),
        sequence.snapshot().then((snapshot) => snapshot.admittedThrough ?? 0),
        readRecordedThrough(),
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
        const burstMs = Math.max(2 * deps.tickMs, minuteMs / rate);
        const clock = Math.max(mark.admitClockMs, now - burstMs);
        const budget = Math.floor(((now - clock) * rate) / minuteMs);
        count = Math.min(budget, waiting);
        // Unused budget (nobody left, or no seats) is not saved up for later.
        admitClockMs = count < budget ? now : clock + (count * minuteMs) / rate;
      }
      if (count > 0) count = Math.min(count, await freeSeats(settings, current));

      let next = current;
      if (count > 0) {
        const moved = await retried(() =>
          State.collection.updateOne(
            { _id: 'watermark' as never, admittedThrough: current, fence: { $lt: lease.fence } },
            { $set: { admittedThrough: current + count, fence: lease.fence, admitClockMs } },
          ),
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
      // Record, then announce, a new watermark or one a crashed tick wrote and left: whoever
      // hears of an admission can find it in the log. One event either way.
      if (next > recordedThrough) await record(recordedThrough, next, lease.fence);
      if (next > mirrored) {
        await sequence.mirrorAdmittedThrough(next);
        await bus.publish('waitlistAdvanced', '', { admittedThrough: next });
      }
      if (count <= 0) return { status: 'idle' };
      logger.info({ admitted: count, admittedThrough: next }, 'waitlist admitted');
      return { status: 'done', admitted: count, admittedThrough: next };
    } finally {
      if (release) await lease.release();
    }
  };

  return { tick, freeSeats };
}

export type Admission = ReturnType<typeof createAdmission>;
