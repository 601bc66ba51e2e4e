/**
 * Every error a client sees carries one of these in `extensions.code`. The first ten are
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
  /** The account is suspended by a moderator: it cannot sign in (modules/moderation). */
  ACCOUNT_SUSPENDED: 'ACCOUNT_SUSPENDED',
  /**
   * MongoDB or Redis did not answer, or the request ran out of time (REQUEST_TIMEOUT_MS):
   * always `retryable`, with `retryAfter` (seconds, as RATE_LIMITED has it; `retryAfterSeconds`
   * is its older name). Nothing was changed, unless the error also
   * says `outcome: "UNKNOWN"`.
   */
  UNAVAILABLE: 'UNAVAILABLE',
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

/** One input a request got wrong: the input field it names (as in the schema) and why. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/**
 * An error about one or more input fields. Its message is theirs, one sentence each; the
 * `extensions` name them: `fields` lists every one with its own message, and `field` is the
 * first (what clients read before `fields` existed).
 */
export function fieldsError(code: ErrorCode, errors: readonly [FieldError, ...FieldError[]]) {
  return new VerityError(code, errors.map((error) => error.message).join(' '), {
    field: errors[0].field,
    fields: errors,
  });
}

/** A BAD_USER_INPUT, naming `field` (in `field` and `fields`) when one input is at fault. */
export const badUserInput = (message: string, field?: string) =>
  field
    ? fieldsError(ErrorCode.BAD_USER_INPUT, [{ field, message }])
    : new VerityError(ErrorCode.BAD_USER_INPUT, message);

/** The fields a BAD_USER_INPUT names; empty for any other error. */
function inputErrorsOf(error: unknown): readonly FieldError[] {
  if (!(error instanceof VerityError) || error.code !== ErrorCode.BAD_USER_INPUT) return [];
  const fields = error.details['fields'];
  return Array.isArray(fields) ? (fields as FieldError[]) : [];
}

/**
 * Runs every check of a request's input, each a function that returns a validated value or
 * throws BAD_USER_INPUT naming its field, and returns their values in order. When any fails,
 * it throws one BAD_USER_INPUT naming every field that failed (a check may name several), so
 * a client learns all its mistakes at once. Any other error is thrown as it comes.
 */
export function validateTogether<T extends unknown[]>(
  ...checks: { [K in keyof T]: () => T[K] }
): T {
  const values: unknown[] = [];
  const errors: FieldError[] = [];
  for (const check of checks) {
    try {
      values.push(check());
    } catch (error) {
      const fields = inputErrorsOf(error);
      if (fields.length === 0) throw error;
      errors.push(...fields);
      values.push(undefined);
    }
  }
  const [first, ...rest] = errors;
  if (first) throw fieldsError(ErrorCode.BAD_USER_INPUT, [first, ...rest]);
  return values as T;
}

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
/** A CONFLICT, naming `field` as a BAD_USER_INPUT does when an input's value is taken. */
export const conflict = (message: string, field?: string) =>
  field
    ? fieldsError(ErrorCode.CONFLICT, [{ field, message }])
    : new VerityError(ErrorCode.CONFLICT, message);

/** When a client should retry after UNAVAILABLE (`extensions.retryAfterSeconds`). */
export const retryAfterSeconds = 1;

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

/**
 * Replies of a Redis Cluster whose slots are moving (a failover): a command that got one did not
 * run. ioredis follows them for a command of its own, but not for one of an automatic pipeline
 * whose other commands answered otherwise: that one fails with the reply.
 */
const clusterMoving = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;

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
    error.message.includes("Stream isn't writeable") ||
    (error.name === 'ReplyError' && clusterMoving.test(error.message))
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
