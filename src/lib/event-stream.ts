/** Where a stream in push mode delivers. */
export interface EventSink<T> {
  onEvent(value: T): void;
  onEnd(): void;
  onFail(error: Error): void;
}

/**
 * A push-to-pull bridge for subscriptions: events are pushed as they arrive and either pulled
 * with `for await`, or pushed on to one consumer (`consume`). The queue is bounded: when a
 * consumer falls more than `maxQueued` events behind, the queue is dropped and the stream fails
 * with the error from `overflowError()`, so one slow client can never grow the server's memory.
 *
 * `onClose` runs exactly once, whether the consumer returns early, the stream ends, or it
 * fails; that is where listeners are removed.
 *
 * A class rather than closures: a server holds one per live subscription, tens of thousands of
 * them, and prototype methods cost nothing per instance.
 */
export interface EventStream<T> extends AsyncIterableIterator<T> {
  /**
   * Switches to push mode: queued events go to `sink.onEvent` at once, later ones as they are
   * pushed, with no queue in between unless paused. The live hub uses this so that an event
   * reaches thousands of subscribers in one synchronous pass.
   */
  consume(sink: EventSink<T>): void;
  /**
   * In push mode, holds events back in the bounded queue until `resume()`: how a consumer
   * applies backpressure. Overflowing the queue while paused fails the stream as usual.
   */
  pause(): void;
  resume(): void;
  /** Delivers an event, or queues it. Ignored after close. */
  push(value: T): void;
  /** Ends the stream after the queued events have been delivered. */
  end(): void;
  /** Fails the stream at once, dropping queued events. */
  fail(error: Error): void;
  readonly closed: boolean;
  readonly queued: number;
  /** Every event pushed is this stream's alone (see EventStreamOptions.personal). */
  readonly personal: boolean;
}

export interface EventStreamOptions {
  maxQueued: number;
  overflowError: () => Error;
  onClose?: () => void;
  /**
   * Each event pushed is an object made for this stream alone (a waitlist position), never
   * the same object as another stream's: a consumer has nothing to share between streams.
   */
  personal?: boolean;
}

class BoundedEventStream<T> implements EventStream<T> {
  #queue: T[] = [];
  #head = 0;
  #waiting:
    { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void } | undefined;
  #ending = false;
  #failure: Error | undefined;
  #closed = false;
  #sink: EventSink<T> | undefined;
  #paused = false;
  readonly #options: EventStreamOptions;

  constructor(options: EventStreamOptions) {
    this.#options = options;
  }

  get closed() {
    return this.#closed;
  }

  get queued() {
    return this.#queue.length - this.#head;
  }

  get personal() {
    return this.#options.personal === true;
  }

  #close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    this.#options.onClose?.();
  }

  #take(): T {
    const value = this.#queue[this.#head]!;
    this.#queue[this.#head] = undefined as T;
    this.#head += 1;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    return value;
  }

  #settleWaiting() {
    const waiting = this.#waiting;
    if (!waiting) return;
    if (this.#failure) {
      this.#waiting = undefined;
      this.#close();
      waiting.reject(this.#failure);
    } else if (this.#head < this.#queue.length) {
      this.#waiting = undefined;
      waiting.resolve({ value: this.#take(), done: false });
    } else if (this.#ending) {
      this.#waiting = undefined;
      this.#close();
      waiting.resolve({ value: undefined, done: true });
    }
  }

  consume(sink: EventSink<T>): void {
    if (this.#sink || this.#waiting) throw new Error('an event stream has one consumer');
    this.#sink = sink;
    this.resume();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    const sink = this.#sink;
    if (!sink) return;
    while (!this.#paused && this.#head < this.#queue.length && !this.#closed)
      sink.onEvent(this.#take());
    if (this.#paused || this.#closed || this.#head < this.#queue.length) return;
    if (this.#failure) {
      this.#close();
      sink.onFail(this.#failure);
    } else if (this.#ending) {
      this.#close();
      sink.onEnd();
    }
  }

  push(value: T): void {
    if (this.#closed || this.#ending || this.#failure) return;
    if (this.#sink && !this.#paused) {
      this.#sink.onEvent(value);
      return;
    }
    if (this.#waiting) {
      const { resolve } = this.#waiting;
      this.#waiting = undefined;
      resolve({ value, done: false });
      return;
    }
    this.#queue.push(value);
    if (this.#queue.length - this.#head > this.#options.maxQueued)
      this.fail(this.#options.overflowError());
  }

  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    if (this.#sink) {
      if (!this.#paused && this.#head >= this.#queue.length) {
        this.#close();
        this.#sink.onEnd();
      }
      return;
    }
    this.#settleWaiting();
  }

  fail(error: Error): void {
    if (this.#closed || this.#failure) return;
    this.#failure = error;
    this.#queue = [];
    this.#head = 0;
    if (this.#sink) {
      this.#close();
      this.#sink.onFail(error);
      return;
    }
    this.#settleWaiting();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#failure) {
      this.#close();
      return Promise.reject(this.#failure);
    }
    if (this.#head < this.#queue.length)
      return Promise.resolve({ value: this.#take(), done: false });
    if (this.#ending || this.#closed) {
      this.#close();
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.#close();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.#close();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export function createEventStream<T>(options: EventStreamOptions): EventStream<T> {
  return new BoundedEventStream<T>(options);
}
