import mongoose, { type Connection } from 'mongoose';
import {
  OutcomeUnknownError,
  ServiceUnavailableError,
  isDuplicateKeyError,
  isUnavailableError,
  type OutcomeCheck,
} from '../lib/errors.js';
import { currentBudget } from '../lib/request-budget.js';
import type { Logger } from './logger.js';

export type { Connection };

/**
 * Opens a dedicated mongoose connection (not the global one, so several Verity instances can
 * share a process in tests) and resolves once the server answers.
 *
 * Timeouts are short on purpose: with the database gone, a request fails in about five
 * seconds with a retryable error instead of mongoose's default 10 s buffering plus 30 s of
 * server selection. Commands are not buffered while disconnected for the same reason.
 */
export async function connectMongo(options: {
  uri: string;
  dbName?: string | undefined;
  logger: Logger;
  /** Emit the driver's command events (`commandStarted`, ...) on the client: for diagnostics. */
  monitorCommands?: boolean;
}): Promise<Connection> {
  // MONGODB_DB, else the database named in the URI, else "verity" (never the driver's "test").
  const uriDb = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]+)/.exec(options.uri)?.[1];
  const connection = mongoose.createConnection(options.uri, {
    dbName: options.dbName ?? (uriDb ? decodeURIComponent(uriDb) : 'verity'),
    serverSelectionTimeoutMS: 5_000,
    connectTimeoutMS: 5_000,
    socketTimeoutMS: 30_000,
    maxPoolSize: 50,
    bufferCommands: false,
    monitorCommands: options.monitorCommands ?? false,
    autoIndex: false,
    autoCreate: false,
  });
  connection.on('disconnected', () => options.logger.warn('MongoDB disconnected'));
  connection.on('reconnected', () => options.logger.info('MongoDB reconnected'));
  await connection.asPromise();
  options.logger.info({ db: connection.name }, 'MongoDB connected');
  return connection;
}

/** True when MongoDB answers a ping within `timeoutMs`. */
export async function pingMongo(connection: Connection, timeoutMs = 1_000): Promise<boolean> {
  const db = connection.db;
  if (!db || connection.readyState !== mongoose.ConnectionStates.connected) return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      db.command({ ping: 1 }).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Time kept back from a request's budget to answer after a write's last attempt. */
const answerMarginMs = 250;

/** Errors of a command that never reached the server (nothing can have been written). */
const notSentErrorNames = new Set(['MongoServerSelectionError', 'MongoNotConnectedError']);

/**
 * Inserts a document whose `_id` identifies it, and learns for certain whether it landed.
 * When MongoDB does not answer (down, restarting, a dropped connection after the insert was
 * sent), the insert is sent again with the same `_id` until it succeeds, proves to have landed
 * already (E11000 on a retry), or `deadlineMs` passes. Then:
 * - `inserted`: stored by this call;
 * - `duplicate`: refused by a unique index on the first attempt (the caller decides what that
 *   means), or on a retry (then it is normally our own earlier attempt: see `retried`);
 * - an unavailable error, when no attempt can have reached the server (nothing was written);
 * - `OutcomeUnknownError` with `unknown`, when an attempt may have reached it.
 * Within a request (lib/request-budget.ts) the deadline is the request's own, less the time to
 * answer, and no attempt starts once the request was answered as timed out.
 */
export async function insertResolved(
  insert: () => Promise<unknown>,
  options: { deadlineMs?: number; unknown: Readonly<OutcomeCheck> },
): Promise<{ outcome: 'inserted' } | { outcome: 'duplicate'; retried: boolean }> {
  const budget = currentBudget();
  const deadline = Math.min(
    Date.now() + (options.deadlineMs ?? 10_000),
    budget ? budget.deadlineAt - answerMarginMs : Infinity,
  );
  let maybeSent = false;
  let delayMs = 100;
  for (let attempt = 0; ; attempt++) {
    if (budget?.expired) {
      const late = new ServiceUnavailableError('the request timed out before its write');
      if (maybeSent) throw new OutcomeUnknownError(options.unknown, { cause: late });
      throw late;
    }
    // Said here too for inserts that do not go through `createInserter`.
    if (budget) budget.wrote = true;
    try {
      await insert();
      return { outcome: 'inserted' };
    } catch (error) {
      if (isDuplicateKeyError(error)) return { outcome: 'duplicate', retried: attempt > 0 };
      if (!isUnavailableError(error)) throw error;
      if (!notSentErrorNames.has((error as Error).name)) maybeSent = true;
      if (Date.now() + delayMs > deadline) {
        if (maybeSent) throw new OutcomeUnknownError(options.unknown, { cause: error });
        throw error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 1_000);
  }
}

/**
 * Reads a whole collection in batches of `batchSize`, in `_id` order, handing each batch to
 * `onBatch` before reading the next. For rebuilding the read model only (infra/read-model.ts):
 * it is the one place that reads collections that grow with the network.
 */
export async function scanCollection<T>(
  model: {
    collection: {
      find(filter: object, options: object): { batchSize(size: number): AsyncIterable<unknown> };
    };
  },
  onBatch: (batch: T[]) => Promise<void> | void,
  options: { filter?: object; projection?: object; batchSize?: number } = {},
): Promise<number> {
  const batchSize = options.batchSize ?? 2_000;
  const cursor = model.collection
    .find(options.filter ?? {}, { projection: options.projection })
    .batchSize(batchSize);
  let batch: T[] = [];
  let seen = 0;
  for await (const document of cursor) {
    batch.push(document as T);
    if (batch.length >= batchSize) {
      seen += batch.length;
      await onBatch(batch);
      batch = [];
    }
  }
  if (batch.length > 0) {
    seen += batch.length;
    await onBatch(batch);
  }
  return seen;
}

interface Waiting<T> {
  record: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface WriteErrorLike {
  index: number;
  code?: number;
  errmsg?: string;
}

/** Inserts documents of one collection, in groups under load (see `createInserter`). */
export interface Inserter<T> {
  /** Resolves once `record` is stored; rejects with its own error (E11000 for a duplicate). */
  insert(record: T): Promise<void>;
}

/**
 * Inserts documents in groups: calls that arrive while a write is in flight are sent together
 * as one unordered `insertMany` when it returns (group commit). Under load this turns hundreds
 * of single-document writes, each its own database transaction, into a few large ones; alone,
 * a document is written at once. Each caller still learns its own outcome: a document refused
 * by a unique index rejects only its caller, with the server's error code (E11000), and the
 * others are stored; a failure of the whole write rejects every caller of that group.
 */
export function createInserter<T>(
  collection: { insertMany(records: T[], options: { ordered: false }): Promise<unknown> },
  options: { maxBatch?: number } = {},
): Inserter<T> {
  const maxBatch = options.maxBatch ?? 500;
  let queue: Waiting<T>[] = [];
  let writing = false;

  const write = async (): Promise<void> => {
    writing = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        await collection.insertMany(
          batch.map((w) => w.record),
          { ordered: false },
        );
        for (const waiting of batch) waiting.resolve();
      } catch (error) {
        const writeErrors = [
          (error as { writeErrors?: WriteErrorLike | WriteErrorLike[] }).writeErrors ?? [],
        ].flat();
        // Without per-document errors the write failed as a whole (the driver reports a lost
        // connection as a bulk write error with none): nothing is known to be stored.
        if (writeErrors.length === 0) {
          for (const waiting of batch) waiting.reject(error);
          continue;
        }
        const failed = new Map<number, WriteErrorLike>();
        for (const writeError of writeErrors) failed.set(writeError.index, writeError);
        batch.forEach((waiting, index) => {
          const writeError = failed.get(index);
          if (!writeError) waiting.resolve();
          else
            waiting.reject(
              Object.assign(new Error(writeError.errmsg ?? 'insert refused'), {
                code: writeError.code,
              }),
            );
        });
      }
    }
    writing = false;
  };

  return {
    insert(record) {
      // The request's answer must know that a write may be stored (lib/request-budget.ts).
      const budget = currentBudget();
      if (budget) budget.wrote = true;
      return new Promise<void>((resolve, reject) => {
        queue.push({ record, resolve, reject });
        if (!writing) void write();
      });
    },
  };
}
