import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/**
 * Verity's settings, read from environment variables once at start-up. This is the only module
 * that reads `process.env`; everything else receives a `Config`.
 *
 * A wrong value throws a `ConfigError` whose message names every offending variable, so an
 * operator sees `PORT: expected an integer from 0 to 65535, got "80a"` and not a crash later.
 */
export type Config = Readonly<ReturnType<typeof parse>>;

/** Thrown by `loadConfig` for a missing or malformed variable; the message names each variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const integer = (min: number, max: number, fallback: number) =>
  optionalInteger(min, max).transform((value) => value ?? fallback);

/** An integer setting that may be left unset (undefined). */
const optionalInteger = (min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const value = Number(raw.replaceAll('_', ''));
      if (!Number.isInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return value;
    });

const boolean = <Fallback extends boolean | undefined>(fallback: Fallback) =>
  z
    .string()
    .optional()
    .transform((raw, ctx): boolean | Fallback => {
      if (raw === undefined || raw.trim() === '') return fallback;
      const value = raw.trim().toLowerCase();
      if (['true', '1', 'yes'].includes(value)) return true;
      if (['false', '0', 'no'].includes(value)) return false;
      ctx.addIssue({
        code: 'custom',
        message: `expected true or false, got ${JSON.stringify(raw)}`,
      });
      return z.NEVER;
    });

const url = (schemes: readonly string[]) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      let parsed: URL;
      try {
        parsed = new URL(raw);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected a URL' });
        return z.NEVER;
      }
      if (!schemes.includes(parsed.protocol.replace(/:$/, ''))) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`,
        });
        return z.NEVER;
      }
      return raw.trim();
    });

/** How many requests a rate limit allows in its window. */
export interface RateLimitSetting {
  readonly points: number;
  readonly windowSeconds: number;
}

/**
 * A rate limit written `<requests>/<seconds>`, such as `25/300` (25 in five minutes). Windows
 * run from 1 second to 31 days.
 */
const rateLimit = (points: number, windowSeconds: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx): RateLimitSetting => {
      if (raw === undefined || raw.trim() === '') return { points, windowSeconds };
      const match = /^\s*(\d[\d_]*)\s*\/\s*(\d[\d_]*)\s*$/.exec(raw);
      const value = match && {
        points: Number(match[1]!.replaceAll('_', '')),
        windowSeconds: Number(match[2]!.replaceAll('_', '')),
      };
      if (
        !value ||
        value.points < 1 ||
        value.points > 1_000_000_000 ||
        value.windowSeconds < 1 ||
        value.windowSeconds > 31 * 24 * 3600
      ) {
        ctx.addIssue({
          code: 'custom',
          message: `expected <requests>/<seconds> such as 25/300 (1 to 1000000000 requests, 1 to 2678400 seconds), got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return value;
    });

/**
 * TRUST_PROXY: how many proxies (load balancers) stand in front of Verity, each appending the
 * address it saw to `X-Forwarded-For`. `true` is one, `false` none.
 */
const proxyHops = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === '') return 0;
    const value = raw.trim().toLowerCase();
    if (['true', 'yes'].includes(value)) return 1;
    if (['false', 'no'].includes(value)) return 0;
    const hops = Number(value);
    if (Number.isInteger(hops) && hops >= 0 && hops <= 10) return hops;
    ctx.addIssue({
      code: 'custom',
      message: `expected true, false or the number of proxies in front of Verity (0 to 10), got ${JSON.stringify(raw)}`,
    });
    return z.NEVER;
  });

const optionalString = z
  .string()
  .optional()
  .transform((raw) => (raw === undefined || raw.trim() === '' ? undefined : raw.trim()));

/** What CORS_ORIGINS allows: `true` for any origin, else a list of origins and patterns. */
export type CorsOrigins = true | (string | RegExp)[];

/** Any page served from this machine, on any port: the development default. */
const localhostOrigin = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;

function corsOriginsOf(raw: string | undefined, env: string): CorsOrigins {
  if (raw === undefined) return env === 'production' ? [] : [localhostOrigin];
  const origins = raw
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
  if (origins.includes('*')) return true;
  return origins.map((origin) => origin.replace(/\/+$/, ''));
}

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: integer(0, 65_535, 4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().min(1).default('.verity'),
  CACHE_DIR: optionalString,
  XDG_CACHE_HOME: optionalString,
  HOME: optionalString,

  MONGODB_URI: url(['mongodb', 'mongodb+srv']),
  MONGODB_DB: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, 'expected 1 to 63 letters, digits, _ or -')
    .optional(),
  FERRETDB_BIN: optionalString,
  REDIS_URL: url(['redis', 'rediss']),
  LOCAL_REDIS_URL: url(['redis']),
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const nodes = raw
        .split(',')
        .map((node) => node.trim())
        .filter((node) => node !== '');
      for (const node of nodes) {
        if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(node)) {
          ctx.addIssue({ code: 'custom', message: `expected host:port, got "${node}"` });
          return z.NEVER;
        }
      }
      return nodes;
    }),
  REDIS_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'expected 1 to 64 letters, digits, or _ . : -')
    .default('verity'),
  REDIS_DURABLE: boolean(false),
  NEAR_CACHE_ENTRIES: integer(0, 10_000_000, 5_000),

  JWT_SECRET: z.string().min(32, 'expected at least 32 characters').optional(),
  SESSION_TTL_SECONDS: integer(60, 365 * 24 * 3600, 7 * 24 * 3600),

  // Unset: on, except in production.
  GRAPHQL_IDE: boolean(undefined),
  GRAPHQL_INTROSPECTION: boolean(undefined),
  GRAPHQL_SUGGESTIONS: boolean(undefined),
  // Unset: on when the IDE is.
  WEB_DEMO: boolean(undefined),
  TRUST_PROXY: proxyHops,
  PUBLIC_URL: url(['http', 'https']),
  CORS_ORIGINS: optionalString.refine(
    (raw) =>
      raw === undefined ||
      raw
        .split(',')
        .map((origin) => origin.trim().replace(/\/+$/, ''))
        .filter((origin) => origin !== '')
        .every(
          (origin) => origin === '*' || (URL.canParse(origin) && new URL(origin).origin === origin),
        ),
    'expected a comma-separated list of origins (https://app.example.com) or *',
  ),

  MAX_QUERY_DEPTH: integer(2, 100, 12),
  MAX_QUERY_ALIASES: integer(1, 1000, 30),
  MAX_QUERY_TOKENS: integer(100, 100_000, 3_000),
  MAX_QUERY_COST: integer(1, 1_000_000_000, 10_000),
  GRAPHQL_DOCUMENT_CACHE_BYTES: integer(65_536, 4_294_967_296, 16_777_216),
  GRAPHQL_COMPILE_AFTER: integer(0, 1_000_000, 2),
  HTTP_MAX_BODY_BYTES: integer(1_024, 10_000_000, 100_000),
  WS_MAX_PAYLOAD_BYTES: integer(1_024, 10_000_000, 65_536),
  WS_MAX_SUBSCRIPTIONS: integer(1, 10_000, 100),
  WS_CONNECTION_INIT_TIMEOUT_MS: integer(100, 60_000, 3_000),
  WS_KEEPALIVE_MS: integer(1_000, 600_000, 30_000),
  WS_MAX_BUFFERED_BYTES: integer(16_384, 1_073_741_824, 1_048_576),
  WS_MAX_PENDING_EVENTS: integer(1, 100_000, 100),
  WS_MAX_ANONYMOUS_CONNECTIONS: integer(0, 10_000_000, 10_000),
  SUBSCRIPTION_SHARING: boolean(true),
  WHALE_FOLLOWER_THRESHOLD: integer(1, 1_000_000_000, 50_000),
  TRUTH_EDIT_WINDOW_SECONDS: integer(0, 7 * 24 * 3600, 15 * 60),
  // Trends (README, "Search and discover").
  TRENDS_BUCKET_MS: integer(1_000, 24 * 3600 * 1000, 5 * 60 * 1000),
  TRENDS_WINDOW_MS: integer(1_000, 7 * 24 * 3600 * 1000, 3600 * 1000),
  TRENDS_DECAY_PERCENT: integer(1, 100, 80),
  TRENDS_REFRESH_MS: integer(100, 3600 * 1000, 10_000),
  ADMIN_USERNAMES: optionalString,
  MODERATOR_USERNAMES: optionalString,
  WAITLIST_MAX_ACTIVE_ACCOUNTS: integer(0, 2_000_000_000, 0),
  WAITLIST_ADMISSION_RATE_PER_MINUTE: integer(0, 10_000_000, 600),
  WAITLIST_PAUSED: boolean(false),
  WAITLIST_TICK_MS: integer(50, 600_000, 1_000),
  WAITLIST_TICKET_TTL_SECONDS: integer(60, 365 * 24 * 3600, 30 * 24 * 3600),
  SHUTDOWN_TIMEOUT_MS: integer(100, 600_000, 10_000),
  REQUEST_TIMEOUT_MS: integer(500, 600_000, 5_000),
  HTTP_HEADERS_TIMEOUT_MS: integer(1_000, 600_000, 10_000),
  METRICS_PORT: optionalInteger(0, 65_535),

  // Defaults and their reasons: README, "Media".
  MEDIA_MAX_IMAGE_BYTES: integer(1_024, 100_000_000, 10_000_000),
  MEDIA_MAX_VIDEO_BYTES: integer(1_024, 1_000_000_000, 40_000_000),
  MEDIA_UPLOAD_TTL_SECONDS: integer(30, 24 * 3600, 600),
  MEDIA_UNATTACHED_TTL_SECONDS: integer(60, 365 * 24 * 3600, 24 * 3600),
  MEDIA_STORE: z.enum(['fs', 's3']).default('fs'),
  MEDIA_DIR: optionalString,
  MEDIA_PUBLIC_URL: url(['http', 'https']),
  MEDIA_S3_BUCKET: optionalString,
  MEDIA_S3_ENDPOINT: url(['http', 'https']),
  MEDIA_S3_REGION: z.string().min(1).default('us-east-1'),
  MEDIA_S3_ACCESS_KEY_ID: optionalString,
  MEDIA_S3_SECRET_ACCESS_KEY: optionalString,
  MEDIA_S3_FORCE_PATH_STYLE: boolean(true),
  METRICS_HOST: optionalString,

  // Defaults and their reasons: README, "Rate limits".
  RATE_LIMITS: boolean(true),
  RATE_LIMIT_LOGIN_PER_IP: rateLimit(25, 300),
  RATE_LIMIT_LOGIN_PER_ACCOUNT: rateLimit(10, 900),
  RATE_LIMIT_SIGNUP_PER_IP: rateLimit(100, 300),
  RATE_LIMIT_POSTS_PER_ACCOUNT: rateLimit(300, 3 * 3600),
  RATE_LIMIT_FOLLOWS_PER_ACCOUNT: rateLimit(400, 24 * 3600),
  RATE_LIMIT_REACTIONS_PER_ACCOUNT: rateLimit(300, 300),
  RATE_LIMIT_REPORTS_PER_ACCOUNT: rateLimit(30, 3600),
  RATE_LIMIT_UPLOADS_PER_ACCOUNT: rateLimit(60, 3600),
  RATE_LIMIT_ANONYMOUS_READS_PER_IP: rateLimit(3_000, 300),
  RATE_LIMIT_FALLBACK_MAX_KEYS: integer(100, 100_000_000, 100_000),
});

/** How many buckets a trends window may hold: each one is a key read when trends are computed. */
const maxTrendBuckets = 288;

function parse(env: Record<string, string | undefined>) {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = result.data;
  if (e.NODE_ENV === 'production' && e.JWT_SECRET === undefined) {
    throw new ConfigError(
      'Invalid configuration:\n  JWT_SECRET: required when NODE_ENV=production (at least 32 characters)',
    );
  }
  if (Math.ceil(e.TRENDS_WINDOW_MS / e.TRENDS_BUCKET_MS) > maxTrendBuckets) {
    throw new ConfigError(
      `Invalid configuration:\n  TRENDS_WINDOW_MS: at most ${maxTrendBuckets} buckets of TRENDS_BUCKET_MS`,
    );
  }
  if (
    e.MEDIA_STORE === 's3' &&
    (e.MEDIA_S3_BUCKET === undefined ||
      e.MEDIA_S3_ENDPOINT === undefined ||
      e.MEDIA_S3_ACCESS_KEY_ID === undefined ||
      e.MEDIA_S3_SECRET_ACCESS_KEY === undefined)
  ) {
    throw new ConfigError(
      'Invalid configuration:\n  MEDIA_STORE: s3 needs MEDIA_S3_BUCKET, MEDIA_S3_ENDPOINT, MEDIA_S3_ACCESS_KEY_ID and MEDIA_S3_SECRET_ACCESS_KEY',
    );
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    throw new ConfigError(
      'Invalid configuration:\n  METRICS_PORT: must differ from PORT (metrics stay off the public port)',
    );
  }
  // What tells a stranger about the schema or invites them in is off in production unless set.
  const production = e.NODE_ENV === 'production';
  const ide = e.GRAPHQL_IDE ?? !production;
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    dataDir: path.resolve(e.DATA_DIR),
    /** Where the embedded MongoDB binary is cached between runs. */
    cacheDir: path.resolve(
      e.CACHE_DIR ??
        path.join(e.XDG_CACHE_HOME ?? path.join(e.HOME ?? os.tmpdir(), '.cache'), 'verity'),
    ),
    mongo: { uri: e.MONGODB_URI, dbName: e.MONGODB_DB, ferretdbBin: e.FERRETDB_BIN },
    redis: {
      /** A Redis Cluster's seed nodes (REDIS_CLUSTER_NODES) in the `redis-cluster://` form. */
      url: e.REDIS_CLUSTER_NODES
        ? `redis-cluster://${e.REDIS_CLUSTER_NODES.join(',')}`
        : e.REDIS_URL,
      /** Probed when REDIS_URL is unset; redis-server is started only if nothing answers here. */
      localUrl: e.LOCAL_REDIS_URL ?? 'redis://127.0.0.1:6379',
      namespace: e.REDIS_NAMESPACE,
      /**
       * Redis keeps every write it acknowledged across restarts (AOF with appendfsync always):
       * the read model is trusted after a restart instead of rebuilt (infra/read-model.ts).
       */
      durable: e.REDIS_DURABLE,
      /**
       * Copies of Redis values each of an instance's near caches keeps (infra/near-cache.ts;
       * a family's hashes ten times as many fields); 0: none, every read goes to Redis.
       */
      nearCacheEntries: e.NEAR_CACHE_ENTRIES,
    },
    auth: { jwtSecret: e.JWT_SECRET, sessionTtlSeconds: e.SESSION_TTL_SECONDS },
    graphql: {
      ide,
      introspection: e.GRAPHQL_INTROSPECTION ?? !production,
      /** "Did you mean …?" in error messages, which name fields, arguments and enum values. */
      suggestions: e.GRAPHQL_SUGGESTIONS ?? !production,
      maxDepth: e.MAX_QUERY_DEPTH,
      maxAliases: e.MAX_QUERY_ALIASES,
      maxTokens: e.MAX_QUERY_TOKENS,
      /** What one operation (one event of a subscription) may cost: graphql/cost.ts. */
      maxCost: e.MAX_QUERY_COST,
      documentCacheBytes: e.GRAPHQL_DOCUMENT_CACHE_BYTES,
      compileAfter: e.GRAPHQL_COMPILE_AFTER,
    },
    /**
     * Where people reach Verity (scheme, host, optional path, no trailing slash): the base of
     * every `url` the API gives. Unset, `http://localhost:<PORT>`.
     */
    /** Serve the live demo web client (web/, built by `npm run web:build`) at `/`. */
    web: { demo: e.WEB_DEMO ?? ide },
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    http: {
      /**
       * Proxies in front of Verity whose `X-Forwarded-For` entries are trusted: the client's
       * address is the one the outermost of them saw (transport/client-address.ts); 0 trusts
       * none and takes the socket's peer.
       */
      trustedProxyHops: e.TRUST_PROXY,
      maxBodyBytes: e.HTTP_MAX_BODY_BYTES,
      /**
       * Time for a client to send a request's headers (node's `headersTimeout`); a socket that
       * takes longer is answered 408 and closed. The whole request, body included, gets
       * three times as long (`requestTimeout`).
       */
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      /**
       * Origins other than Verity's own whose pages may call `/graphql` (CORS): the listed ones
       * (`*`: any); unset, none in production and any localhost origin otherwise.
       */
      corsOrigins: corsOriginsOf(e.CORS_ORIGINS, e.NODE_ENV),
    },
    ws: {
      maxPayloadBytes: e.WS_MAX_PAYLOAD_BYTES,
      maxSubscriptions: e.WS_MAX_SUBSCRIPTIONS,
      connectionInitTimeoutMs: e.WS_CONNECTION_INIT_TIMEOUT_MS,
      keepAliveMs: e.WS_KEEPALIVE_MS,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      maxPendingEvents: e.WS_MAX_PENDING_EVENTS,
      maxAnonymousConnections: e.WS_MAX_ANONYMOUS_CONNECTIONS,
      shareExecution: e.SUBSCRIPTION_SHARING,
    },
    feeds: { whaleFollowerThreshold: e.WHALE_FOLLOWER_THRESHOLD },
    /** How long after posting its author may edit a truth's text (0: never). */
    truths: { editWindowSeconds: e.TRUTH_EDIT_WINDOW_SECONDS },
    /**
     * Trending hashtags and truths: uses are counted in buckets of `bucketMs`, over the newest
     * `windowBuckets` of them; a bucket `age` buckets old weighs `decay ** age`; the trends
     * are recomputed at most every `refreshMs`.
     */
    trends: {
      bucketMs: e.TRENDS_BUCKET_MS,
      windowBuckets: Math.ceil(e.TRENDS_WINDOW_MS / e.TRENDS_BUCKET_MS),
      decay: e.TRENDS_DECAY_PERCENT / 100,
      refreshMs: e.TRENDS_REFRESH_MS,
    },
    /** Lower-cased usernames that get the admin role when their account is created. */
    adminUsernames: (e.ADMIN_USERNAMES ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ''),
    /**
     * Lower-cased usernames that are moderators (modules/moderation), checked on each request,
     * unless an admin's `setRole` said otherwise for the account.
     */
    moderatorUsernames: (e.MODERATOR_USERNAMES ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ''),
    waitlist: {
      /** Defaults for the durable settings document, used only when it does not exist yet. */
      defaults: {
        /** 0 means unlimited. */
        maxActiveAccounts: e.WAITLIST_MAX_ACTIVE_ACCOUNTS,
        admissionRatePerMinute: e.WAITLIST_ADMISSION_RATE_PER_MINUTE,
        paused: e.WAITLIST_PAUSED,
      },
      tickMs: e.WAITLIST_TICK_MS,
      ticketTtlSeconds: e.WAITLIST_TICKET_TTL_SECONDS,
    },
    /**
     * Images and short videos attached to truths (modules/media): the most bytes an upload of
     * each kind may have, how long an upload URL stays valid, and where the files go: a
     * directory (`fs`, MEDIA_DIR, by default `<DATA_DIR>/media`) or an S3-compatible bucket.
     * `publicUrl` is the base of media URLs; unset, Verity serves them at `<PUBLIC_URL>/media`.
     */
    media: {
      maxImageBytes: e.MEDIA_MAX_IMAGE_BYTES,
      maxVideoBytes: e.MEDIA_MAX_VIDEO_BYTES,
      uploadTtlSeconds: e.MEDIA_UPLOAD_TTL_SECONDS,
      /** Uploads attached to nothing for this long are swept (their files deleted). */
      unattachedTtlSeconds: e.MEDIA_UNATTACHED_TTL_SECONDS,
      publicUrl: e.MEDIA_PUBLIC_URL?.replace(/\/+$/, ''),
      store:
        e.MEDIA_STORE === 's3'
          ? {
              kind: 's3' as const,
              bucket: e.MEDIA_S3_BUCKET!,
              endpoint: e.MEDIA_S3_ENDPOINT!.replace(/\/+$/, ''),
              region: e.MEDIA_S3_REGION,
              accessKeyId: e.MEDIA_S3_ACCESS_KEY_ID!,
              secretAccessKey: e.MEDIA_S3_SECRET_ACCESS_KEY!,
              forcePathStyle: e.MEDIA_S3_FORCE_PATH_STYLE,
            }
          : {
              kind: 'fs' as const,
              directory: path.resolve(e.MEDIA_DIR ?? path.join(e.DATA_DIR, 'media')),
            },
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    /**
     * How long a request (an HTTP request to /graphql; a query or mutation over WebSocket) may
     * take: past it, it is answered UNAVAILABLE, whatever it waits for (lib/request-budget.ts).
     */
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    /**
     * Rate limits on both transports (graphql/rate-limits.ts), counted in Redis and shared by
     * every instance; `enabled: false` (RATE_LIMITS=false) turns them all off.
     */
    rateLimits: {
      enabled: e.RATE_LIMITS,
      /** Counters the in-process fallback keeps while Redis is unreachable, at most. */
      fallbackMaxKeys: e.RATE_LIMIT_FALLBACK_MAX_KEYS,
      buckets: {
        logInPerIp: e.RATE_LIMIT_LOGIN_PER_IP,
        logInPerAccount: e.RATE_LIMIT_LOGIN_PER_ACCOUNT,
        signUpPerIp: e.RATE_LIMIT_SIGNUP_PER_IP,
        postsPerAccount: e.RATE_LIMIT_POSTS_PER_ACCOUNT,
        followsPerAccount: e.RATE_LIMIT_FOLLOWS_PER_ACCOUNT,
        reactionsPerAccount: e.RATE_LIMIT_REACTIONS_PER_ACCOUNT,
        reportsPerAccount: e.RATE_LIMIT_REPORTS_PER_ACCOUNT,
        uploadsPerAccount: e.RATE_LIMIT_UPLOADS_PER_ACCOUNT,
        anonymousReadsPerIp: e.RATE_LIMIT_ANONYMOUS_READS_PER_IP,
      },
    },
    /**
     * Prometheus metrics at `GET /metrics` on a listener of their own, never on the public
     * port; undefined (METRICS_PORT unset) turns collecting them off entirely.
     */
    metrics:
      e.METRICS_PORT === undefined
        ? undefined
        : { host: e.METRICS_HOST ?? e.HOST, port: e.METRICS_PORT },
  };
}

/**
 * Reads and validates the settings. Pass an explicit `env` in tests; it defaults to
 * `process.env`. Throws `ConfigError` naming each bad variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  return parse(env);
}
