import { createHash } from 'node:crypto';
import {
  OperationTypeNode,
  type DocumentNode,
  type FieldNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { getArgumentValues } from 'graphql/execution/values.js';
import type { Config } from '../config.js';
import type { Metrics } from '../infra/metrics.js';
import type { RateCharge, RateLimiter } from '../infra/rate-limiter.js';
import { ErrorCode, VerityError } from '../lib/errors.js';
import { loginKeyOf, type Viewer } from '../modules/users/index.js';
import type { Mutation } from './generated/resolvers-types.js';
import { rootFields } from './root-fields.js';

/** The rate limit buckets (RATE_LIMIT_* settings), named for what they count and per what. */
export type RateLimitBucket = keyof Config['rateLimits']['buckets'];

/** What a bucket's counters are keyed by. */
type BucketKey = 'address' | 'account' | 'login';

/** The order buckets are charged in, by key. */
const keyOrder: Readonly<Record<BucketKey, number>> = { address: 0, account: 1, login: 2 };

const bucketKeys: Readonly<Record<RateLimitBucket, BucketKey>> = {
  logInPerIp: 'address',
  logInPerAccount: 'login',
  signUpPerIp: 'address',
  postsPerAccount: 'account',
  followsPerAccount: 'account',
  reactionsPerAccount: 'account',
  reportsPerAccount: 'account',
  uploadsPerAccount: 'account',
  anonymousReadsPerIp: 'address',
};

/**
 * The mutations that are rate limited and the buckets each draws on, one point per execution
 * (an aliased copy is another execution). Undoing (unfollow, removeReaction, undoRetruth) is
 * free: toggling is bounded by the doing. Blocks and mutes are never limited: someone under a
 * pile-on must be able to block as fast as they need. `completeSignUp` needs an admitted
 * ticket, which the waitlist's admission rate already meters. An edit counts as a post;
 * bookmarking and pinning, cheap toggles like reactions, count as reactions. Moderators'
 * actions are not limited (only moderators may take them, and the moderation log records each).
 */
const mutationBuckets: Partial<
  Readonly<Record<Exclude<keyof Mutation, '__typename'>, readonly RateLimitBucket[]>>
> = {
  logIn: ['logInPerIp', 'logInPerAccount'],
  signUp: ['signUpPerIp'],
  joinWaitlist: ['signUpPerIp'],
  postTruth: ['postsPerAccount'],
  retruth: ['postsPerAccount'],
  editTruth: ['postsPerAccount'],
  bookmarkTruth: ['reactionsPerAccount'],
  pinTruth: ['reactionsPerAccount'],
  follow: ['followsPerAccount'],
  react: ['reactionsPerAccount'],
  // Each upload URL is good for one upload: metering the URLs meters the uploads.
  createMediaUpload: ['uploadsPerAccount'],
  reportTruth: ['reportsPerAccount'],
  reportUser: ['reportsPerAccount'],
};

const refusalMessages: Readonly<Record<RateLimitBucket, string>> = {
  logInPerIp: 'Too many log-in attempts from this address.',
  logInPerAccount: 'Too many log-in attempts for this account.',
  signUpPerIp: 'Too many sign-ups and waitlist joins from this address.',
  postsPerAccount: 'You are posting too fast.',
  followsPerAccount: 'You have followed too many accounts lately.',
  reactionsPerAccount: 'You are reacting too fast.',
  reportsPerAccount: 'You have sent too many reports lately.',
  uploadsPerAccount: 'You have uploaded too many files lately.',
  anonymousReadsPerIp: 'Too many requests without a session from this address; sign in, or wait.',
};

/** One operation, as the rate limits see it before it runs. */
export interface RateLimitedRequest {
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
  /** The request's variables (coerced or raw: only `logIn`'s `input.login` is read). */
  readonly variables: Readonly<Record<string, unknown>> | undefined;
  readonly viewer: Viewer | null;
  /** The client's address (transport/client-address.ts). */
  readonly address: string;
}

/** The rate limits as the transports use them (`createRateLimits`). */
export interface RateLimits {
  /**
   * Charges the operation to its buckets before it runs: a refusal (RATE_LIMITED, with
   * `retryAfter` in seconds) means it must not run, and it took nothing from any bucket.
   * Undefined lets it run.
   */
  check(request: RateLimitedRequest): Promise<VerityError | undefined>;
}

/** A login name as a bucket key: hashed, so that no email address is written into Redis. */
const loginKey = (login: string) => {
  const { field, value } = loginKeyOf(login);
  return createHash('sha256').update(`${field}:${value}`).digest('base64url').slice(0, 22);
};

/**
 * Rate limits shared by both transports: which buckets an operation draws on, decided from its
 * root fields before it executes, so that a refused operation changes nothing (a throttled
 * `joinWaitlist` takes no ticket).
 *
 * - Every query and subscription without a session draws on `anonymousReadsPerIp`; signed-in
 *   reads are not counted here (the query cost limits bound what one can ask for).
 * - Each limited mutation draws on its buckets (see `mutationBuckets`), per account when it
 *   needs one (an anonymous `postTruth` fails UNAUTHENTICATED anyway and is not counted), per
 *   address, and `logIn` also per login name, so that one account cannot be guessed from many
 *   addresses.
 */
export function createRateLimits(deps: {
  schema: GraphQLSchema;
  limiter: RateLimiter<RateLimitBucket>;
  /** Counts refusals by bucket; undefined when metrics are off. */
  metrics: Metrics | undefined;
}): RateLimits {
  const { schema, limiter, metrics } = deps;
  const logIn = schema.getMutationType()?.getFields()['logIn'];

  /** The login name a `logIn` field names, when it can be read (else its execution fails). */
  const loginOf = (field: FieldNode, variables: RateLimitedRequest['variables']) => {
    if (!logIn) return undefined;
    try {
      const input = getArgumentValues(logIn, field, variables ?? {})['input'] as
        { login?: unknown } | undefined;
      return typeof input?.login === 'string' ? input.login : undefined;
    } catch {
      return undefined;
    }
  };

  return {
    async check({ document, operation, variables, viewer, address }) {
      const points = new Map<string, RateCharge<RateLimitBucket>>();
      const charge = (bucket: RateLimitBucket, key: string) => {
        const id = `${bucket}\n${key}`;
        const known = points.get(id);
        points.set(id, { bucket, key, points: (known?.points ?? 0) + 1 });
      };

      if (operation.operation === OperationTypeNode.MUTATION) {
        // Fields with one response key run once, however often the document repeats them.
        const executions = new Map<string, FieldNode>();
        for (const field of rootFields(document, operation)) {
          executions.set(field.alias?.value ?? field.name.value, field);
        }
        for (const field of executions.values()) {
          const buckets = mutationBuckets[field.name.value as keyof typeof mutationBuckets];
          for (const bucket of buckets ?? []) {
            const kind = bucketKeys[bucket];
            if (kind === 'address') {
              charge(bucket, address);
            } else if (kind === 'account') {
              if (viewer) charge(bucket, viewer.id);
            } else {
              const login = loginOf(field, variables);
              if (login !== undefined) charge(bucket, loginKey(login));
            }
          }
        }
      } else if (!viewer) {
        charge('anonymousReadsPerIp', address);
      }

      // Per address first: what an address's limit stops never reaches the per-name buckets
      // (see RateLimiter.charge).
      const charges = [...points.values()].sort(
        (a, b) => keyOrder[bucketKeys[a.bucket]] - keyOrder[bucketKeys[b.bucket]],
      );
      const refusal = await limiter.charge(charges);
      if (!refusal) return undefined;
      const { bucket, retryAfterSeconds } = refusal;
      metrics?.rateLimited(bucket);
      return new VerityError(
        ErrorCode.RATE_LIMITED,
        `${refusalMessages[bucket]} Retry in ${retryAfterSeconds} second${retryAfterSeconds === 1 ? '' : 's'}.`,
        { retryAfter: retryAfterSeconds, rateLimit: bucket },
      );
    },
  };
}
