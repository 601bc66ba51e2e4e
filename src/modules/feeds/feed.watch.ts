import type { Logger } from '../../infra/logger.js';
import type { BusSubscription, EventBus } from '../../infra/pubsub.js';
import { SlowConsumerError } from '../../lib/errors.js';
import { createEventStream, type EventStream } from '../../lib/event-stream.js';
import type { RelationTopics } from '../follows/index.js';
import type { TruthRecord } from '../truths/index.js';
import type { FeedEvent, FeedTopics } from './feed.events.js';
import { positionAt, type ListCursor } from './feed.lists.js';
import type { FeedUpdate } from './feed.service.js';

const nobody: ReadonlySet<string> = new Set();
const slowConsumer = () => new SlowConsumerError();

/** What a viewer must not see live, shared by all of the viewer's live feeds in this process. */
export interface ViewerVisibility {
  /** Authors the viewer blocks or mutes, or who block the viewer. */
  readonly hidden: ReadonlySet<string>;
  /** For home feeds: the whales the viewer follows. */
  readonly whales: readonly string[];
  /** Resolves once loaded. */
  readonly ready: Promise<void>;
  /**
   * While the viewer's relations are being re-read after a change, until they are: events
   * arriving meanwhile were published after the change and must be judged by the new ones.
   */
  readonly reloading: Promise<void> | null;
}

interface Entry extends ViewerVisibility {
  hidden: ReadonlySet<string>;
  whales: readonly string[];
  ready: Promise<void>;
  reloading: Promise<void> | null;
  users: number;
  readonly changes: BusSubscription;
  /** Watchers to tell when the whales changed (home feeds). */
  readonly onChange: Set<() => void>;
}

/**
 * Per-viewer visibility for live feeds, one entry per viewer per process however many feeds
 * and connections the viewer has open, reloaded when the viewer's relations change. Keeping it
 * here rather than per subscription keeps an idle subscription small.
 */
export function createVisibilityCache(deps: {
  load(viewerId: string): Promise<{ hidden: ReadonlySet<string>; whales: readonly string[] }>;
  bus: EventBus<RelationTopics>;
  logger: Logger;
}) {
  const entries = new Map<string, Entry>();

  const reload = (viewerId: string, entry: Entry) => {
    const loading = deps.load(viewerId).then((next) => {
      entry.hidden = next.hidden.size > 0 ? next.hidden : nobody;
      const whalesChanged = next.whales.join() !== entry.whales.join();
      entry.whales = next.whales;
      if (whalesChanged) for (const listener of entry.onChange) listener();
    });
    const settled = loading.catch((error: unknown) =>
      deps.logger.warn({ err: error, viewerId }, 'could not load feed visibility'),
    );
    entry.reloading = settled;
    void settled.then(() => {
      if (entry.reloading === settled) entry.reloading = null;
    });
    return loading;
  };

  return {
    /** The viewer's entry; call `release` once for every `acquire`. */
    acquire(viewerId: string): Entry {
      let entry = entries.get(viewerId);
      if (!entry) {
        const created: Entry = {
          hidden: nobody,
          whales: [],
          ready: Promise.resolve(),
          reloading: null,
          users: 0,
          changes: deps.bus.subscribe(
            'relationsChanged',
            viewerId,
            () => void reload(viewerId, created),
          ),
          onChange: new Set(),
        };
        created.ready = created.changes.ready.then(() => reload(viewerId, created));
        entries.set(viewerId, created);
        entry = created;
      }
      entry.users += 1;
      return entry;
    },

    release(viewerId: string): void {
      const entry = entries.get(viewerId);
      if (!entry) return;
      entry.users -= 1;
      if (entry.users > 0) return;
      entry.changes.unsubscribe();
      entries.delete(viewerId);
    },

    /** Viewers with a live home feed in this process. */
    homeViewers(): string[] {
      return [...entries]
        .filter(([, entry]) => entry.onChange.size > 0)
        .map(([viewerId]) => viewerId);
    },

    /** Reloads these viewers' entries (for one, an account they follow became a whale). */
    refresh(viewerIds: readonly string[]): void {
      for (const viewerId of viewerIds) {
        const entry = entries.get(viewerId);
        if (entry) void reload(viewerId, entry);
      }
    },

    get size() {
      return entries.size;
    },
  };
}

export type VisibilityCache = ReturnType<typeof createVisibilityCache>;

/**
 * One live feed for one subscriber: subscribes first, then (with `after`) sends what was missed
 * since that cursor, oldest first, then the live events that arrived meanwhile and after, each
 * truth once. Home feeds also listen on the channels of the whales the viewer follows.
 *
 * If this process's Redis subscriber connection drops, events published until it is back are
 * lost to it: the feed holds its live events from the drop, and when the channels are
 * confirmed again it catches up from the last truth it delivered, exactly as a reconnecting
 * client would, then releases what it held. The subscriber sees no gap and no repeat.
 */
export class FeedWatcher {
  readonly stream: EventStream<FeedUpdate>;
  #buffered: FeedEvent[] | null = [];
  #caughtUp: Set<string> | null = null;
  /** Where a catch-up resumes: the last truth delivered, or where the feed started. */
  #last: ListCursor;
  /** Catch-ups run one after the other. */
  #catchingUp: Promise<void> = Promise.resolve();
  #whales: Map<string, BusSubscription> | null = null;
  readonly #feed: BusSubscription;
  readonly #visibility: Entry | null;
  readonly #unwatchConnection: () => void;
  readonly #onEvent = (event: FeedEvent) => {
    if (this.#buffered) this.#buffered.push(event);
    else if (this.#visibility?.reloading) {
      // Relations changed just before this event: hold it (and what follows) until they are read.
      this.#buffered = [event];
      void this.#release();
    } else this.#deliver(event);
  };
  #followWhales: (() => void) | null = null;

  constructor(
    private readonly deps: {
      bus: EventBus<FeedTopics>;
      visibility: VisibilityCache;
      updateOf(event: FeedEvent): FeedUpdate;
      /** Called once when the feed ends. */
      closed?: (watcher: FeedWatcher) => void;
      logger: Logger;
    },
    private readonly options: {
      topic: 'homeFeed' | 'publicFeed' | 'hashtagFeed';
      key: string;
      viewerId: string | null;
      home: boolean;
      after: string | null;
      /** Truths published after `cursor`, oldest first, as the viewer may see them. */
      catchUp(cursor: ListCursor): Promise<TruthRecord[]>;
    },
  ) {
    this.#last = options.after ? { truthId: options.after } : { position: positionAt(Date.now()) };
    this.#feed = deps.bus.subscribe(options.topic, options.key, this.#onEvent);
    this.#visibility = options.viewerId ? deps.visibility.acquire(options.viewerId) : null;
    if (options.home && this.#visibility) {
      this.#whales = new Map();
      this.#followWhales = () => void this.#syncWhales();
      this.#visibility.onChange.add(this.#followWhales);
    }
    this.#unwatchConnection = deps.bus.watchConnection({
      dropped: () => {
        this.#buffered ??= [];
      },
      resubscribed: () => this.#recover(this.#last),
    });
    this.stream = createEventStream<FeedUpdate>({
      maxQueued: 500,
      overflowError: slowConsumer,
      onClose: () => this.#close(),
    });
    this.#catchingUp = this.#start();
    this.#catchingUp.catch((error: unknown) => this.stream.fail(error as Error));
  }

  get #hidden(): ReadonlySet<string> {
    return this.#visibility?.hidden ?? nobody;
  }

  async #start() {
    await Promise.all([this.#feed.ready, this.#visibility?.ready]);
    await this.#syncWhales();
    if (this.options.after) await this.#catchUpFrom(this.#last);
    await this.#release();
  }

  /** After a lost stretch of events: catch up from `cursor`, then release what was held. */
  #recover(cursor: ListCursor) {
    this.#buffered ??= [];
    this.#catchingUp = this.#catchingUp
      .then(async () => {
        if (this.stream.closed) return;
        await this.#catchUpFrom(cursor);
        await this.#release();
      })
      .catch((error: unknown) => this.stream.fail(error as Error));
  }

  async #catchUpFrom(cursor: ListCursor) {
    const caughtUp = new Set<string>();
    this.#caughtUp = caughtUp;
    for (const truth of await this.options.catchUp(cursor)) {
      const id = truth._id.toHexString();
      caughtUp.add(id);
      this.#last = { truthId: id };
      this.stream.push({ kind: 'posted', truth });
    }
  }

  /** Delivers the held events, in order, once the viewer's relations are current. */
  async #release() {
    let reloading: Promise<void> | null | undefined;
    while ((reloading = this.#visibility?.reloading)) await reloading;
    const buffered = this.#buffered ?? [];
    this.#buffered = null;
    for (const event of buffered) this.#deliver(event);
  }

  async #syncWhales() {
    const channels = this.#whales;
    if (!channels || this.stream.closed) return;
    const wanted = this.#visibility?.whales ?? [];
    for (const [whale, channel] of channels) {
      if (!wanted.includes(whale)) {
        channel.unsubscribe();
        channels.delete(whale);
      }
    }
    const added = wanted
      .filter((whale) => !channels.has(whale))
      .map((whale) => {
        const channel = this.deps.bus.subscribe('authorPosted', whale, this.#onEvent);
        channels.set(whale, channel);
        return channel.ready;
      });
    await Promise.all(added);
  }

  #deliver(event: FeedEvent) {
    const hidden = this.#hidden;
    if (event.type === 'deleted') {
      if (!hidden.has(event.authorId)) this.stream.push(this.deps.updateOf(event));
      return;
    }
    if (event.type === 'edited') {
      if (!hidden.has(event.truth.authorId)) this.stream.push(this.deps.updateOf(event));
      return;
    }
    if (this.#caughtUp?.has(event.truth.id)) return;
    // Delivered or not, the subscriber is past it: a catch-up resumes after it.
    this.#last = { truthId: event.truth.id };
    if (hidden.has(event.truth.authorId)) return;
    if (event.originalAuthorId && hidden.has(event.originalAuthorId)) return;
    this.stream.push(this.deps.updateOf(event));
  }

  /** The feed's topic, key and viewer. */
  get feed() {
    return this.options;
  }

  /**
   * Takes truths out of this live feed (their author was suspended): a `TruthDeleted` each,
   * in order with its other events (held with them while they are held).
   */
  retract(authorId: string, truthIds: readonly string[]): void {
    for (const truthId of truthIds) this.#onEvent({ type: 'deleted', truthId, authorId });
  }

  #close() {
    this.deps.closed?.(this);
    this.#feed.unsubscribe();
    this.#unwatchConnection();
    if (this.#whales) {
      for (const channel of this.#whales.values()) channel.unsubscribe();
      this.#whales = null;
    }
    if (this.options.viewerId && this.#visibility) {
      if (this.#followWhales) this.#visibility.onChange.delete(this.#followWhales);
      this.deps.visibility.release(this.options.viewerId);
    }
  }
}
