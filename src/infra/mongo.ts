import mongoose, { type Connection } from 'mongoose';
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
