import { randomUUID } from 'node:crypto';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from '../infra/logger.js';
import { toGlobalId } from './global-id.js';
import {
  ErrorCode,
  OutcomeUnknownError,
  VerityError,
  isUnavailableError,
  retryAfterSeconds,
} from '../lib/errors.js';

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

/**
 * Where an error happened: the request's id (an HTTP request or a WebSocket operation) and the
 * logger bound to it. Every error a client sees carries the id as `extensions.requestId`, and
 * every line logged about it carries the same id.
 */
export interface ErrorScope {
  readonly requestId?: string;
  readonly logger: Logger;
}

const scopes = new WeakMap<object, ErrorScope>();

/**
 * Ties errors to the request they arose in, for `errorScopeOf`: Apollo Server formats errors
 * with no access to the request, so its `formatError` looks the scope up by the error object.
 */
export function bindErrorScope(errors: Iterable<object>, scope: ErrorScope): void {
  for (const error of errors) scopes.set(error, scope);
}

/** The scope `bindErrorScope` gave this error or one it wraps (`originalError`), if any. */
export function errorScopeOf(error: unknown): ErrorScope | undefined {
  let current = error;
  while (typeof current === 'object' && current !== null) {
    const scope = scopes.get(current);
    if (scope) return scope;
    current = 'originalError' in current ? current.originalError : undefined;
  }
  return undefined;
}

/** How errors are shown to clients, from the settings. */
export interface ClientErrorOptions {
  /**
   * Keep graphql-js's "Did you mean …?" hints in validation and variable errors
   * (GRAPHQL_SUGGESTIONS): they name fields, arguments and enum values, which is the schema
   * that turning introspection off keeps to itself.
   */
  readonly suggestions: boolean;
}

/** graphql-js 16 appends its hints to the message: `… Did you mean "username"?`. */
const suggestion = / ?Did you mean .+\?$/s;

/** HTTP statuses for errors raised before execution (while building the request context). */
const httpStatusByCode: Partial<Record<ErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  RATE_LIMITED: 429,
};

/**
 * A `VerityError` as a GraphQLError, for places that must throw one (Apollo's context and
 * plugins). Over HTTP it sets the answer's status by its code, and `Retry-After` when it says
 * when to retry (`retryAfter`, seconds).
 */
export function toGraphQLError(error: VerityError): GraphQLError {
  const status = httpStatusByCode[error.code];
  const retryAfter = error.details['retryAfter'];
  const headers =
    typeof retryAfter === 'number' ? new Map([['retry-after', String(retryAfter)]]) : undefined;
  return new GraphQLError(error.message, {
    originalError: error,
    extensions: {
      ...error.details,
      code: error.code,
      ...(status ? { http: { status, ...(headers ? { headers } : {}) } } : {}),
    },
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
 * - everything else becomes INTERNAL_SERVER_ERROR with an `errorId` matching the log line, or
 *   UNAVAILABLE (`retryable: true`, `retryAfterSeconds`) when MongoDB or Redis was unreachable
 *   (nothing was changed); a write whose outcome could not be learnt is UNAVAILABLE too, and
 *   says `outcome: "UNKNOWN"` and how to check.
 * Stack traces and database text never leave the server, nor, with `suggestions` off, the
 * schema names graphql-js suggests. Every error gets the scope's
 * `requestId`, and is logged (when it is logged) through the scope's logger.
 */
export function formatClientError(
  formatted: GraphQLFormattedError,
  error: unknown,
  scope: ErrorScope,
  options: ClientErrorOptions = { suggestions: true },
): GraphQLFormattedError {
  const { logger, requestId } = scope;
  const request = requestId === undefined ? {} : { requestId };
  const original = originalOf(error);
  const location = {
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
  };

  if (original instanceof VerityError) {
    return {
      message: original.message,
      ...location,
      extensions: { ...original.details, code: original.code, ...request },
    };
  }

  const code = formatted.extensions?.['code'];
  const createdByGraphQL = original instanceof GraphQLError || !(original instanceof Error);
  if (typeof code === 'string' && clientCodes.has(code) && createdByGraphQL) {
    const { stacktrace: _stacktrace, http: _http, ...extensions } = formatted.extensions ?? {};
    const message = options.suggestions
      ? formatted.message
      : formatted.message.replace(suggestion, '');
    return { message, ...location, extensions: { ...extensions, ...request } };
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
        code: ErrorCode.UNAVAILABLE,
        errorId,
        retryable: true,
        retryAfter: retryAfterSeconds,
        retryAfterSeconds,
        outcome: 'UNKNOWN',
        ...details,
        // The global ID to look up (`node(id:)`) to learn whether it was stored.
        ...(check ? { checkId: toGlobalId(check.type, check.id) } : {}),
        ...request,
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
      code: retryable ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL_SERVER_ERROR,
      errorId,
      ...(retryable ? { retryable, retryAfter: retryAfterSeconds, retryAfterSeconds } : {}),
      ...request,
    },
  };
}
