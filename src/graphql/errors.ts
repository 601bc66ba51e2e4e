import { randomUUID } from 'node:crypto';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from '../infra/logger.js';
import { toGlobalId } from './global-id.js';
import { ErrorCode, OutcomeUnknownError, VerityError, isUnavailableError } from '../lib/errors.js';

export { ErrorCode };

/** Apollo Server's own request-level codes, whose messages are safe to show. */
const apolloClientCodes = [
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
];

const clientCodes: ReadonlySet<string> = new Set([
  ...Object.values(ErrorCode).filter((code) => code !== ErrorCode.INTERNAL_SERVER_ERROR),
  ...apolloClientCodes,
]);

/** HTTP statuses for errors raised before execution (while building the request context). */
const httpStatusByCode: Partial<Record<ErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  RATE_LIMITED: 429,
};

/** A `VerityError` as a GraphQLError, for places that must throw one (Apollo's context). */
export function toGraphQLError(error: VerityError): GraphQLError {
  const status = httpStatusByCode[error.code];
  return new GraphQLError(error.message, {
    originalError: error,
    extensions: { ...error.details, code: error.code, ...(status ? { http: { status } } : {}) },
  });
}

/** The innermost error behind GraphQL's wrappers (each wrapper keeps it as `originalError`). */
function originalOf(error: unknown): unknown {
  let current = error;
  while (
    current instanceof Error &&
    'originalError' in current &&
    current.originalError instanceof Error
  ) {
    current = current.originalError;
  }
  return current;
}

/**
 * Turns any error into what a client may see, on every transport:
 * - a `VerityError` keeps its message and code;
 * - an error that GraphQL or Apollo created (parse, validation, variable coercion) keeps its
 *   message and code;
 * - everything else becomes INTERNAL_SERVER_ERROR with an `errorId` matching the log line, and
 *   `retryable: true` when MongoDB or Redis was unreachable (nothing was changed); a write whose
 *   outcome could not be learnt also says `outcome: "UNKNOWN"` and how to check.
 * Stack traces and database text never leave the server.
 */
export function formatClientError(
  formatted: GraphQLFormattedError,
  error: unknown,
  logger: Logger,
): GraphQLFormattedError {
  const original = originalOf(error);
  const location = {
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
  };

  if (original instanceof VerityError) {
    return {
      message: original.message,
      ...location,
      extensions: { ...original.details, code: original.code },
    };
  }

  const code = formatted.extensions?.['code'];
  const createdByGraphQL = original instanceof GraphQLError || !(original instanceof Error);
  if (typeof code === 'string' && clientCodes.has(code) && createdByGraphQL) {
    const { stacktrace: _stacktrace, http: _http, ...extensions } = formatted.extensions ?? {};
    return { message: formatted.message, ...location, extensions };
  }

  const errorId = randomUUID();
  if (original instanceof OutcomeUnknownError) {
    const { check, ...details } = original.details;
    logger.warn(
      { err: original.cause, errorId, path: formatted.path },
      'outcome of a write unknown',
    );
    return {
      message:
        'Verity could not confirm whether this change was saved. Check, or retry it (with the same idempotency key).',
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: {
        code: ErrorCode.INTERNAL_SERVER_ERROR,
        errorId,
        retryable: true,
        outcome: 'UNKNOWN',
        ...details,
        // The global ID to look up (`node(id:)`) to learn whether it was stored.
        ...(check ? { checkId: toGlobalId(check.type, check.id) } : {}),
      },
    };
  }
  const retryable = isUnavailableError(original);
  logger.error(
    { err: original, errorId, path: formatted.path },
    'internal error in a GraphQL operation',
  );
  return {
    message: retryable
      ? 'Verity is briefly unavailable. Please retry in a moment.'
      : 'Internal server error',
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: {
      code: ErrorCode.INTERNAL_SERVER_ERROR,
      errorId,
      ...(retryable ? { retryable } : {}),
    },
  };
}
