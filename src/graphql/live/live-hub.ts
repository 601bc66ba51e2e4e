import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import type { Logger } from '../../infra/logger.js';
import { SlowConsumerError } from '../../lib/errors.js';
import type { EventSink, EventStream } from '../../lib/event-stream.js';
import type { GraphQLContext, Viewer } from '../context.js';
import { isPromise, type PromiseOrValue } from '../executor.js';
import { canonicalJson, liveShape, type LiveShape } from './shareable.js';
import { SiteRecorder, cutTemplate, frameOf, resolveColumns, type Template } from './splice.js';

/** A piece of a protocol message: bytes, or text to be written as UTF-8. */
export type MessagePart = Buffer | string;

/** One connection's end of the wire, provided by the transport (one object per connection). */
export interface LiveConnection {
  /** Writes one complete protocol message (a UTF-8 JSON text frame), `parts` in order. */
  send(parts: readonly MessagePart[]): void;
  /** Bytes written to this connection and not yet handed to the network. */
  bufferedBytes(): number;
  /** Cuts the connection off because it fell behind (see VerityCloseCode.SlowConsumer). */
  closeSlow(): void;
  /** Optional (timing): an event entered delivery; its frame follows in order, unless it ends. */
  received?(event: unknown): void;
}

export interface LiveHubOptions {
  schema: GraphQLSchema;
  /**
   * Runs one event's execution (graphql-js's `execute`, or a compiling executor): a result, or
   * its promise when a resolver answered later.
   */
  execute(args: ExecutionArgs): PromiseOrValue<ExecutionResult>;
  /**
   * The context of one event's execution: `viewer` is the subscriber's, or null for a shared
   * execution. Contexts for the same event must share their loaders, so that the per-viewer
   * parts of many subscribers batch into one query.
   */
  contextFor(event: object, viewer: Viewer | null, liveTemplate?: SiteRecorder): GraphQLContext;
  formatErrors(errors: readonly GraphQLError[]): GraphQLFormattedError[];
  /** Share executions between subscribers of the same operation (off: one per subscriber). */
  share: boolean;
  /** Above this many unsent bytes on its connection, a subscriber's source is paused. */
  maxBufferedBytes: number;
  /** Above this many events waiting for execution, a subscriber's source is paused. */
  maxPendingEvents: number;
  logger: Logger;
}

type Source = AsyncIterableIterator<unknown> &
  Partial<Pick<EventStream<unknown>, 'consume' | 'pause' | 'resume' | 'personal'>>;

/** Live delivery counters: `subscribers` are attached now, the others count since start. */
export interface LiveMetrics {
  executions: number;
  deliveries: number;
  slowConsumers: number;
  subscribers: number;
}

/** A result still executing, and the subscribers waiting for it. */
interface Pending {
  /** A payload, framed by each waiter with its own prefix. */
  bytes?: Buffer;
  /** Or its one waiter's whole message, in parts (a spliced or unshared result). */
  message?: readonly MessagePart[];
  failed?: unknown;
  readonly waiters: Subscriber[];
}

type Payload = Buffer | Pending;

/**
 * What an event holds per share key: a shared operation's result (its payload, its text until a
 * second member asks, or its pending execution), or a spliced operation's template.
 */
type Shared = Payload | string | TemplateSlot;

/** One event's template for a spliced operation (./splice.ts), executing or done. */
interface TemplateSlot {
  done: boolean;
  /** Null: not usable; every subscriber executes in full. */
  template?: Template | null;
  failed?: unknown;
  /** Subscribers waiting for their frames: spliced together, in one batch per site. */
  readonly members: { subscriber: Subscriber; pending: Pending }[];
  /** A batch of later arrivals is due (see splicedPayload). */
  scheduled: boolean;
}

interface Hub {
  readonly options: LiveHubOptions;
  readonly metrics: LiveMetrics;
  /** Per event object, per share key (see `Shared`). */
  readonly results: WeakMap<object, Map<string, Shared>>;
}

const closingBrace = Buffer.from('}');
const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;
const resumeCheckMs = 20;
const finished: IteratorResult<never> = { value: undefined, done: true };

/**
 * One subscription: the sink its source pushes into, and the iterator handle graphql-ws holds
 * (which yields nothing; it settles when the subscription ends). A class because a server
 * holds tens of thousands of these: its methods live once, on the prototype.
 */
class Subscriber implements EventSink<unknown>, AsyncIterableIterator<never> {
  /** Payloads not yet written, oldest first; null while nothing waits. */
  queue: Payload[] | null = null;
  paused = false;
  closed = false;
  /** The source ended; settle once the queue is written. */
  ending = false;
  detached = false;
  timer: NodeJS.Timeout | undefined;
  #done: Promise<IteratorResult<never>> | undefined;
  #settle:
    { resolve(result: IteratorResult<never>): void; reject(error: unknown): void } | undefined;
  #outcome: { error?: Error } | undefined;

  constructor(
    readonly hub: Hub,
    readonly connection: LiveConnection,
    readonly args: ExecutionArgs,
    readonly viewer: Viewer | null,
    readonly shape: LiveShape,
    /**
     * Same key, same result (shared) or template (spliced) for the same event; null when the
     * operation executes per subscriber.
     */
    readonly shareKey: string | null,
    /** `{"id":"<id>","type":"next","payload":` */
    readonly prefix: Buffer,
    readonly source: Source,
  ) {}

  onEvent(event: unknown): void {
    deliver(this, event);
  }

  onEnd(): void {
    if (this.closed) return;
    this.ending = true;
    if (!this.queue) {
      this.closed = true;
      this.settle({});
    }
  }

  onFail(error: Error): void {
    fail(this, error);
  }

  /** Ends the subscription for graphql-ws: normally, or with an error it reports. */
  settle(outcome: { error?: unknown }): void {
    detach(this);
    if (this.#outcome) return;
    const { error } = outcome;
    this.#outcome =
      error === undefined
        ? {}
        : {
            error:
              error instanceof Error ? error : new Error('subscription failed', { cause: error }),
          };
    if (!this.#settle) return;
    if (this.#outcome.error === undefined) this.#settle.resolve(finished);
    else this.#settle.reject(this.#outcome.error);
  }

  next(): Promise<IteratorResult<never>> {
    if (this.#outcome) {
      return this.#outcome.error === undefined
        ? Promise.resolve(finished)
        : Promise.reject(this.#outcome.error);
    }
    this.#done ??= new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    return this.#done;
  }

  return(): Promise<IteratorResult<never>> {
    this.closed = true;
    this.settle({});
    return Promise.resolve(finished);
  }

  async throw(error?: unknown): Promise<IteratorResult<never>> {
    await this.return();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Executes `event` for `subscriber` (or its share group) into a pending payload: settled at once
 * when the execution answers at once (every resolver did), else when it finishes. While only
 * `subscriber` waits for it (always, with no `onDone`: nothing shares it), the result is written
 * as its whole frame straight away; otherwise as the payload that each member frames. A shared
 * result is also handed to `onDone`: the payload, or its text when no other member asked yet
 * (most never do: a waitlist position is its subscriber's alone).
 */
function execution(
  subscriber: Subscriber,
  event: object,
  viewer: Viewer | null,
  onDone?: (shared: Buffer | string) => void,
  pending: Pending = { waiters: [] },
): Pending {
  const { options, metrics } = subscriber.hub;
  metrics.executions += 1;
  const finish = (result: ExecutionResult) => {
    let json: string;
    try {
      const body = result.errors
        ? { ...result, errors: options.formatErrors(result.errors) }
        : result;
      json = JSON.stringify(body);
    } catch (error) {
      settle(pending, { failed: error });
      return;
    }
    const { waiters } = pending;
    if (waiters.length === 0 || (waiters.length === 1 && waiters[0] === subscriber)) {
      onDone?.(json);
      // Encoded once, straight into the frame the transport writes.
      settle(pending, { message: [subscriber.prefix, json, closingBrace] });
      return;
    }
    const bytes = Buffer.from(json);
    onDone?.(bytes);
    settle(pending, { bytes });
  };
  const failed = (error: unknown) => settle(pending, { failed: error });
  try {
    const result = options.execute({
      ...subscriber.args,
      rootValue: event,
      contextValue: options.contextFor(event, viewer),
    });
    if (isPromise(result)) result.then(finish, failed);
    else finish(result);
  } catch (error) {
    failed(error);
  }
  return pending;
}

/** Settles a pending payload: its waiters write it, or fail with it. */
function settle(
  pending: Pending,
  outcome: { bytes: Buffer } | { message: readonly MessagePart[] } | { failed: unknown },
) {
  if ('failed' in outcome) {
    pending.failed = outcome.failed ?? new Error('execution failed');
    for (const waiter of pending.waiters) fail(waiter, pending.failed);
    return;
  }
  if ('bytes' in outcome) pending.bytes = outcome.bytes;
  else pending.message = outcome.message;
  for (const waiter of pending.waiters) flush(waiter);
}

/** The template of `event` for a spliced operation: executed by the first subscriber to ask. */
function templateFor(
  subscriber: Subscriber,
  event: object,
  byKey: Map<string, Shared>,
  key: string,
): TemplateSlot {
  const known = byKey.get(key) as TemplateSlot | undefined;
  if (known) return known;
  const slot: TemplateSlot = { done: false, members: [], scheduled: false };
  byKey.set(key, slot);
  const { options, metrics } = subscriber.hub;
  metrics.executions += 1;
  const recorder = new SiteRecorder();
  void (async () => {
    try {
      const result = await options.execute({
        ...subscriber.args,
        rootValue: event,
        contextValue: options.contextFor(event, null, recorder),
      });
      slot.template = cutTemplate(result, recorder);
    } catch (error) {
      slot.failed = error ?? new Error('execution failed');
    }
    slot.done = true;
    spliceMembers(slot, event);
  })();
  return slot;
}

/**
 * Everyone waiting for an event's template gets their frame: every site's values for all of
 * them in one read per site (its batch form), then one frame each. A member whose values cannot
 * be spliced executes in full.
 */
function spliceMembers(slot: TemplateSlot, event: object): void {
  const members = slot.members.splice(0);
  if (members.length === 0) return;
  const { template, failed } = slot;
  if (failed !== undefined) {
    for (const { pending } of members) settle(pending, { failed });
    return;
  }
  const inFull = ({ subscriber, pending }: (typeof members)[number]) => {
    execution(subscriber, event, subscriber.viewer, undefined, pending);
  };
  if (!template) {
    members.forEach(inFull);
    return;
  }
  const { options } = members[0]!.subscriber.hub;
  const write = (columns: (Buffer | undefined)[][]) =>
    members.forEach((member, k) => {
      const message = frameOf(
        template,
        (site) => columns[site]![k],
        member.subscriber.prefix,
        closingBrace,
      );
      if (message) settle(member.pending, { message });
      else inFull(member);
    });
  if (template.sites.length === 0) {
    write([]);
    return;
  }
  resolveColumns(
    template,
    members.map(({ subscriber }) => subscriber.viewer?.id ?? null),
    options.contextFor(event, null),
    (k) => options.contextFor(event, members[k]!.subscriber.viewer),
  ).then(write, (error: unknown) => {
    for (const { pending } of members) settle(pending, { failed: error });
  });
}

/**
 * A spliced subscriber's frame: the event's template with the subscriber's own values, spliced
 * together with everyone else's who asked in the same pass (one batch per site); the operation
 * executed in full for it when the template or a value cannot be used.
 */
function splicedPayload(subscriber: Subscriber, event: object, slot: TemplateSlot): Pending {
  const pending: Pending = { waiters: [] };
  slot.members.push({ subscriber, pending });
  // Once the template is there, later arrivals (the next routed message of the same event) are
  // batched per pass: a source pushes a whole message's subscribers synchronously.
  if (slot.done && !slot.scheduled) {
    slot.scheduled = true;
    queueMicrotask(() => {
      slot.scheduled = false;
      spliceMembers(slot, event);
    });
  }
  return pending;
}

function payloadFor(subscriber: Subscriber, event: unknown): Payload {
  if (typeof event !== 'object' || event === null)
    throw new TypeError('live events must be objects');
  const key = subscriber.shareKey;
  if (!key) return execution(subscriber, event, subscriber.viewer);
  const { results } = subscriber.hub;
  let byKey = results.get(event);
  if (!byKey) {
    byKey = new Map();
    results.set(event, byKey);
  }
  if (subscriber.shape === 'spliced')
    return splicedPayload(subscriber, event, templateFor(subscriber, event, byKey, key));
  let known = byKey.get(key) as Payload | string | undefined;
  if (typeof known === 'string') {
    // The first member took its whole frame; the payload is made for the second to ask.
    known = Buffer.from(known);
    byKey.set(key, known);
  }
  if (known) return known;
  const pending: Pending = { waiters: [] };
  byKey.set(key, pending);
  return execution(subscriber, event, null, (bytes) => byKey.set(key, bytes), pending);
}

function detach(subscriber: Subscriber): void {
  if (subscriber.detached) return;
  subscriber.detached = true;
  clearTimeout(subscriber.timer);
  subscriber.hub.metrics.subscribers -= 1;
  void subscriber.source.return?.();
}

function cutOff(subscriber: Subscriber): void {
  if (subscriber.closed) return;
  subscriber.closed = true;
  detach(subscriber);
  subscriber.hub.metrics.slowConsumers += 1;
  subscriber.hub.options.logger.info('cutting off a subscriber that fell behind');
  subscriber.connection.closeSlow();
}

const queued = (subscriber: Subscriber) => subscriber.queue?.length ?? 0;

/** The connection holds more unsent bytes than allowed: nothing more may be written to it. */
const overBuffered = (subscriber: Subscriber) =>
  subscriber.connection.bufferedBytes() > subscriber.hub.options.maxBufferedBytes;

function congested(subscriber: Subscriber): boolean {
  return queued(subscriber) >= subscriber.hub.options.maxPendingEvents || overBuffered(subscriber);
}

function relieved(subscriber: Subscriber): boolean {
  const { maxPendingEvents, maxBufferedBytes } = subscriber.hub.options;
  return (
    queued(subscriber) <= maxPendingEvents / 2 &&
    subscriber.connection.bufferedBytes() <= maxBufferedBytes / 2
  );
}

/** Pauses a congested subscriber's source, and resumes it once it has caught up. */
function regulate(subscriber: Subscriber): void {
  if (subscriber.closed || subscriber.paused || !congested(subscriber)) return;
  const { source } = subscriber;
  if (!source.pause || !source.resume) {
    cutOff(subscriber);
    return;
  }
  subscriber.paused = true;
  source.pause();
  const check = () => {
    if (subscriber.closed) return;
    // Payloads held back by a full buffer go out first, in order, as it drains.
    if (subscriber.queue && !overBuffered(subscriber)) flush(subscriber);
    if (subscriber.closed) return;
    if (!relieved(subscriber)) {
      subscriber.timer = setTimeout(check, resumeCheckMs);
      return;
    }
    subscriber.paused = false;
    source.resume?.();
  };
  subscriber.timer = setTimeout(check, resumeCheckMs);
}

/** A ready payload's message for `subscriber`, in parts; undefined while it is not ready. */
function messageOf(subscriber: Subscriber, payload: Payload): readonly MessagePart[] | undefined {
  const bytes = Buffer.isBuffer(payload) ? payload : payload.bytes;
  if (bytes) return [subscriber.prefix, bytes, closingBrace];
  return (payload as Pending).message;
}

function write(subscriber: Subscriber, message: readonly MessagePart[]): void {
  subscriber.hub.metrics.deliveries += 1;
  subscriber.connection.send(message);
  regulate(subscriber);
}

function fail(subscriber: Subscriber, error: unknown): void {
  if (subscriber.closed) return;
  if (error instanceof SlowConsumerError) {
    cutOff(subscriber);
    return;
  }
  subscriber.closed = true;
  subscriber.settle({ error });
}

/**
 * Writes the subscriber's queued payloads that are ready, in order, up to the first that is not
 * or until the connection's buffer is full; `regulate` writes the rest as it drains. Checking
 * before each write bounds what a connection holds to `maxBufferedBytes` plus one frame, so a
 * slow consumer's close frame (4420) waits behind no more than that.
 */
function flush(subscriber: Subscriber): void {
  const queue = subscriber.queue;
  if (!queue || subscriber.closed) return;
  while (queue.length > 0) {
    const message = messageOf(subscriber, queue[0]!);
    if (!message) return;
    if (overBuffered(subscriber)) {
      regulate(subscriber);
      return;
    }
    queue.shift();
    write(subscriber, message);
    if (subscriber.closed) return;
  }
  subscriber.queue = null;
  if (subscriber.ending) subscriber.onEnd();
}

function deliver(subscriber: Subscriber, event: unknown): void {
  if (subscriber.closed) return;
  subscriber.connection.received?.(event);
  let payload: Payload;
  try {
    payload = payloadFor(subscriber, event);
  } catch (error) {
    fail(subscriber, error);
    return;
  }
  // The common case after the first subscriber of an event: bytes ready, nothing queued.
  if (!subscriber.queue && !overBuffered(subscriber)) {
    const message = messageOf(subscriber, payload);
    if (message) {
      write(subscriber, message);
      return;
    }
  }
  if (!Buffer.isBuffer(payload)) {
    if (payload.failed !== undefined) {
      fail(subscriber, payload.failed);
      return;
    }
    // Executions run concurrently; each subscriber's queue keeps its events in arrival order,
    // and a result that resolves writes to all its waiters in one pass.
    if (!payload.bytes && !payload.message) payload.waiters.push(subscriber);
  }
  (subscriber.queue ??= []).push(payload);
  flush(subscriber);
  regulate(subscriber);
}

/**
 * Delivers subscription events, executing each event once per distinct operation instead of
 * once per subscriber.
 *
 * graphql-ws on its own runs `execute()` and `JSON.stringify` for every subscriber of every
 * event. Here, subscribers of the same document and variables are one group (see
 * ./shareable.ts for the three shapes):
 * - shared (no `@perViewer` field): the first of them to see an event executes it (with no
 *   viewer) and serialises the result once; every other member reuses those bytes, framed with
 *   its own subscription id;
 * - spliced (only `@perViewer` leaves): the first executes a template once; each member's
 *   frame is the template's bytes with its own values spliced in (./splice.ts), every member's
 *   values loading in one batch on the event's loaders;
 * - personal (a `@perViewer` field with a selection, such as `me`): one execution per
 *   subscriber, on loaders shared by the whole event, so their per-viewer parts still load in
 *   one batch however many subscribers there are.
 *
 * "The same event" means the same object: services hand every subscriber of one event the same
 * object, and filter per subscriber (blocks, mutes) before it gets here.
 *
 * Sources in push mode (EventStream) call in synchronously, so one Redis message reaches every
 * local subscriber in a single pass, close to a raw broadcast.
 *
 * A frame reaches the connection in parts (the subscriber's prefix, the shared payload, the
 * closing brace; or a template's segments with the subscriber's values between them), never
 * joined here: the transport copies them once, into the buffer it writes as one WebSocket frame
 * (transport/ws-adapter.ts, `writeTextMessage`).
 *
 * Backpressure, and why nothing grows without bound: when a subscriber's connection holds more
 * than `maxBufferedBytes` unsent, or more than `maxPendingEvents` of its events wait for
 * execution, its source is paused, and events wait in the source's own bounded queue (a
 * reconnecting client's catch-up burst fits there). A client that stays behind until that queue
 * overflows is cut off with 4420 and catches up with its cursor when it reconnects. A source
 * that cannot pause is cut off at once.
 */
export function createLiveHub(options: LiveHubOptions) {
  const hub: Hub = {
    options,
    metrics: { executions: 0, deliveries: 0, slowConsumers: 0, subscribers: 0 },
    results: new WeakMap(),
  };

  return {
    metrics: hub.metrics,

    /**
     * For graphql-ws's `subscribe` hook: resolves the source stream (running the root field's
     * `subscribe`, which authorises and may fail with errors returned as a result), then feeds
     * its events to `connection` as subscription `id`. The returned iterable yields nothing
     * itself; it ends when the source ends (after the last event is written), and is how
     * graphql-ws stops the subscription (`return()`) when the client completes it or the
     * socket closes.
     */
    async subscribe(
      args: ExecutionArgs,
      target: { connection: LiveConnection; id: string; viewer: Viewer | null },
    ): Promise<AsyncIterableIterator<never> | ExecutionResult> {
      const result = await createSourceEventStream(args);
      if (!(Symbol.asyncIterator in result)) return result;
      const source = result as Source;

      let documentId = documentIds.get(args.document);
      if (documentId === undefined) {
        documentId = nextDocumentId++;
        documentIds.set(args.document, documentId);
      }
      // A source whose events are each its own (a waitlist position) has nothing to share:
      // its subscriber executes each event itself, with no share bookkeeping per event.
      const shape =
        options.share && source.personal !== true
          ? liveShape(options.schema, args.document)
          : 'personal';
      const shareKey =
        shape === 'personal'
          ? null
          : `${documentId}:${args.operationName ?? ''}:${canonicalJson(args.variableValues ?? {})}`;
      const subscriber = new Subscriber(
        hub,
        target.connection,
        args,
        target.viewer,
        shape,
        shareKey,
        Buffer.from(`{"id":${JSON.stringify(target.id)},"type":"next","payload":`),
        source,
      );
      hub.metrics.subscribers += 1;

      if (typeof source.consume === 'function') {
        source.consume(subscriber);
      } else {
        void (async () => {
          try {
            for await (const event of source) {
              if (subscriber.closed) break;
              deliver(subscriber, event);
            }
            subscriber.onEnd();
          } catch (error) {
            fail(subscriber, error);
          }
        })();
      }
      return subscriber;
    },
  };
}

export type LiveHub = ReturnType<typeof createLiveHub>;
