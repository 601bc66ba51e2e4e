import type { EventBus, BusSubscription } from '../../infra/pubsub.js';
import { SlowConsumerError } from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import type { WaitlistTopics } from './waitlist.events.js';

/** A ticket as shown to its holder. */
export interface TicketView {
  ticket: number;
  position: number;
  admitted: boolean;
  username: string;
  /** Only in the answer that created the ticket, and to the token's own holder. */
  ticketToken: string | null;
}

/** The one definition of a position, used by the query, the subscription and sign-up. */
export const positionOf = (ticket: number, admittedThrough: number) =>
  Math.max(0, ticket - admittedThrough);

interface Watcher {
  readonly base: Omit<TicketView, 'position' | 'admitted'>;
  readonly stream: EventStream<TicketView>;
  /** The watermark of the last value sent: later values must have a higher one. */
  seen: number;
}

/**
 * This instance's index of live waitlist subscribers. It listens to the one `waitlistAdvanced`
 * channel while anyone here is watching, and turns each tick's single event into every local
 * subscriber's new position by arithmetic: no database read per subscriber per tick.
 *
 * A subscriber only ever receives a higher watermark than the one it last saw, so a position
 * never goes up even if an event and the first read cross.
 */
export function createWaitlistWatch(deps: {
  bus: EventBus<WaitlistTopics>;
  /** The current watermark (the Redis mirror). */
  admittedThrough: () => Promise<number>;
}) {
  const watchers = new Set<Watcher>();
  let channel: BusSubscription | undefined;
  // The highest watermark this process has heard of: an event that lands while a watcher's
  // first read is in flight still counts for it.
  let latest = 0;

  const deliver = (watcher: Watcher, admittedThrough: number) => {
    if (admittedThrough <= watcher.seen) return;
    watcher.seen = admittedThrough;
    const admitted = watcher.base.ticket <= admittedThrough;
    const { base } = watcher;
    // Spelled out rather than spread: one per waiting subscriber per tick.
    watcher.stream.push({
      ticket: base.ticket,
      username: base.username,
      ticketToken: base.ticketToken,
      position: positionOf(base.ticket, admittedThrough),
      admitted,
    });
    if (admitted) watcher.stream.end();
  };

  const onAdvance = ({ admittedThrough }: WaitlistTopics['waitlistAdvanced']) => {
    latest = Math.max(latest, admittedThrough);
    for (const watcher of watchers) {
      // Before its first value a watcher waits for the initial read (see watch()).
      if (watcher.seen >= 0) deliver(watcher, admittedThrough);
    }
  };

  return {
    /** Subscribers on this instance. */
    get size() {
      return watchers.size;
    },

    /** The ticket now, then each time it moves, ending with the admitted value. */
    watch(base: Omit<TicketView, 'position' | 'admitted'>): EventStream<TicketView> {
      channel ??= deps.bus.subscribe('waitlistAdvanced', '', onAdvance);
      const ready = channel.ready;
      const watcher: Watcher = {
        base,
        seen: -2,
        stream: createEventStream<TicketView>({
          // Each tick makes every watcher a view of its own ticket.
          personal: true,
          maxQueued: 20,
          overflowError: () => new SlowConsumerError(),
          onClose: () => {
            watchers.delete(watcher);
            if (watchers.size === 0 && channel) {
              channel.unsubscribe();
              channel = undefined;
            }
          },
        }),
      };
      watchers.add(watcher);
      // The first value is read after the channel is confirmed, so no tick in between is missed.
      void ready
        .then(() => deps.admittedThrough())
        .then((admittedThrough) => {
          watcher.seen = -1;
          deliver(watcher, Math.max(admittedThrough, latest));
        })
        .catch((error: unknown) => watcher.stream.fail(error as Error));
      return watcher.stream;
    },

    close() {
      for (const watcher of [...watchers]) watcher.stream.end();
    },
  };
}

export type WaitlistWatch = ReturnType<typeof createWaitlistWatch>;
