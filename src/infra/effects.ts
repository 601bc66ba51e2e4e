import { outsideRequestBudget } from '../lib/request-budget.js';
import type { Logger } from './logger.js';
import type { RedisClients } from './redis.js';
import { createScript } from './redis-script.js';

/** One step of a write's effects; it must be idempotent (it may run again after a failure). */
export type Effect = () => Promise<void>;

/**
 * The effects of writes that MongoDB has already stored: counts, timelines, live events,
 * caches, notifications. Once the fact is stored the write has happened, so its answer must say
 * so, whatever Redis does next; its effects are made certain here instead:
 *
 * - `intend(entry)`, before the fact is written, records the write in a Redis journal (best
 *   effort: with Redis away the write still goes ahead, covered by the retries below).
 * - `apply(entry, effects)`, after it is written, runs the effects in order. If one fails (Redis
 *   paused, restarting, failing over) the answer does not wait: the rest are retried in the
 *   background, from the one that failed, with backoff, until they succeed. Effects of the same
 *   entry never overtake each other, and a later `apply` for the same entry (a deletion after
 *   its post) waits for the earlier one's.
 * - When they are all done the journal entry is removed. An entry left behind by a process
 *   that died in between is picked up by any instance's sweeper after `graceMs`, which calls
 *   the recovery registered for its kind (it re-reads the fact from MongoDB and applies its
 *   effects again): so a killed process loses no effect either.
 *
 * Entries are `<kind>:<id>`.
 */
export interface Effects {
  intend(entry: string): Promise<void>;
  apply(entry: string, effects: readonly Effect[]): Promise<void>;
  /** The write `intend`ed did not happen after all: forget the journal entry. */
  discard(entry: string): Promise<void>;
  /**
   * Whether `entry` is still in the journal: its effects are not known to be finished (true
   * too when Redis cannot say).
   */
  isPending(entry: string): Promise<boolean>;
  /** How to finish an entry of `kind` that a dead process left in the journal. */
  recover(kind: string, handler: (id: string) => Promise<void>): void;
  /** Entries whose effects are waiting for a retry in this process. */
  readonly retrying: number;
  /** Resolves once nothing is waiting in this process (tests, shutdown). */
  settled(): Promise<void>;
  /** Starts the sweeper (every instance runs one). */
  start(): void;
  stop(): void;
}

// KEYS: the journal. ARGV: now, grace. Claims up to 20 overdue entries for one grace period.
const claimScript = createScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 20)
for _, entry in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], entry) end
return due
`);

interface Queued {
  effects: Effect[];
  failures: number;
  /** Resolves when the queue is empty again. */
  readonly done: Promise<void>;
  /** Resolves at the first failure, or when the queue is empty: what an answer waits for. */
  readonly answered: Promise<void>;
  finish(): void;
  answer(): void;
}

function createQueue(effects: readonly Effect[]): Queued {
  let finish!: () => void;
  let answer!: () => void;
  return {
    effects: [...effects],
    failures: 0,
    done: new Promise<void>((resolve) => {
      finish = resolve;
    }),
    answered: new Promise<void>((resolve) => {
      answer = resolve;
    }),
    finish: () => {
      answer();
      finish();
    },
    answer: () => answer(),
  };
}

export function createEffects(options: {
  redis: RedisClients;
  logger: Logger;
  /** How long an entry may stay in the journal before a sweeper takes it over. */
  graceMs?: number;
  sweepEveryMs?: number;
  /** Bound on entries waiting for a retry in this process; past it the journal recovers them. */
  maxRetrying?: number;
}): Effects {
  const { redis, logger } = options;
  const journalKey = `${redis.namespace}:journal`;
  const graceMs = options.graceMs ?? 60_000;
  const maxRetrying = options.maxRetrying ?? 100_000;
  const queues = new Map<string, Queued>();
  const handlers = new Map<string, (id: string) => Promise<void>>();
  let retrying = 0;
  let sweeper: NodeJS.Timeout | undefined;

  const end = (entry: string) =>
    redis.command.zrem(journalKey, entry).then(
      () => undefined,
      (error: unknown) =>
        // The sweeper will find the entry and apply its (idempotent) effects once more.
        logger.debug({ err: error, entry }, 'journal entry not removed'),
    );

  /** Runs the queue of `entry` until it is empty; retries with backoff after a failure. */
  const drain = async (entry: string, queue: Queued): Promise<void> => {
    let counted = false;
    let abandoned = false;
    while (queue.effects.length > 0) {
      try {
        await queue.effects[0]!();
        queue.effects.shift();
        queue.failures = 0;
      } catch (error) {
        queue.failures += 1;
        if (!counted) {
          counted = true;
          retrying += 1;
          queue.answer();
          logger.warn({ err: error, entry }, 'effects of a stored write failed; retrying them');
        }
        if (retrying > maxRetrying) {
          abandoned = true;
          logger.error({ entry }, 'too many writes waiting for their effects; left to the journal');
          break;
        }
        const delayMs = Math.min(100 * 2 ** (queue.failures - 1), 5_000);
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      }
    }
    if (counted) retrying -= 1;
    queues.delete(entry);
    queue.finish();
    if (!abandoned) await end(entry);
  };

  const sweep = async () => {
    const due = (await claimScript.run(redis.command, [journalKey], [Date.now(), graceMs])) as
      string[] | null;
    for (const entry of due ?? []) {
      if (queues.has(entry)) continue;
      const colon = entry.indexOf(':');
      const handler = handlers.get(entry.slice(0, colon));
      if (!handler) {
        logger.warn({ entry }, 'journal entry of an unknown kind; dropping it');
        await end(entry);
        continue;
      }
      try {
        await handler(entry.slice(colon + 1));
        await end(entry);
        logger.info({ entry }, 'finished the effects of a write left unfinished');
      } catch (error) {
        logger.warn({ err: error, entry }, 'could not finish a journal entry yet');
      }
    }
  };

  return {
    async intend(entry) {
      try {
        await redis.command.zadd(journalKey, Date.now() + graceMs, entry);
      } catch (error) {
        logger.warn({ err: error, entry }, 'write not journalled; its effects are retried here');
      }
    },

    async apply(entry, effects) {
      const existing = queues.get(entry);
      if (existing) {
        // Behind the entry's earlier effects, in order; the answer does not wait for them.
        existing.effects.push(...effects);
        return;
      }
      const queue = createQueue(effects);
      queues.set(entry, queue);
      // Effects outlive the request that stored the write: they are no part of its budget.
      outsideRequestBudget(() => void drain(entry, queue));
      // The answer waits for the first attempt of every effect, not for retries.
      await queue.answered;
    },

    discard: end,

    isPending: (entry) =>
      redis.command.zscore(journalKey, entry).then(
        (score) => score !== null,
        () => true,
      ),

    recover(kind, handler) {
      handlers.set(kind, handler);
    },

    get retrying() {
      return retrying;
    },

    async settled() {
      while (queues.size > 0) await Promise.all([...queues.values()].map((queue) => queue.done));
    },

    start() {
      sweeper ??= setInterval(() => {
        sweep().catch((error: unknown) => logger.debug({ err: error }, 'journal sweep failed'));
      }, options.sweepEveryMs ?? 5_000);
      sweeper.unref();
    },

    stop() {
      clearInterval(sweeper);
      sweeper = undefined;
    },
  };
}
