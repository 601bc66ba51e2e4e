/**
 * Every error a client sees carries one of these in `extensions.code`. The first eight are
 * Verity's own; the parse and validation codes are Apollo Server's, kept so that clients can
 * tell a malformed document from a bad value, and applied on the WebSocket path too.
 */
export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  RATE_LIMITED: 'RATE_LIMITED',
  WAITLISTED: 'WAITLISTED',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An error whose message is written for the client, thrown by services. Anything else thrown
 * inside Verity is treated as internal: logged in full, shown as "Internal server error".
 * `details` become extra `extensions` (for example `field`, `retryAfterSeconds`).
 */
export class VerityError extends Error {
  override name = 'VerityError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

export const badUserInput = (message: string, field?: string) =>
  new VerityError(ErrorCode.BAD_USER_INPUT, message, field ? { field } : {});
/**
 * Why a session token was refused: `expired`, `invalid` (forged, malformed, of another kind, or
 * its account is gone), `revoked` (signed out), or `missing` (none was sent).
 */
export type SessionProblem = 'expired' | 'invalid' | 'revoked' | 'missing';

export const unauthenticated = (
  message = 'You must be signed in to do this.',
  reason?: SessionProblem,
) => new VerityError(ErrorCode.UNAUTHENTICATED, message, reason ? { reason } : {});
export const forbidden = (message = 'You are not allowed to do this.') =>
  new VerityError(ErrorCode.FORBIDDEN, message);
export const notFound = (message: string) => new VerityError(ErrorCode.NOT_FOUND, message);
export const conflict = (message: string, field?: string) =>
  new VerityError(ErrorCode.CONFLICT, message, field ? { field } : {});

/**
 * Thrown when MongoDB or Redis does not answer in time. The client is told to retry; the cause
 * is logged, never shown.
 */
export class ServiceUnavailableError extends Error {
  override name = 'ServiceUnavailableError';
}

const unavailableErrorNames = new Set([
  'ServiceUnavailableError',
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MaxRetriesPerRequestError',
]);

/** True for failures of MongoDB or Redis being unreachable, which a retry may fix. */
export function isUnavailableError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // A grouped insert that failed as a whole, with no document refused: the connection, not
  // the data (the driver wraps a refused or lost connection this way).
  const bulk = error as { writeErrors?: unknown };
  if (
    error.name === 'MongoBulkWriteError' &&
    (bulk.writeErrors === undefined ||
      (Array.isArray(bulk.writeErrors) && bulk.writeErrors.length === 0))
  ) {
    return true;
  }
  return (
    unavailableErrorNames.has(error.name) ||
    error.message === 'Command timed out' ||
    error.message.startsWith('Connection is closed') ||
    error.message.includes("Stream isn't writeable")
  );
}

/** How a client can learn the outcome of a write: the object it would have made, to look up. */
export interface OutcomeCheck {
  check?: { type: 'Truth' | 'User' | 'Notification'; id: string };
  [detail: string]: unknown;
}

/**
 * A write whose outcome Verity could not learn: MongoDB stopped answering after the write was
 * sent, and kept silent for as long as Verity retried. It may or may not have been stored;
 * `details` says how the client can find out.
 */
export class OutcomeUnknownError extends Error {
  override name = 'OutcomeUnknownError';
  constructor(
    readonly details: Readonly<OutcomeCheck>,
    options?: ErrorOptions,
  ) {
    super('the outcome of a write is unknown', options);
  }
}

/** True for a MongoDB duplicate-key error (E11000) on insert. */
export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 11000;
}

/**
 * A subscriber fell too far behind its event stream. The WebSocket transport closes that
 * connection with close code 4429 (see transport/ws.ts); the client reconnects and catches up.
 */
export class SlowConsumerError extends Error {
  override name = 'SlowConsumerError';
  constructor() {
    super('This connection fell too far behind its events and was closed. Reconnect to catch up.');
  }
}
