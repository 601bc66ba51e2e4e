import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from './logger.js';

/** Where a GraphQL operation came in. */
export type Transport = 'http' | 'ws';

/** The kind of an operation; `unknown` when it never got that far (unparsable, refused early). */
export type OperationType = 'query' | 'mutation' | 'subscription' | 'unknown';

/** One finished GraphQL operation, as the transports report it. */
export interface OperationRecord {
  transport: Transport;
  type: OperationType;
  /** The operation's name; null or undefined for an anonymous or unidentified one. */
  name: string | null | undefined;
  /** `ok`, the code of the operation's first error, or `cancelled` (the client left first). */
  outcome: string;
  /** From the request's arrival to its answer; for a subscription, to its start. */
  seconds: number;
}

/** WebSocket connections by how they authenticated; `pending` have not (yet). */
export interface SocketCounts {
  session: number;
  anonymous: number;
  waitlist: number;
  pending: number;
}

/** What the live hub has done since start, and the subscriptions it holds now. */
export interface LiveCounts {
  executions: number;
  deliveries: number;
  slowConsumers: number;
  subscribers: number;
}

/** The waitlist's figures (cluster-wide: every instance reports the same). */
export interface WaitlistFigures {
  waiting: number;
  admittedThrough: number;
  admissionRatePerMinute: number;
  paused: boolean;
}

/**
 * What is read at scrape time, each time Prometheus asks: cheap reads of state the instance
 * keeps anyway, and one ping each to MongoDB and Redis. Nothing here scans a collection.
 */
export interface MetricSources {
  sockets(): SocketCounts;
  live(): LiveCounts;
  /** Local `waitlistPosition` subscribers. */
  waitlistSubscribers(): number;
  waitlist(): Promise<WaitlistFigures>;
  /** True when MongoDB answered a ping within the timeout. */
  pingMongo(): Promise<boolean>;
  pingRedis(): Promise<boolean>;
  /** True while rate limits are counted in process because Redis is unreachable. */
  rateLimitsInProcess(): boolean;
}

/**
 * Verity's Prometheus metrics: one registry per app instance (several run in one test process,
 * so nothing goes to prom-client's global registry). Transports report operations, errors and
 * live delivery delays as they happen; everything else is read from `MetricSources` when
 * scraped.
 */
export interface Metrics {
  readonly registry: Registry;
  operation(record: OperationRecord): void;
  /** Counts one error sent to a client. */
  error(transport: Transport, code: string): void;
  /** A live event's frame was written, `seconds` after the event reached the live hub. */
  liveDelay(seconds: number): void;
  /** An operation was refused by the rate limit `limit` (a bucket's name). */
  rateLimited(limit: string): void;
  /** Starts reading `sources` at scrape time (once the app's parts exist). */
  watch(sources: MetricSources): void;
}

/** Distinct operation names labelled per instance; later ones count as `(other)`. */
const maxOperationNames = 500;

/** How long a scrape waits for MongoDB, Redis or the waitlist figures. */
const probeTimeoutMs = 1_000;

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const withTimeout = <T>(promise: Promise<T>, fallback: T): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.catch(() => fallback),
    new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(fallback), probeTimeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
};

/** Times `ping`; the seconds it took, or null when it failed. */
async function timed(ping: () => Promise<boolean>): Promise<number | null> {
  const started = performance.now();
  const up = await withTimeout(ping(), false);
  return up ? (performance.now() - started) / 1_000 : null;
}

interface Probe {
  mongoSeconds: number | null;
  redisSeconds: number | null;
  waitlist: WaitlistFigures | null;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  // Process metrics, event-loop delay among them (nodejs_eventloop_lag_*).
  collectDefaultMetrics({ register: registry });

  let sources: MetricSources | undefined;
  // Every gauge of a scrape shares one probe: prom-client collects all metrics at once, so
  // the first collect starts it and the others join it.
  let probing: Promise<Probe> | undefined;
  const probe = (): Promise<Probe> | undefined => {
    const from = sources;
    if (!from) return undefined;
    probing ??= (async () => {
      const [mongoSeconds, redisSeconds, waitlist] = await Promise.all([
        timed(() => from.pingMongo()),
        timed(() => from.pingRedis()),
        withTimeout<WaitlistFigures | null>(from.waitlist(), null),
      ]);
      return { mongoSeconds, redisSeconds, waitlist };
    })().finally(() => {
      probing = undefined;
    });
    return probing;
  };

  const operations = new Histogram({
    name: 'verity_graphql_operation_duration_seconds',
    help: 'GraphQL operations by transport, type, name and outcome (ok, an error code, or cancelled): time to answer; for subscriptions, time to start',
    labelNames: ['transport', 'type', 'operation', 'outcome'] as const,
    buckets: latencyBuckets,
    registers,
  });
  const errors = new Counter({
    name: 'verity_graphql_errors_total',
    help: 'Errors sent to clients, by transport and extensions.code',
    labelNames: ['transport', 'code'] as const,
    registers,
  });
  const liveDelay = new Histogram({
    name: 'verity_live_delivery_delay_seconds',
    help: 'From a live event reaching the live hub (its arrival from Redis, in the same pass) to its frame being written to a subscriber socket',
    buckets: latencyBuckets,
    registers,
  });

  const sockets = new Gauge({
    name: 'verity_websocket_connections',
    help: 'Open WebSocket connections by kind: session (signed in), anonymous, waitlist (ticket token), pending (not authenticated yet)',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      if (!sources) return;
      const counts = sources.sockets();
      for (const kind of ['session', 'anonymous', 'waitlist', 'pending'] as const) {
        sockets.set({ kind }, counts[kind]);
      }
    },
  });

  const liveCounter = (name: string, help: string, read: (live: LiveCounts) => number) => {
    const counter = new Counter({
      name,
      help,
      registers,
      collect() {
        if (!sources) return;
        // The live hub keeps the running total; the counter only reports it.
        counter.reset();
        counter.inc(read(sources.live()));
      },
    });
  };
  liveCounter(
    'verity_live_executions_total',
    'Executions of subscription events (one per distinct operation per event when shared)',
    (live) => live.executions,
  );
  liveCounter(
    'verity_live_deliveries_total',
    'Subscription event frames written to sockets',
    (live) => live.deliveries,
  );
  liveCounter(
    'verity_live_slow_consumers_total',
    'Subscribers cut off (4420) because they fell behind',
    (live) => live.slowConsumers,
  );
  const subscriptions = new Gauge({
    name: 'verity_live_subscriptions',
    help: 'Active subscriptions on this instance',
    registers,
    collect() {
      if (sources) subscriptions.set(sources.live().subscribers);
    },
  });

  const health = (name: 'mongodb' | 'redis', read: (probe: Probe) => number | null) => {
    const up = new Gauge({
      name: `verity_${name}_up`,
      help: `1 when ${name === 'mongodb' ? 'MongoDB' : 'Redis'} answered a ping within ${probeTimeoutMs} ms at scrape time`,
      registers,
      async collect() {
        const result = await probe();
        if (result) up.set(read(result) === null ? 0 : 1);
      },
    });
    const ping = new Gauge({
      name: `verity_${name}_ping_seconds`,
      help: `Round trip of a ping to ${name === 'mongodb' ? 'MongoDB' : 'Redis'} at scrape time (NaN when it failed)`,
      registers,
      async collect() {
        const result = await probe();
        if (result) ping.set(read(result) ?? Number.NaN);
      },
    });
  };
  health('mongodb', (result) => result.mongoSeconds);
  health('redis', (result) => result.redisSeconds);

  const waitlistGauge = (
    name: string,
    help: string,
    read: (figures: WaitlistFigures) => number,
  ) => {
    const gauge = new Gauge({
      name,
      help: `${help} (cluster-wide: every instance reports the same; aggregate with max; NaN when unreadable)`,
      registers,
      async collect() {
        const result = await probe();
        if (result) gauge.set(result.waitlist ? read(result.waitlist) : Number.NaN);
      },
    });
  };
  waitlistGauge('verity_waitlist_waiting', 'People waiting', (figures) => figures.waiting);
  waitlistGauge(
    'verity_waitlist_admitted_through',
    'Highest ticket admitted so far: its rate() is the admission rate',
    (figures) => figures.admittedThrough,
  );
  waitlistGauge(
    'verity_waitlist_admission_rate_per_minute',
    'Admission rate setting',
    (figures) => figures.admissionRatePerMinute,
  );
  waitlistGauge('verity_waitlist_paused', '1 while admissions are paused', (figures) =>
    figures.paused ? 1 : 0,
  );
  const rateLimitRefusals = new Counter({
    name: 'verity_rate_limit_refusals_total',
    help: 'Operations refused by a rate limit, by limit (its bucket)',
    labelNames: ['limit'] as const,
    registers,
  });
  const rateLimitsInProcess = new Gauge({
    name: 'verity_rate_limits_in_process',
    help: '1 while this instance counts rate limits in memory because Redis is unreachable',
    registers,
    collect() {
      if (sources) rateLimitsInProcess.set(sources.rateLimitsInProcess() ? 1 : 0);
    },
  });

  const waitlistSubscribers = new Gauge({
    name: 'verity_waitlist_position_subscribers',
    help: 'waitlistPosition subscriptions on this instance',
    registers,
    collect() {
      if (sources) waitlistSubscribers.set(sources.waitlistSubscribers());
    },
  });

  const names = new Set<string>();
  const nameLabel = (name: string | null | undefined): string => {
    if (!name) return '(anonymous)';
    if (names.has(name)) return name;
    if (names.size >= maxOperationNames) return '(other)';
    names.add(name);
    return name;
  };

  return {
    registry,
    operation(record) {
      operations.observe(
        {
          transport: record.transport,
          type: record.type,
          // Names come from clients: bounded, so that a flood of made-up names cannot grow
          // the series without limit.
          operation:
            record.type === 'unknown' && !record.name ? '(unknown)' : nameLabel(record.name),
          outcome: record.outcome,
        },
        record.seconds,
      );
    },
    error(transport, code) {
      errors.inc({ transport, code });
    },
    liveDelay(seconds) {
      liveDelay.observe(seconds);
    },
    rateLimited(limit) {
      rateLimitRefusals.inc({ limit });
    },
    watch(from) {
      sources = from;
    },
  };
}

/**
 * Serves `GET /metrics` (Prometheus text format) on a listener of its own, away from the
 * public port; anything else is a 404. Resolves once listening.
 */
export async function serveMetrics(options: {
  metrics: Metrics;
  host: string;
  port: number;
  logger: Logger;
}): Promise<{ url: string; server: Server }> {
  const { metrics, logger } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'metrics could not be collected');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('Metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  return { url: `http://${host}:${port}/metrics`, server };
}
