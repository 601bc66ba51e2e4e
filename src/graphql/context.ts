import type { Logger } from '../infra/logger.js';
import type { SiteRecorder } from './live/splice.js';
import type { VerityError } from '../lib/errors.js';
import { unauthenticated, badUserInput } from '../lib/errors.js';
import type { Loaders, Services } from '../modules/index.js';
import type { Viewer } from '../modules/users/index.js';

export type { Viewer };

/**
 * What every resolver receives. Over HTTP it is built once per request with caching loaders;
 * over WebSocket once per operation with uncached loaders (see transport/ws.ts for why).
 */
export interface GraphQLContext {
  readonly viewer: Viewer | null;
  readonly loaders: Loaders;
  readonly services: Services;
  /** Bound to `requestId` where there is one: log through it while serving the request. */
  readonly logger: Logger;
  /**
   * The HTTP request's or WebSocket operation's id (`X-Request-Id`), in every error it gets and
   * every line it logs. A live event's executions serve many subscriptions and have none.
   */
  readonly requestId?: string;
  /** Set only on a live event's template execution (graphql/live/splice.ts). */
  readonly liveTemplate?: SiteRecorder;
  /**
   * Why the request runs without a viewer although it sent a token (expired, invalid,
   * revoked): operations that need no session run anyway, the others say why.
   */
  readonly sessionProblem?: VerityError;
}

/** The viewer, or UNAUTHENTICATED with the reason (`missing`, `expired`, `invalid`, `revoked`). */
export function requireViewer(context: GraphQLContext): Viewer {
  if (context.viewer) return context.viewer;
  throw context.sessionProblem ?? unauthenticated(undefined, 'missing');
}

/**
 * The token in an `Authorization: Bearer <token>` value (or a bare token, as graphql-ws
 * clients often send it); null when there is none. Another scheme is a BAD_USER_INPUT.
 */
export function bearerToken(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw badUserInput('Authorization must be a string.');
  const trimmed = value.trim();
  if (trimmed === '') return null;
  const match = /^(\S+)\s*(.*)$/.exec(trimmed);
  if (match && match[2] !== undefined && match[2] !== '') {
    if (match[1]!.toLowerCase() !== 'bearer') {
      throw badUserInput('Authorization must be "Bearer <token>".');
    }
    return match[2].trim() || null;
  }
  return trimmed.toLowerCase() === 'bearer' ? null : trimmed;
}
