import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Types } from 'mongoose';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { startFerretDB, type EmbeddedFerretDB } from '../src/infra/embedded/ferretdb.js';
import { startRedisServer } from '../src/infra/embedded/redis-server.js';
import { fromGlobalId, toGlobalId } from '../src/graphql/global-id.js';
import { createLogger } from '../src/infra/logger.js';
import type { FeedEvent } from '../src/modules/feeds/feed.events.js';
import { toTruthWire } from '../src/modules/truths/truth.wire.js';
import type { UserRecord } from '../src/modules/users/user.model.js';
import { toUserWire } from '../src/modules/users/user.wire.js';
import type { TestUser } from './helpers/graphql.js';
import { spawnVerity, type VerityProcess } from './helpers/process.js';
import { describeOnOwnRedis, redisEnv } from './helpers/redis.js';
import {
  startVerity,
  testJwtSecret,
  uniqueDbName,
  useVerity,
  type TestServer,
} from './helpers/server.js';
import { act, channelReady, postRecord } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';
import { createWsClients } from './helpers/ws.js';

/**
 * Fault drills: a client posts and reacts at a steady rate while a dependency (or an instance)
 * fails and comes back. Each drill holds Verity to its promises:
 * - nothing acknowledged is lost: every truth and reaction answered as done is read back
 *   afterwards (by id, in its author's page, in exact counts), and a write answered with a
 *   definite error was not stored;
 * - errors only while the dependency is down, plus at most two seconds, each a retryable
 *   UNAVAILABLE; a write answered `outcome: "UNKNOWN"` is sent again once the fault is over,
 *   as a careful client would, and must then succeed;
 * - no request waits longer than REQUEST_TIMEOUT_MS (plus a little network slack) for its
 *   answer;
 * - reads that do not need the failed dependency keep answering (every data read needs Redis,
 *   the read model: with Redis away only a document that reads no data can; with MongoDB away
 *   every read can);
 * - live subscribers that lose their instance resume elsewhere from their cursors and miss
 *   nothing.
 * Each drill owns the processes it breaks and prints its figures as a table. The abuse drills
 * at the end hold the transports' bounds: slow-header sockets and stalled subscribers.
 */

const requestTimeoutMs = 4_000;
/** What the client allows on top of the request timeout: scheduling and the network. */
const answerSlackMs = 1_000;
/** Errors may go on this long after the dependency is back. */
const recoveryBudgetMs = 2_000;
const logger = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const postMutation = /* GraphQL */ `
  mutation ($input: PostTruthInput!) {
    postTruth(input: $input) {
      truth {
        id
      }
    }
  }
`;
const reactMutation = /* GraphQL */ `
  mutation ($input: ReactInput!) {
    react(input: $input) {
      truth {
        id
      }
    }
  }
`;
const kinds = ['LIKE', 'LOVE', 'HAHA', 'WOW'] as const;

/** One request of the drill's client, as it went. */
interface Op {
  readonly kind: 'post' | 'react';
  readonly n: number;
  readonly sentAt: number;
  /** When its last attempt was sent: `sentAt`, or its retry's time (`retried`). */
  attemptAt: number;
  answeredAt: number;
  /** `ok`, the error's code, `NETWORK` (no answer: the connection failed) or `CLIENT_TIMEOUT`. */
  outcome: string;
  /** The answer said the write may or may not have happened (`outcome: "UNKNOWN"`). */
  unknown: boolean;
  retryable: boolean;
  /** Sent again after a network failure (to another instance, same idempotency key). */
  retried: boolean;
  text?: string;
  truthId?: string;
  reactor?: number;
  reaction?: string;
  /** What was sent, to send it again (`settleUnknown`). */
  request?: { query: string; variables: Record<string, unknown>; token: string };
  /** The answer to sending it again, once the fault was over, when the first was unknown. */
  settled?: string;
}

/** Answered as done: at first, or when sent again after an unknown outcome. */
const isAcknowledged = (op: Op) => op.outcome === 'ok' || op.settled === 'ok';

interface Answer {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: { code?: string; [key: string]: unknown } }[];
}

/** POSTs a GraphQL request; a failed connection or a very long wait throws. */
async function send(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  token?: string,
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
    // Far past any answer Verity may take: this only keeps a broken drill from hanging.
    signal: AbortSignal.timeout(30_000),
  });
  return (await response.json()) as Answer;
}

/**
 * The drill's client: every `1000 / ratePerSecond` ms it sends a request without waiting for
 * earlier ones (an open loop, so a stalled server shows as slow answers, not a slower client),
 * alternating a post by `author` and a reaction by one of `reactors` to an acknowledged truth
 * it has not reacted to. Posts carry idempotency keys. With `retryOn`, a request whose
 * connection failed is sent once more there, as a client behind a load balancer would.
 */
async function drive(options: {
  label: string;
  urls: () => string[];
  author: TestUser;
  reactors: TestUser[];
  ratePerSecond: number;
  durationMs: number;
  retryOn?: () => string;
  onTick?: (elapsedMs: number) => void;
}): Promise<Op[]> {
  const ops: Op[] = [];
  const acknowledged: string[] = [];
  const reacted = options.reactors.map(() => new Set<string>());
  const pending: Promise<void>[] = [];
  const started = Date.now();
  const interval = 1_000 / options.ratePerSecond;

  const run = async (op: Op, query: string, variables: Record<string, unknown>, token: string) => {
    op.request = { query, variables, token };
    const urls = options.urls();
    let url = urls[op.n % urls.length]!;
    for (;;) {
      try {
        const answer = await send(url, query, variables, token);
        op.answeredAt = Date.now();
        const error = answer.errors?.[0];
        if (error) {
          op.outcome = error.extensions?.code ?? 'NO_CODE';
          op.unknown = error.extensions?.['outcome'] === 'UNKNOWN';
          op.retryable = error.extensions?.['retryable'] === true;
        } else {
          op.outcome = 'ok';
        }
        return answer;
      } catch (error) {
        op.answeredAt = Date.now();
        op.outcome = (error as Error).name === 'TimeoutError' ? 'CLIENT_TIMEOUT' : 'NETWORK';
        if (!options.retryOn || op.retried) return undefined;
        op.retried = true;
        op.attemptAt = Date.now();
        url = options.retryOn();
      }
    }
  };

  for (let n = 0; Date.now() - started < options.durationMs; n++) {
    const due = started + n * interval;
    if (due > Date.now()) await sleep(due - Date.now());
    options.onTick?.(Date.now() - started);
    const sentAt = Date.now();
    const base = { n, sentAt, attemptAt: sentAt, answeredAt: 0, outcome: 'pending' };
    const flags = { unknown: false, retryable: false, retried: false };
    const reactor = n % (2 * options.reactors.length);
    const target =
      n % 2 === 1 ? acknowledged.findLast((id) => !reacted[(reactor - 1) / 2]?.has(id)) : undefined;
    if (target !== undefined) {
      const index = (reactor - 1) / 2;
      reacted[index]!.add(target);
      const op: Op = {
        ...base,
        ...flags,
        kind: 'react',
        truthId: target,
        reactor: index,
        reaction: kinds[n % kinds.length]!,
      };
      ops.push(op);
      pending.push(
        run(
          op,
          reactMutation,
          { input: { truthId: target, kind: op.reaction } },
          options.reactors[index]!.token,
        ).then(() => undefined),
      );
    } else {
      const op: Op = { ...base, ...flags, kind: 'post', text: `${options.label} ${n}` };
      ops.push(op);
      pending.push(
        run(
          op,
          postMutation,
          { input: { text: op.text, idempotencyKey: `${options.label}-${n}` } },
          options.author.token,
        ).then((answer) => {
          const id = answer?.data?.['postTruth']?.truth.id as string | undefined;
          if (id) {
            op.truthId = id;
            acknowledged.push(id);
          }
        }),
      );
    }
  }
  await Promise.all(pending);
  return ops;
}

/**
 * What a careful client does with a write whose outcome was unknown once the fault is over:
 * sends it again (a post with the same idempotency key), and learns its outcome for certain.
 */
async function settleUnknown(url: string, ops: Op[]): Promise<void> {
  for (const op of ops.filter((op) => op.unknown)) {
    const { query, variables, token } = op.request!;
    const answer = await send(url, query, variables, token);
    op.settled = answer.errors ? (answer.errors[0]!.extensions?.code ?? 'NO_CODE') : 'ok';
    const id = answer.data?.['postTruth']?.truth.id as string | undefined;
    if (id) op.truthId = id;
  }
}

/** When the dependency went down and came back (ms since the epoch). */
interface FaultWindow {
  downAt: number;
  upAt: number;
}

/** The drill's figures: printed, then asserted. */
interface Figures {
  requests: number;
  acknowledged: number;
  errorsByCode: Record<string, number>;
  /** Errors of requests sent before the fault or more than `recoveryBudgetMs` after it. */
  errorsOutsideFault: number;
  /** From the dependency's return to the first success answered after it. */
  recoverMs: number;
  /** The last request answered with an error was sent this long after the return. */
  lastErrorSentAfterUpMs: number | null;
  /**
   * The slowest answer to one attempt: a request sent again after a network failure is timed
   * from its retry (its first attempt ended with the connection, at most a request timeout in).
   */
  slowestAnswerMs: number;
  acknowledgedLost: number;
  /** Answered with a definite error, yet stored. */
  failedButStored: number;
  /** Answered `outcome: "UNKNOWN"`; all are sent again after the fault and must succeed. */
  outcomeUnknown: number;
  unknownSettledOk: number;
  /** Requests whose connection failed, sent again to another instance (drill d). */
  retriedAfterNetworkFailure: number;
  /** Errors that are not a typed, retryable UNAVAILABLE. */
  untypedErrors: number;
}

function figuresOf(ops: Op[], fault: FaultWindow): Figures {
  const errors = ops.filter((op) => op.outcome !== 'ok');
  const errorsByCode: Record<string, number> = {};
  for (const op of errors) {
    const key = op.retried ? `${op.outcome} (retried)` : op.outcome;
    errorsByCode[key] = (errorsByCode[key] ?? 0) + 1;
  }
  const firstOkAfter = Math.min(
    ...ops
      .filter((op) => op.outcome === 'ok' && op.answeredAt >= fault.upAt)
      .map((op) => op.answeredAt),
  );
  const lastError = Math.max(...errors.map((op) => op.sentAt));
  return {
    requests: ops.length,
    acknowledged: ops.filter((op) => op.outcome === 'ok').length,
    errorsByCode,
    errorsOutsideFault: errors.filter(
      (op) => op.answeredAt < fault.downAt || op.sentAt > fault.upAt + recoveryBudgetMs,
    ).length,
    recoverMs: firstOkAfter - fault.upAt,
    lastErrorSentAfterUpMs: errors.length === 0 ? null : lastError - fault.upAt,
    slowestAnswerMs: Math.max(...ops.map((op) => op.answeredAt - op.attemptAt)),
    acknowledgedLost: 0,
    failedButStored: 0,
    outcomeUnknown: ops.filter((op) => op.unknown).length,
    unknownSettledOk: ops.filter((op) => op.unknown && op.settled === 'ok').length,
    retriedAfterNetworkFailure: ops.filter((op) => op.retried).length,
    untypedErrors: errors.filter((op) => op.outcome !== 'UNAVAILABLE' || !op.retryable).length,
  };
}

function print(drill: string, figures: Figures, extra: Record<string, unknown> = {}) {
  const { errorsByCode, ...rest } = figures;
  console.log(`\nDrill: ${drill}`);
  console.table({
    ...rest,
    errorsByCode: JSON.stringify(errorsByCode),
    ...extra,
  });
}

/**
 * Reads every acknowledged write back, and checks that no write answered with a definite
 * error was stored. Waits (up to 30 s) for counts to settle: effects of writes stored during a
 * Redis fault are finished in the background. Returns [acknowledged lost, failed but stored].
 */
async function verify(
  reader: TestServer,
  author: TestUser,
  reactors: TestUser[],
  ops: Op[],
): Promise<[number, number]> {
  const { models } = reader.app.internals;
  const authorId = new Types.ObjectId(userIdHex(author.id));
  const stored = new Map(
    (
      await models.Truth.find({ authorId }, { text: 1 })
        .lean<{ _id: Types.ObjectId; text: string }[]>()
        .exec()
    ).map((truth) => [truth.text, truth._id.toHexString()]),
  );
  const posts = ops.filter((op) => op.kind === 'post');
  const reactions = ops.filter((op) => op.kind === 'react');
  let lost = 0;
  let failedButStored = 0;

  // Counts settle once every stored write's effects are applied.
  await waitFor(
    async () => {
      const profile = await reader.gql(`query($u: String!) { user(username: $u) { truthCount } }`, {
        u: author.username,
      });
      return profile.data?.['user']?.truthCount === stored.size;
    },
    { timeoutMs: 30_000, message: `the truth count never reached ${stored.size}` },
  );

  // The author's page, every page of it.
  const page = new Set<string>();
  let after: string | null = null;
  for (;;) {
    const result = await reader.gql(
      `query($u: String!, $after: String) { user(username: $u) { truths(first: 100, after: $after) {
        edges { node { id text } } pageInfo { hasNextPage endCursor } } } }`,
      { u: author.username, after },
    );
    expect(result.errors).toBeUndefined();
    const truths = result.data!['user'].truths;
    for (const edge of truths.edges as { node: { id: string } }[]) page.add(edge.node.id);
    if (!truths.pageInfo.hasNextPage) break;
    after = truths.pageInfo.endCursor as string;
  }
  expect(page.size).toBe(stored.size);

  for (const op of posts) {
    if (isAcknowledged(op)) {
      const read = await reader.gql(`query($id: ID!) { truth(id: $id) { text } }`, {
        id: op.truthId,
      });
      if (
        !stored.has(op.text!) ||
        read.data?.['truth']?.text !== op.text ||
        !page.has(op.truthId!)
      ) {
        lost += 1;
      }
    } else if (!op.unknown && op.outcome !== 'NETWORK' && op.outcome !== 'CLIENT_TIMEOUT') {
      if (stored.has(op.text!)) failedButStored += 1;
    }
  }

  // Reactions: each (reactor, truth) pair was tried once. The count of every truth is the
  // number of reactions MongoDB holds for it, and each acknowledged one is the reactor's.
  const events = await models.ReactionEvent.find(
    { truthId: { $in: [...stored.values()].map((id) => new Types.ObjectId(id)) } },
    { truthId: 1, userId: 1 },
  )
    .lean<{ truthId: Types.ObjectId; userId: Types.ObjectId }[]>()
    .exec();
  const reactedPairs = new Set(
    events.map((event) => `${event.userId.toHexString()}:${event.truthId.toHexString()}`),
  );
  const expectedCounts = new Map<string, number>();
  for (const pair of reactedPairs) {
    const truth = pair.split(':')[1]!;
    expectedCounts.set(truth, (expectedCounts.get(truth) ?? 0) + 1);
  }
  const countsQuery = `query($id: ID!) { truth(id: $id) { id counts { reactions } viewerReaction } }`;
  await waitFor(
    async () => {
      for (const truth of stored.values()) {
        const result = await reader.gql(countsQuery, { id: toGlobalId('Truth', truth) });
        if (result.data?.['truth']?.counts.reactions !== (expectedCounts.get(truth) ?? 0)) {
          return false;
        }
      }
      return true;
    },
    { timeoutMs: 30_000, message: 'reaction counts never matched what MongoDB holds' },
  );
  for (const op of reactions) {
    const reactor = reactors[op.reactor!]!;
    const pair = `${userIdHex(reactor.id)}:${fromGlobalId(op.truthId!)!.id}`;
    if (isAcknowledged(op)) {
      const result = await reader.gql(countsQuery, { id: op.truthId }, { token: reactor.token });
      if (!reactedPairs.has(pair) || result.data?.['truth']?.viewerReaction !== op.reaction) {
        lost += 1;
      }
    } else if (!op.unknown && op.outcome !== 'NETWORK' && op.outcome !== 'CLIENT_TIMEOUT') {
      if (reactedPairs.has(pair)) failedButStored += 1;
    }
  }
  return [lost, failedButStored];
}

/** Polls `read` every 200 ms until stopped; returns how many answered with data and errors. */
function probe(read: () => Promise<Answer>) {
  const tally = { ok: 0, failed: 0, codes: new Set<string>(), slowestMs: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      try {
        const answer = await read();
        if (answer.errors) {
          tally.failed += 1;
          tally.codes.add(answer.errors[0]!.extensions?.code ?? 'NO_CODE');
        } else tally.ok += 1;
      } catch {
        tally.failed += 1;
        tally.codes.add('NETWORK');
      }
      tally.slowestMs = Math.max(tally.slowestMs, Date.now() - started);
      await sleep(200);
    }
  })();
  return {
    tally,
    async stop() {
      running = false;
      await loop;
      return tally;
    },
  };
}

/** Asserts the targets every drill shares. */
function expectTargets(figures: Figures) {
  expect(figures.acknowledgedLost).toBe(0);
  expect(figures.failedButStored).toBe(0);
  expect(figures.unknownSettledOk).toBe(figures.outcomeUnknown);
  expect(figures.untypedErrors).toBe(0);
  expect(figures.errorsOutsideFault).toBe(0);
  expect(figures.slowestAnswerMs).toBeLessThanOrEqual(requestTimeoutMs + answerSlackMs);
  expect(figures.recoverMs).toBeLessThanOrEqual(recoveryBudgetMs);
}

const verityEnv = { REQUEST_TIMEOUT_MS: String(requestTimeoutMs) };

// A Redis Cluster's own fault, a master that dies, is test/cluster-failover.test.ts's.
describeOnOwnRedis('fault drills', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  /** A Verity on its own redis-server, with an author and three reactors. */
  const setUp = async (options: { mongoUri?: string } = {}) => {
    let redis = await startRedisServer({ logger });
    const verity = await startVerity({
      redisUrl: redis.url,
      ...(options.mongoUri ? { mongoUri: options.mongoUri } : {}),
      env: verityEnv,
    });
    cleanups.push(() => redis.stop());
    cleanups.push(() => verity.stop());
    const author = await verity.signUp();
    const reactors = await Promise.all([verity.signUp(), verity.signUp(), verity.signUp()]);
    return {
      verity,
      author,
      reactors,
      get redis() {
        return redis;
      },
      async restartRedis() {
        redis = await startRedisServer({ logger, port: redis.port });
        cleanups.push(() => redis.stop());
      },
    };
  };

  it('(a) Redis frozen (SIGSTOP) for 7 s, then resumed: nothing acknowledged is lost', async () => {
    const drill = await setUp();
    const { verity, author, reactors } = drill;
    const fault: FaultWindow = { downAt: Infinity, upAt: Infinity };
    let faulting: Promise<void> | undefined;
    // Needs no Redis: a document that reads no data.
    const noRedis = probe(() => send(verity.url, '{ __typename }', {}));
    const ops = await drive({
      label: 'frozen',
      urls: () => [verity.url],
      author,
      reactors,
      ratePerSecond: 16,
      durationMs: 12_000,
      onTick: (elapsed) => {
        if (elapsed < 3_000 || faulting) return;
        faulting = (async () => {
          process.kill(-drill.redis.process.pid, 'SIGSTOP');
          fault.downAt = Date.now();
          await sleep(7_000);
          process.kill(-drill.redis.process.pid, 'SIGCONT');
          fault.upAt = Date.now();
        })();
      },
    });
    await faulting;
    const reads = await noRedis.stop();
    await settleUnknown(verity.url, ops);
    const figures = figuresOf(ops, fault);
    [figures.acknowledgedLost, figures.failedButStored] = await verify(
      verity,
      author,
      reactors,
      ops,
    );
    print('(a) redis-server SIGSTOP 7 s, SIGCONT', figures, {
      readsWithoutRedis: `${reads.ok} ok, ${reads.failed} failed`,
    });
    expect(figures.acknowledged).toBeGreaterThan(0);
    expect(reads).toMatchObject({ failed: 0 });
    expectTargets(figures);
  }, 90_000);

  it('(b) Redis killed (SIGKILL) and restarted empty: nothing acknowledged is lost', async () => {
    const drill = await setUp();
    const { verity, author, reactors } = drill;
    const fault: FaultWindow = { downAt: Infinity, upAt: Infinity };
    let faulting: Promise<void> | undefined;
    const noRedis = probe(() => send(verity.url, '{ __typename }', {}));
    const ops = await drive({
      label: 'restarted',
      urls: () => [verity.url],
      author,
      reactors,
      ratePerSecond: 16,
      durationMs: 12_000,
      onTick: (elapsed) => {
        if (elapsed < 3_000 || faulting) return;
        faulting = (async () => {
          process.kill(-drill.redis.process.pid, 'SIGKILL');
          fault.downAt = Date.now();
          await sleep(1_000);
          await drill.restartRedis();
          fault.upAt = Date.now();
        })();
      },
    });
    await faulting;
    const reads = await noRedis.stop();
    await settleUnknown(verity.url, ops);
    const figures = figuresOf(ops, fault);
    [figures.acknowledgedLost, figures.failedButStored] = await verify(
      verity,
      author,
      reactors,
      ops,
    );
    print('(b) redis-server SIGKILL, restarted empty after 1 s', figures, {
      readsWithoutRedis: `${reads.ok} ok, ${reads.failed} failed`,
    });
    expect(figures.acknowledged).toBeGreaterThan(0);
    expect(reads).toMatchObject({ failed: 0 });
    expectTargets(figures);
  }, 90_000);

  /**
   * A Verity on its own FerretDB (and redis-server) while `fault` breaks that FerretDB; reads
   * served from the read model are probed meanwhile.
   */
  const mongoDrill = async (
    name: string,
    label: string,
    fault: (
      ferretdb: EmbeddedFerretDB,
      restart: () => Promise<void>,
      drill: { verity: TestServer; author: TestUser },
    ) => Promise<void>,
    window: FaultWindow,
  ) => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'verity-drill-ferretdb-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    let ferretdb: EmbeddedFerretDB = await startFerretDB({
      binary: inject('ferretdbBinary'),
      dataDir,
      logger,
    });
    cleanups.push(() => ferretdb.stop());
    const restart = async () => {
      ferretdb = await startFerretDB({
        binary: inject('ferretdbBinary'),
        dataDir,
        port: ferretdb.port,
        logger,
      });
      cleanups.push(() => ferretdb.stop());
    };
    const { verity, author, reactors } = await setUp({ mongoUri: ferretdb.uri });
    let faulting: Promise<void> | undefined;
    // Served from the read model in Redis: a profile and the public feed.
    const noMongo = probe(() =>
      send(
        verity.url,
        `query($u: String!) { user(username: $u) { truthCount } publicFeed(first: 5) { edges { node { text } } } }`,
        { u: author.username },
      ),
    );
    const ops = await drive({
      label,
      urls: () => [verity.url],
      author,
      reactors,
      ratePerSecond: 16,
      durationMs: 12_000,
      onTick: (elapsed) => {
        if (elapsed < 3_000 || faulting) return;
        faulting = fault(ferretdb, restart, { verity, author });
      },
    });
    await faulting;
    // Stopped after the drill's last answers: reads are held to their promise throughout.
    const reads = await noMongo.stop();
    await settleUnknown(verity.url, ops);
    const figures = figuresOf(ops, window);
    [figures.acknowledgedLost, figures.failedButStored] = await verify(
      verity,
      author,
      reactors,
      ops,
    );
    print(name, figures, {
      readsWithoutMongoDB: `${reads.ok} ok, ${reads.failed} failed, slowest ${reads.slowestMs} ms`,
    });
    expect(figures.acknowledged).toBeGreaterThan(0);
    expect(reads).toMatchObject({ failed: 0 });
    expectTargets(figures);
  };

  it('(c) the embedded MongoDB killed (SIGKILL) and restarted: nothing acknowledged is lost, reads keep answering', async () => {
    const window: FaultWindow = { downAt: Infinity, upAt: Infinity };
    await mongoDrill(
      '(c) FerretDB SIGKILL, restarted after 1 s',
      'mongo-killed',
      async (ferretdb, restart) => {
        process.kill(-ferretdb.process.pid, 'SIGKILL');
        window.downAt = Date.now();
        await sleep(1_000);
        await restart();
        window.upAt = Date.now();
      },
      window,
    );
  }, 90_000);

  it('(e) the embedded MongoDB frozen (SIGSTOP) for 7 s: no request waits past its timeout, over HTTP or WebSocket; reads keep answering', async () => {
    const window: FaultWindow = { downAt: Infinity, upAt: Infinity };
    let overWebSocket: { ms: number; extensions: unknown } | undefined;
    await mongoDrill(
      '(e) FerretDB SIGSTOP 7 s, SIGCONT',
      'mongo-frozen',
      async (ferretdb, _restart, { verity, author }) => {
        process.kill(-ferretdb.process.pid, 'SIGSTOP');
        window.downAt = Date.now();
        // A mutation over WebSocket has the same time to answer as one over HTTP.
        await sleep(1_000);
        const client = verity.connect(author.token);
        const started = Date.now();
        const answer = await verity.execute(client, postMutation, {
          input: { text: 'posted over WebSocket while MongoDB is frozen' },
        });
        overWebSocket = { ms: Date.now() - started, extensions: answer.errors?.[0]?.extensions };
        await sleep(window.downAt + 7_000 - Date.now());
        process.kill(-ferretdb.process.pid, 'SIGCONT');
        window.upAt = Date.now();
      },
      window,
    );
    console.log('(e) a post over WebSocket during the freeze:', overWebSocket);
    expect(overWebSocket?.extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(overWebSocket!.ms).toBeLessThanOrEqual(requestTimeoutMs + answerSlackMs);
  }, 90_000);
});

const homeUpdates = /* GraphQL */ `
  subscription ($after: String) {
    homeFeedUpdated(after: $after) {
      ... on TruthPosted {
        cursor
        truth {
          text
        }
      }
    }
  }
`;

describe('fault drills: an instance killed under its live subscribers', () => {
  const subscriberCount = 200;
  let survivor: TestServer | undefined;
  let victim: VerityProcess | undefined;

  afterAll(async () => {
    victim?.child.kill('SIGKILL');
    await survivor?.stop();
  });

  it('(d) SIGKILL of an instance with 200 home-feed subscribers: they resume on another with their cursors and miss nothing', async () => {
    const dbName = uniqueDbName('drill_d');
    survivor = await startVerity({ dbName, env: verityEnv });
    const author = await survivor.signUp();
    const reactors = await Promise.all([survivor.signUp(), survivor.signUp()]);
    const readers: TestUser[] = [];
    for (let i = 0; i < subscriberCount; i += 20) {
      readers.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, async () => {
            const reader = await survivor!.signUp();
            await act(survivor!, reader.token, 'follow', author.id);
            return reader;
          }),
        )),
      );
    }

    victim = spawnVerity(
      {
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'info',
        MONGODB_URI: inject('mongoUri'),
        MONGODB_DB: dbName,
        ...redisEnv(),
        REDIS_NAMESPACE: `test:${dbName}`,
        JWT_SECRET: testJwtSecret,
        GRAPHQL_IDE: 'false',
        RATE_LIMITS: 'false',
        ...verityEnv,
      },
      ['node', '--import', 'tsx', 'src/main.ts'],
    );
    const victimUrl = (await victim.waitForLog((line) => line['msg'] === 'Verity is listening'))[
      'url'
    ] as string;
    const victimPid = victim.child.pid!;

    // Where each reader starts: a truth every reader has, so that everything after it is owed.
    const start = await send(
      survivor.url,
      postMutation,
      { input: { text: 'drill d start' } },
      author.token,
    );
    expect(start.errors).toBeUndefined();
    const cursors = await Promise.all(
      readers.map(async (reader) => {
        let cursor: string | undefined;
        await waitFor(async () => {
          const page = await survivor!.gql(
            `{ homeFeed(first: 1) { edges { cursor node { text } } } }`,
            {},
            { token: reader.token },
          );
          const edge = page.data?.['homeFeed']?.edges[0];
          if (edge?.node.text !== 'drill d start') return false;
          cursor = edge.cursor as string;
          return true;
        });
        return cursor!;
      }),
    );

    const victimWs = victimUrl.replace(/^http/, 'ws');
    const onVictim = createWsClients(victimWs);
    const received = readers.map(() => [] as string[]);
    const lastCursor = [...cursors];
    const resumedAt: number[] = [];
    const liveOnVictim = readers.map((reader, i) =>
      onVictim.subscribe(onVictim.connect(reader.token), homeUpdates, { after: cursors[i] }),
    );
    /** Takes a subscription's events until it fails; resolves with the failure. */
    const pump = async (
      live: { next(timeoutMs?: number): Promise<{ data?: Record<string, any> | null }> },
      i: number,
    ): Promise<unknown> => {
      for (;;) {
        try {
          const update = (await live.next(120_000)).data!['homeFeedUpdated'];
          received[i]!.push(update.truth.text as string);
          lastCursor[i] = update.cursor as string;
        } catch (error) {
          return error;
        }
      }
    };
    const dropped = liveOnVictim.map((live, i) => pump(live, i));

    let killedAt = Infinity;
    let killing: Promise<void> | undefined;
    const posting = drive({
      label: 'instance',
      // A load balancer over both instances, which notices the victim is gone a second later.
      urls: () => (Date.now() < killedAt + 1_000 ? [victimUrl, survivor!.url] : [survivor!.url]),
      retryOn: () => survivor!.url,
      author,
      reactors,
      ratePerSecond: 12,
      durationMs: 12_000,
      onTick: (elapsed) => {
        // Killed once every subscriber has had live events from it.
        if (elapsed < 4_000 || killing || received.some((got) => got.length === 0)) return;
        killing = (async () => {
          process.kill(victimPid, 'SIGKILL');
          killedAt = Date.now();
          await victim!.exited;
        })();
      },
    });

    // Each subscriber, cut off, resumes on the survivor from its last cursor.
    const resumed = Promise.all(
      dropped.map(async (failure, i) => {
        await failure;
        resumedAt[i] = Date.now();
        const live = survivor!.subscribe(survivor!.connect(readers[i]!.token), homeUpdates, {
          after: lastCursor[i],
        });
        return pump(live, i);
      }),
    );

    const ops = await posting;
    await killing;
    expect(killedAt).toBeLessThan(Infinity);
    const fault: FaultWindow = { downAt: killedAt, upAt: killedAt };
    await settleUnknown(survivor.url, ops);
    const figures = figuresOf(ops, fault);
    [figures.acknowledgedLost, figures.failedButStored] = await verify(
      survivor,
      author,
      reactors,
      ops,
    );

    // What each reader is owed: everything the author stored after the start, in the order of
    // that reader's own home feed. (On a Redis Cluster two publications racing through the
    // timelines' slots may take their turns in a different order in different timelines; in
    // each, the feed's order is the order its live events were sent in.)
    const owedTo = async (reader: TestUser): Promise<string[]> => {
      const feedOrder: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await survivor!.gql(
          `query($after: String) { homeFeed(first: 100, after: $after) {
            edges { node { text } } pageInfo { hasNextPage endCursor } } }`,
          { after },
          { token: reader.token },
        );
        const feed = page.data!['homeFeed'];
        feedOrder.push(
          ...(feed.edges as { node: { text: string } }[]).map((edge) => edge.node.text),
        );
        if (!feed.pageInfo.hasNextPage) break;
        after = feed.pageInfo.endCursor as string;
      }
      return feedOrder.slice(0, feedOrder.indexOf('drill d start')).reverse();
    };
    const owedByReader: string[][] = [];
    for (let i = 0; i < readers.length; i += 20) {
      owedByReader.push(...(await Promise.all(readers.slice(i, i + 20).map(owedTo))));
    }
    const owed = owedByReader[0]!;

    await waitFor(() => received.every((got, i) => got.length >= owedByReader[i]!.length), {
      timeoutMs: 20_000,
      message: 'some subscribers never caught up',
    }).catch(() => undefined);
    let missed = 0;
    let repeated = 0;
    let outOfOrder = 0;
    received.forEach((got, i) => {
      const owedHere = owedByReader[i]!;
      const seen = new Set(got);
      repeated += got.length - seen.size;
      missed += owedHere.filter((text) => !seen.has(text)).length;
      if (JSON.stringify(got) !== JSON.stringify(owedHere)) outOfOrder += 1;
    });
    // Every reader is owed the same truths, whatever their order.
    expect(new Set(owedByReader.map((list) => [...list].sort().join('\n'))).size).toBe(1);
    const resumeMs = Math.max(...resumedAt) - killedAt;
    print(`(d) Verity SIGKILL under ${subscriberCount} home-feed subscribers`, figures, {
      liveEventsOwed: owed.length,
      feedsInAnotherOrderThanTheFirst: owedByReader.filter(
        (list) => JSON.stringify(list) !== JSON.stringify(owed),
      ).length,
      liveEventsMissed: missed,
      liveEventsRepeated: repeated,
      subscribersOutOfOrder: outOfOrder,
      allResumedWithinMs: resumeMs,
    });
    expect(resumedAt.filter((at) => at !== undefined)).toHaveLength(subscriberCount);
    expect(owed.length).toBeGreaterThan(0);
    expect({ missed, repeated, outOfOrder }).toEqual({ missed: 0, repeated: 0, outOfOrder: 0 });
    expect(figures.acknowledgedLost).toBe(0);
    expect(figures.failedButStored).toBe(0);
    expect(figures.slowestAnswerMs).toBeLessThanOrEqual(requestTimeoutMs + answerSlackMs);
    // Requests in flight on the killed instance, or sent to it before the load balancer
    // noticed, fail at the network; each, sent again to the survivor, succeeds.
    expect(figures.retriedAfterNetworkFailure).toBeGreaterThan(0);
    expect(ops.filter((op) => op.outcome !== 'ok')).toEqual([]);

    await onVictim.closeAll();
    void resumed;
  }, 120_000);
});

describe('abuse drills', () => {
  const verity = useVerity({
    env: {
      ...verityEnv,
      HTTP_HEADERS_TIMEOUT_MS: '2000',
      WS_MAX_BUFFERED_BYTES: '65536',
      WS_KEEPALIVE_MS: '600000',
    },
  });

  it('serves others while 200 sockets trickle their headers a byte at a time, and closes those sockets after HTTP_HEADERS_TIMEOUT_MS', async () => {
    const { port } = new URL(verity.url);
    const request = `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: ${'a'.repeat(4_000)}`;
    const opened = Date.now();
    const slow = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const socket = connect(Number(port), '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        let reply = '';
        socket.on('data', (data: Buffer) => (reply += data.toString()));
        socket.on('error', () => undefined);
        let sent = 0;
        const trickle = setInterval(() => {
          if (!socket.destroyed && !socket.writableEnded)
            socket.write(request[sent++ % request.length]!);
        }, 100);
        const closedAt = new Promise<number>((resolve) =>
          socket.once('close', () => {
            clearInterval(trickle);
            resolve(Date.now());
          }),
        );
        return { socket, closedAt, reply: () => reply };
      }),
    );
    try {
      // Meanwhile everyone else is served as usual.
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const started = Date.now();
        const answer = await verity.gql('{ publicFeed(first: 5) { edges { cursor } } }');
        expect(answer.errors).toBeUndefined();
        latencies.push(Date.now() - started);
        await sleep(50);
      }
      const closedAt = await Promise.all(slow.map((s) => s.closedAt));
      const slowest = Math.max(...closedAt) - opened;
      const answered408 = slow.filter((s) => s.reply().startsWith('HTTP/1.1 408')).length;
      console.log('\nDrill: 200 slow-header sockets (HTTP_HEADERS_TIMEOUT_MS=2000)');
      console.table({
        slowSockets: slow.length,
        answered408,
        allClosedWithinMs: slowest,
        othersServed: latencies.length,
        othersSlowestMs: Math.max(...latencies),
      });
      expect(Math.max(...latencies)).toBeLessThan(1_000);
      // Two seconds for the headers, checked every second.
      expect(slowest).toBeLessThan(2_000 + 1_000 + 1_500);
      expect(answered408).toBe(slow.length);
    } finally {
      for (const s of slow) s.socket.destroy();
    }
  }, 30_000);

  it('cuts off 20 subscribers that stop reading with 4420 while the memory they hold stays bounded', async () => {
    const author = await verity.signUp();
    const reader = await verity.signUp();
    const { models, bus, live } = verity.app.internals;
    const sockets = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const socket = new WebSocket(verity.wsUrl, 'graphql-transport-ws');
        const closed = new Promise<number>((resolve) =>
          socket.on('close', (code) => resolve(code)),
        );
        let acknowledged = false;
        socket.on('message', (data: Buffer) => {
          if (data.toString().includes('connection_ack')) acknowledged = true;
        });
        await new Promise((resolve) => socket.on('open', resolve));
        socket.send(
          JSON.stringify({
            type: 'connection_init',
            payload: { authorization: `Bearer ${reader.token}` },
          }),
        );
        await waitFor(() => acknowledged);
        socket.send(
          JSON.stringify({
            id: 'feed',
            type: 'subscribe',
            payload: {
              query: `subscription { publicFeedUpdated { ... on TruthPosted { truth { text } } } }`,
            },
          }),
        );
        return { socket, closed };
      }),
    );
    await channelReady(verity, 'publicFeed:');
    await waitFor(() => live.subscribers >= 20);
    for (const { socket } of sockets) socket.pause();

    const authorRecord = (await models.User.findById(userIdHex(author.id))
      .lean<UserRecord>()
      .exec())!;
    const heapBefore = process.memoryUsage().heapUsed;
    // Events of about 4 KB until every reader is cut off (the kernel's socket buffers take the
    // first few MB of each), then as many again: unbounded, each reader would hold them all.
    let events = 0;
    let cutOffAfter = 0;
    for (let i = 0; i < 8_000 && (cutOffAfter === 0 || i < 2 * cutOffAfter); i++, events++) {
      if (cutOffAfter === 0 && live.slowConsumers >= 20) cutOffAfter = i;
      const event: FeedEvent = {
        type: 'posted',
        truth: toTruthWire(postRecord(authorRecord._id, `${i} ${'🗽'.repeat(990)}`)),
        author: toUserWire(authorRecord),
        originalAuthorId: null,
      };
      await bus.publish('publicFeed', '', event);
    }
    await waitFor(() => live.slowConsumers >= 20, {
      message: 'not every stalled subscriber was cut off',
    });
    const heapGrowthMB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    for (const { socket } of sockets) socket.resume();
    const codes = await Promise.all(sockets.map(({ closed }) => closed));
    console.log('\nDrill: 20 stalled subscribers, events of 4 KB (WS_MAX_BUFFERED_BYTES=65536)');
    console.table({
      events,
      allCutOffAfterEvents: cutOffAfter,
      cutOffWith4420: codes.filter((code) => code === 4420).length,
      heapGrowthMB: Math.round(heapGrowthMB),
      unboundedWouldHoldMB: Math.round((20 * events * 4_000) / 2 ** 20),
    });
    expect(codes).toEqual(sockets.map(() => 4420));
    expect(heapGrowthMB).toBeLessThan(40);
  }, 60_000);
});
