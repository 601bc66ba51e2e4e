/**
 * The network a benchmark runs on, and its size.
 *
 * `buildNetwork` builds accounts, follows, truths, reactions and waitlist entries through
 * Verity's own write code: the services, called in process by a bulk loader with many calls in
 * flight, every account sharing one precomputed password hash. Every network has the same shape,
 * so that requests measured on networks of different sizes meet the same kind of data: five big
 * accounts with `whaleFollowers` followers each, 16 accounts with exactly 100 followers, 16
 * accounts with 120 posts each, thread roots with 10 replies each (a tenth of the truths are
 * replies), #launch on 5% of the truths, a mention in 1%; everything else spread at random,
 * without duplicate follows or reactions. Accounts are `user<i>`, waitlist entries `wait<i>`.
 *
 * `buildBackgroundNetwork` gives a scenario its background: a network of the BENCH_NETWORK_*
 * sizes, built before the scenario seeds what it measures on top of it. `measureSize` and
 * `sizeRows` state the size of the database measured on (collStats per collection, MongoDB's
 * total bytes, Redis's used memory and keys).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deserialize, serialize } from 'node:v8';
import mongoose from 'mongoose';

import { toGlobalId } from '../../src/graphql/global-id.js';
import { hashPassword } from '../../src/modules/auth/index.js';
import { countWork, redisKind } from './bench-app.js';
import { watchPauses } from './pauses.js';
import type { Row } from './report.js';
import { signUp, type BenchServer, type Stack } from './stack.js';
import { nowMs, sizeFromEnv } from './stats.js';

export interface NetworkSizes {
  accounts: number;
  follows: number;
  truths: number;
  reactions: number;
  waitlist: number;
  /** Followers of each of the five big accounts. */
  whaleFollowers: number;
}

/** A network kept by `keepNetwork`, as `keptNetwork` finds it. */
export interface KeptNetwork {
  /** Everything `buildNetwork` answered but the stack it was built on. */
  network: Omit<BuiltNetwork, 'stack'>;
  /** The directory to start its stack from (`startStack({ from })`). */
  stackDir: string;
  /** When it was built, and the commit whose code built it. */
  builtAt: string;
  commit: string;
}

const keptFile = 'network.v8';

/** The commit checked out when this process started: the code a network kept later was built by. */
const startCommit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();

/**
 * Keeps a network just built, with its stack, in the directory `dir` (which must not exist),
 * for `keptNetwork` to find: later runs measure on a copy of it instead of building one again
 * (a launch-size network takes over an hour). Its bookkeeping is written last, so a directory
 * without it is a keep that did not finish, removed when the next one starts.
 */
export async function keepNetwork(dir: string, built: BuiltNetwork): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await built.stack.keep(path.join(dir, 'stack'));
  const { stack: _stack, ...network } = built;
  const kept: Omit<KeptNetwork, 'stackDir'> = {
    network,
    builtAt: new Date().toISOString(),
    commit: startCommit,
  };
  await writeFile(path.join(dir, keptFile), serialize(kept));
}

/**
 * The network kept in `dir`, or undefined if none is (or its keep did not finish). Throws if
 * it was built to other sizes than `sizes`.
 */
export async function keptNetwork(
  dir: string,
  sizes: NetworkSizes,
): Promise<KeptNetwork | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dir, keptFile));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const kept = deserialize(bytes) as Omit<KeptNetwork, 'stackDir'>;
  const keptSizes = JSON.stringify(kept.network.sizes);
  if (keptSizes !== JSON.stringify(sizes)) {
    throw new Error(
      `the network kept in ${dir} has sizes ${keptSizes}, not ${JSON.stringify(sizes)}`,
    );
  }
  return { ...kept, stackDir: path.join(dir, 'stack') };
}

export const whaleCount = 5;
export const posterCount = 16;
export const posterFollowers = 100;
export const prolificCount = 16;
export const prolificPosts = 120;
export const repliesPerRoot = 10;
/** Thread roots at least (measured by `scale`: the same number on every network). */
export const measuredRoots = 50;
export const reactionKinds = ['LIKE', 'LOVE', 'HAHA', 'WOW', 'SAD', 'ANGRY'] as const;
/** The password of every built account (one precomputed hash). */
export const networkPassword = 'scale benchmark passphrase 7';

/** Accounts 5..20: exactly 100 followers each. */
export const posters = Array.from({ length: posterCount }, (_, k) => whaleCount + k);
/** Accounts 21..36: 120 posts each. */
export const prolific = Array.from(
  { length: prolificCount },
  (_, k) => whaleCount + posterCount + k,
);
/** Accounts from this index on are ordinary ones. */
export const firstOrdinary = whaleCount + posterCount + prolificCount;
const isPoster = (i: number) => i >= whaleCount && i < whaleCount + posterCount;

/** A seeded generator (mulberry32), so that two builds of one size build the same network. */
export function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}
export type Random = ReturnType<typeof createRandom>;

export function shuffle(values: Int32Array, random: Random): Int32Array {
  for (let i = values.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const swap = values[i]!;
    values[i] = values[j]!;
    values[j] = swap;
  }
  return values;
}

export const fmt = (value: number) => Math.round(value).toLocaleString('en-US');
export const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * Calls `task(i)` for i in 0..count-1 with `concurrency` calls in flight, printing progress
 * every 10 s with this process's longest stall and collection pause in those 10 s. A failed
 * call is counted (and a few are kept as samples), not retried.
 */
export async function bulk(
  label: string,
  count: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<{ seconds: number; errors: number; samples: string[] }> {
  let next = 0;
  let done = 0;
  let errors = 0;
  const samples: string[] = [];
  const startedAt = nowMs();
  let last = { at: startedAt, done: 0 };
  // This process's own pauses, so that a failed call can be told from a stall here.
  const pauses = watchPauses();
  const timer = setInterval(() => {
    const at = nowMs();
    const { stallMs, gcPauseMs } = pauses.take();
    console.log(
      `    ${label}: ${((at - startedAt) / 1000).toFixed(0)} s, ${fmt(done)}/${fmt(count)}, ` +
        `${fmt(((done - last.done) * 1000) / (at - last.at))}/s over the last 10 s ` +
        `[longest stall ${fmt(stallMs)} ms, GC pause ${gcPauseMs.toFixed(1)} ms]` +
        (errors > 0 ? `, ${errors} errors` : ''),
    );
    last = { at, done };
  }, 10_000);
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      try {
        await task(i);
      } catch (error) {
        errors++;
        if (samples.length < 5) samples.push(String(error).slice(0, 300));
      }
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  clearInterval(timer);
  pauses.stop();
  const seconds = (nowMs() - startedAt) / 1000;
  console.log(
    `    ${label}: ${fmt(count)} in ${seconds.toFixed(1)} s (${fmt(count / seconds)}/s)` +
      (errors > 0 ? `, ${errors} errors, e.g. ${samples.join(' | ')}` : ''),
  );
  return { seconds, errors, samples };
}

export interface BuildStep {
  step: string;
  count: number;
  seconds: number;
  errors: number;
  redisSentPerCall: number;
  redisExecutedPerCall: number;
  /** MongoDB commands sent per call (grouped inserts count once per group). */
  mongoPerCall: number;
  /** Growth of Redis's used memory over the step, per call (whole server; bytes). */
  redisBytesPerCall: number;
}

/** A network as built, with what measurements on it need to know of it. */
export interface BuiltNetwork {
  name: string;
  sizes: NetworkSizes;
  stack: Stack;
  /** The session of the admin signed up first, when one was asked for. */
  adminToken: string;
  /** ObjectId hex of account i (username `user<i>`). */
  userIds: string[];
  followSet: Set<number>;
  followFrom: Int32Array;
  followTo: Int32Array;
  /** Follows from this index on are the random ones (not of whales or measured authors). */
  randomFollowsFrom: number;
  truthIds: string[];
  truthAuthor: Int32Array;
  /** 1 for a reply, 2 for a thread root, 3 for a prolific author's post, 0 otherwise. */
  truthRole: Uint8Array;
  rootTruths: number[];
  reactionSet: Set<number>;
  reactionUser: Int32Array;
  reactionTruth: Int32Array;
  build: BuildStep[];
}

/**
 * Builds one network through the services of `server` (started with `monitorCommands`, for the
 * per-call command counts), printing each step's time. Waitlist entries stay waiting unless
 * the server admits them.
 */
export async function buildNetwork(options: {
  name: string;
  sizes: NetworkSizes;
  stack: Stack;
  server: BenchServer;
  passwordHash: string;
  concurrency: number;
  seed: number;
  /** Signed up through the API before anything else (so before anyone waits). */
  adminUsername?: string;
}): Promise<BuiltNetwork> {
  const { name, sizes, stack, server, passwordHash, concurrency } = options;
  const { services } = server.app.internals;
  const random = createRandom(options.seed);
  const n = sizes.accounts;
  if (n <= firstOrdinary + 10) throw new Error(`${name}: at least ${firstOrdinary + 11} accounts`);
  if (sizes.whaleFollowers >= n) throw new Error(`${name}: whale followers must be < accounts`);
  const designatedFollows = whaleCount * sizes.whaleFollowers + posterCount * posterFollowers;
  if (sizes.follows < designatedFollows)
    throw new Error(`${name}: at least ${designatedFollows} follows for this shape`);
  const designatedPosts = prolificCount * prolificPosts;
  const replies = Math.round(sizes.truths * 0.1);
  const roots = Math.max(measuredRoots, Math.round(replies / repliesPerRoot));
  if (sizes.truths - replies < designatedPosts + roots)
    throw new Error(`${name}: at least ${designatedPosts + roots + replies} truths`);
  const build: BuildStep[] = [];
  // Redis work per call: commands the builder's clients send (bench-app.ts, `countWork`), and
  // commands Redis executes (scripts' own calls included).
  const work = countWork(server.app);
  const executed = async () => (await redisTotals(server)).commands;
  const usedMemory = async () => (await redisTotals(server)).usedMemory;
  const step = async (label: string, count: number, task: (i: number) => Promise<unknown>) => {
    const { redisSent: sent, mongoCommands } = work();
    const before = { sent, mongoCommands, executed: await executed(), memory: await usedMemory() };
    const result = await bulk(`${name} ${label}`, count, concurrency, task);
    await services.effects.settled();
    build.push({
      step: label,
      count,
      seconds: result.seconds,
      errors: result.errors,
      redisSentPerCall: (work().redisSent - before.sent) / count,
      mongoPerCall: (work().mongoCommands - before.mongoCommands) / count,
      redisExecutedPerCall: ((await executed()) - before.executed - 1) / count,
      redisBytesPerCall: count === 0 ? 0 : ((await usedMemory()) - before.memory) / count,
    });
  };
  const viewer = (i: number) => ({ id: userIds[i]!, role: 'user' as const });

  console.log(`  building the ${name} network...`);
  const adminToken = options.adminUsername
    ? (await signUp(server, options.adminUsername)).token
    : '';

  const userIds: string[] = new Array<string>(n);
  await step('accounts', n, async (i) => {
    const session = await services.users.createAccount(
      { username: `user${i}`, email: `user${i}@network.example`, password: networkPassword },
      { passwordHash },
    );
    userIds[i] = session.user._id.toHexString();
  });

  // Follows: the whales', the measured authors', then random ones, in a shuffled order.
  const followSet = new Set<number>();
  const followFrom = new Int32Array(sizes.follows);
  const followTo = new Int32Array(sizes.follows);
  let follows = 0;
  const addFollow = (from: number, to: number) => {
    const key = from * n + to;
    if (from === to || followSet.has(key)) return false;
    followSet.add(key);
    followFrom[follows] = from;
    followTo[follows] = to;
    follows++;
    return true;
  };
  for (let w = 0; w < whaleCount; w++)
    for (let k = 0; k < sizes.whaleFollowers;) if (addFollow(random.int(n), w)) k++;
  for (const p of posters)
    for (let k = 0; k < posterFollowers;) if (addFollow(random.int(n), p)) k++;
  const randomFollowsFrom = follows;
  while (follows < sizes.follows) {
    const to = random.int(n);
    if (!isPoster(to)) addFollow(random.int(n), to);
  }
  const followOrder = shuffle(
    Int32Array.from({ length: follows }, (_, i) => i),
    random,
  );
  await step('follows', follows, (k) => {
    const i = followOrder[k]!;
    return services.relations.follow(viewer(followFrom[i]!), userIds[followTo[i]!]!);
  });

  // Truths: posts first (the prolific authors' among them), then replies to the thread roots.
  const t = sizes.truths;
  const posts = t - replies;
  const truthIds: string[] = new Array<string>(t);
  const truthAuthor = new Int32Array(t);
  const truthRole = new Uint8Array(t);
  const postOrder = shuffle(
    Int32Array.from({ length: posts }, (_, i) => i),
    random,
  );
  for (let k = 0; k < posts; k++) {
    const i = postOrder[k]!;
    if (k < designatedPosts) {
      truthAuthor[i] = prolific[k % prolificCount]!;
      truthRole[i] = 3;
    } else {
      truthAuthor[i] = random.int(n);
      if (k < designatedPosts + roots) truthRole[i] = 2;
    }
  }
  const rootTruths: number[] = [];
  for (let i = 0; i < posts; i++) if (truthRole[i] === 2) rootTruths.push(i);
  for (let i = posts; i < t; i++) {
    truthAuthor[i] = random.int(n);
    truthRole[i] = 1;
  }
  const textOf = (i: number) => {
    const roll = random.next();
    const tag = roll < 0.05 ? ' #launch' : roll < 0.1 ? ` #topic${random.int(50)}` : '';
    const mention = random.next() < 0.01 ? ` cc @user${random.int(n)}` : '';
    return `Truth ${i}: notes from day ${i % 97} of the network${tag}${mention}`;
  };
  await step('truths (posts)', posts, async (i) => {
    const { truth } = await services.truths.post(viewer(truthAuthor[i]!), { text: textOf(i) });
    truthIds[i] = truth._id.toHexString();
  });
  await step('truths (replies)', replies, async (k) => {
    const i = posts + k;
    const { truth } = await services.truths.post(viewer(truthAuthor[i]!), {
      text: textOf(i),
      replyToId: truthIds[rootTruths[k % rootTruths.length]!]!,
    });
    truthIds[i] = truth._id.toHexString();
  });

  const reactionSet = new Set<number>();
  const reactionUser = new Int32Array(sizes.reactions);
  const reactionTruth = new Int32Array(sizes.reactions);
  const reactionKind = new Uint8Array(sizes.reactions);
  for (let r = 0; r < sizes.reactions;) {
    const u = random.int(n);
    const truth = random.int(t);
    const key = u * t + truth;
    if (reactionSet.has(key)) continue;
    reactionSet.add(key);
    reactionUser[r] = u;
    reactionTruth[r] = truth;
    reactionKind[r] = random.int(reactionKinds.length);
    r++;
  }
  await step('reactions', sizes.reactions, (r) =>
    services.reactions.react(
      viewer(reactionUser[r]!),
      truthIds[reactionTruth[r]!]!,
      reactionKinds[reactionKind[r]!]!,
    ),
  );

  await step('waitlist entries', sizes.waitlist, (i) =>
    services.waitlist.join({ email: `wait${i}@network.example`, username: `wait${i}` }),
  );

  console.log(`  ${name} network built in ${buildSeconds(build).toFixed(1)} s:`);
  for (const s of build)
    console.log(
      `    ${s.step.padEnd(18)} ${fmt(s.count).padStart(10)} in ${s.seconds.toFixed(1).padStart(7)} s` +
        ` (${fmt(s.count / s.seconds)}/s; Redis commands each: ${s.redisSentPerCall.toFixed(1)} sent, ` +
        `${s.redisExecutedPerCall.toFixed(1)} executed; MongoDB commands each: ${s.mongoPerCall.toFixed(2)}; ` +
        `Redis memory each: ${fmt(s.redisBytesPerCall)} B)` +
        (s.errors > 0 ? `, ${s.errors} errors` : ''),
    );
  return {
    name,
    sizes,
    stack,
    adminToken,
    userIds,
    followSet,
    followFrom,
    followTo,
    randomFollowsFrom,
    truthIds,
    truthAuthor,
    truthRole,
    rootTruths,
    reactionSet,
    reactionUser,
    reactionTruth,
    build,
  };
}

export const buildSeconds = (build: readonly BuildStep[]) =>
  build.reduce((sum, s) => sum + s.seconds, 0);

// ---------------------------------------------------------------------------------------------
// The password

let sharedHash: Promise<string> | undefined;
/** The one precomputed argon2 hash of `networkPassword`. */
export const networkPasswordHash = () => (sharedHash ??= hashPassword(networkPassword));

// ---------------------------------------------------------------------------------------------
// The background network of every scenario

/** The instance that builds a network: no admissions (entries stay waiting), no capacity limit. */
export const builderEnv = {
  WAITLIST_ADMISSION_RATE_PER_MINUTE: '0',
  WAITLIST_MAX_ACTIVE_ACCOUNTS: '0',
};

/** BENCH_NETWORK_* sizes: what a scenario's background network holds. */
export function backgroundSizes(): NetworkSizes {
  return {
    accounts: sizeFromEnv('BENCH_NETWORK_ACCOUNTS', 10_000),
    follows: sizeFromEnv('BENCH_NETWORK_FOLLOWS', 100_000),
    truths: sizeFromEnv('BENCH_NETWORK_TRUTHS', 50_000),
    reactions: sizeFromEnv('BENCH_NETWORK_REACTIONS', 100_000),
    waitlist: sizeFromEnv('BENCH_NETWORK_WAITLIST', 5_000),
    whaleFollowers: sizeFromEnv('BENCH_NETWORK_WHALE_FOLLOWERS', 1_000),
  };
}

/**
 * Builds the background network of a scenario on `stack` (BENCH_NETWORK_* sizes) through a
 * builder instance that is stopped afterwards, so that the scenario's own instances start with
 * nothing of the build held in process. Its waitlist entries are left waiting, admissions at
 * rate 0 (no admission work during measurements): a scenario's accounts are made with
 * `createAccount`, since `signUp` answers a waitlist ticket while anyone waits.
 */
export async function buildBackgroundNetwork(stack: Stack): Promise<BuiltNetwork> {
  const builder = await stack.startVerity(builderEnv, { monitorCommands: true });
  try {
    // The waitlist's settings document is made on first use, from the env of the instance
    // that uses it first: made now, it holds admissions at rate 0 for every later instance.
    await builder.app.internals.services.waitlist.stats();
    return await buildNetwork({
      name: 'background',
      sizes: backgroundSizes(),
      stack,
      server: builder,
      passwordHash: await networkPasswordHash(),
      concurrency: sizeFromEnv('BENCH_NETWORK_BUILD_CONCURRENCY', 128),
      seed: 1,
    });
  } finally {
    await builder.stop();
  }
}

/** What a background network holds, as one line. */
export function describeSizes(sizes: NetworkSizes): string {
  return (
    `${fmt(sizes.accounts)} accounts, ${fmt(sizes.follows)} follows, ${fmt(sizes.truths)} truths, ` +
    `${fmt(sizes.reactions)} reactions, ${fmt(sizes.waitlist)} waitlist entries waiting`
  );
}

/** The row stating how the background network was built. */
export function backgroundRow(network: BuiltNetwork): Row {
  const errors = network.build.reduce((sum, s) => sum + s.errors, 0);
  return {
    metric: 'background network, built through the services (setup)',
    value: buildSeconds(network.build),
    unit: 's',
    note: describeSizes(network.sizes) + (errors > 0 ? `; ${errors} BUILD ERRORS` : ''),
  };
}

/**
 * An account made through the users service with the network's precomputed hash (as the
 * builder makes them), with its session: `signUp` would answer a waitlist ticket while the
 * background's entries wait. `id` is the account's global id, as the API gives it.
 */
export async function createAccount(
  server: BenchServer,
  username: string,
): Promise<{ token: string; id: string }> {
  const session = await server.app.internals.services.users.createAccount(
    { username, email: `${username}@bench.example`, password: networkPassword },
    { passwordHash: await networkPasswordHash() },
  );
  return { token: session.token, id: toGlobalId('User', session.user._id.toHexString()) };
}

// ---------------------------------------------------------------------------------------------
// The size of the database

export interface DatabaseSize {
  /** Documents and bytes per model's collection. */
  collections: Record<string, { count: number; bytes: number }>;
  /** dbStats totalSize: collections and indexes. */
  mongoBytes: number;
  redisMemory: string;
  redisBytes: number;
  redisKeys: number;
}

/**
 * Documents and bytes per MongoDB collection (collStats, never countDocuments: FerretDB counts
 * a collection by reading every document, about a minute per million here) and Redis memory:
 * the size of the database measured on. Redis figures cover the whole server (every namespace).
 *
 * Through a client of its own without a socket timeout: FerretDB answers collStats and dbStats
 * by reading every page of the collections (SQLite's dbstat), longer than the 30 s an instance
 * waits for a command on a launch-size network.
 */
export async function measureSize(server: BenchServer): Promise<DatabaseSize> {
  const collections: DatabaseSize['collections'] = {};
  const client = await mongoose.mongo.MongoClient.connect(server.mongoUri, { socketTimeoutMS: 0 });
  try {
    const db = client.db(server.namespace);
    for (const [name, model] of Object.entries(server.app.internals.models)) {
      const stats = await db.command({ collStats: model.collection.collectionName });
      collections[name] = { count: Number(stats['count']), bytes: Number(stats['size']) };
    }
    const dbStats = await db.command({ dbStats: 1 });
    const totals = await redisTotals(server);
    return {
      collections,
      mongoBytes: Number(dbStats['totalSize']),
      redisMemory: `${(totals.usedMemory / 2 ** 20).toFixed(1)}M`,
      redisBytes: totals.usedMemory,
      redisKeys: totals.keys,
    };
  } finally {
    await client.close();
  }
}

/**
 * Commands processed, used memory and keys of the Redis behind `server`, summed over its
 * masters (one on a single Redis), through Verity's own clients.
 */
export async function redisTotals(
  server: BenchServer,
): Promise<{ commands: number; usedMemory: number; keys: number }> {
  const { redis } = server.app.internals;
  const figures = await Promise.all(
    redis.masters().map(async (master) => {
      const info = await master.info();
      const field = (name: string) =>
        Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
      return {
        commands: field('total_commands_processed'),
        usedMemory: field('used_memory'),
        keys: await master.dbsize(),
      };
    }),
  );
  return figures.reduce((sum, one) => ({
    commands: sum.commands + one.commands,
    usedMemory: sum.usedMemory + one.usedMemory,
    keys: sum.keys + one.keys,
  }));
}

/** Redis's latency monitor records events from this long on (ms). */
export const redisLatencyThresholdMs = 1;

/** Commands Redis's slow log keeps between two resets (the longest is looked for among them). */
const redisSlowLogLength = 1024;

/**
 * Starts (or restarts) Redis's latency monitor and its slow log on every master behind
 * `server`: from now, `redisLongestEvent` gives the longest event Redis itself took, a command
 * or a job of its own (expiry, a fork), of `redisLatencyThresholdMs` or more, and for a
 * command which one.
 */
export async function resetRedisLatency(server: BenchServer): Promise<void> {
  await Promise.all(
    server.app.internals.redis.masters().map(async (master) => {
      await master.config('SET', 'latency-monitor-threshold', String(redisLatencyThresholdMs));
      await master.config('SET', 'slowlog-log-slower-than', String(redisLatencyThresholdMs * 1000));
      await master.config('SET', 'slowlog-max-len', String(redisSlowLogLength));
      await master.latency('RESET');
      await master.call('SLOWLOG', 'RESET');
    }),
  );
}

/**
 * The longest event Redis recorded since `resetRedisLatency`, over its masters: how long it took
 * (ms; 0 for none) and its kind as the latency monitor names it (`command`, `fast-command`,
 * `expire-cycle`, `fork`, ...; empty for none), followed for a `command` by the kind of the
 * longest command in the slow log (`command evalsha 1f0c2a m:fd:pos`).
 */
export async function redisLongestEvent(
  server: BenchServer,
): Promise<{ ms: number; kind: string }> {
  let longest = { ms: 0, kind: '' };
  let slowest = { us: 0, kind: '' };
  for (const master of server.app.internals.redis.masters()) {
    // One entry per kind of event: its name, when it last happened, its latest and its longest
    // time (ms) since the reset.
    const events = (await master.latency('LATEST')) as [string, number, number, number][];
    for (const [kind, , , max] of events) {
      if (Number(max) > longest.ms) longest = { ms: Number(max), kind };
    }
    // Each entry: its id, when, how long it ran (µs), and the command with its arguments.
    const entries = (await master.call('SLOWLOG', 'GET', String(redisSlowLogLength))) as [
      number,
      number,
      number,
      string[],
    ][];
    for (const [, , us, [name = '', ...args]] of entries) {
      if (Number(us) > slowest.us) {
        slowest = { us: Number(us), kind: redisKind({ name: name.toLowerCase(), args }) };
      }
    }
  }
  if (longest.kind === 'command' && slowest.kind) {
    longest = { ...longest, kind: `${longest.kind} ${slowest.kind}` };
  }
  return longest;
}

export function printSize(label: string, size: DatabaseSize) {
  const { collections, mongoBytes, redisMemory, redisKeys } = size;
  console.log(`  ${label} database (MongoDB ${mib(mongoBytes)} in all):`);
  for (const [name, { count, bytes }] of Object.entries(collections))
    console.log(
      `    ${name.padEnd(20)} ${fmt(count).padStart(12)} documents ${mib(bytes).padStart(12)}`,
    );
  console.log(`    Redis used_memory_human: ${redisMemory}, ${fmt(redisKeys)} keys`);
}

/**
 * Rows stating the size of the database: documents per collection (empty ones left out),
 * MongoDB's size, Redis's used memory and keys; each next to `baseline`'s when given.
 */
export function sizeRows(
  size: DatabaseSize,
  options: { prefix?: string; baseline?: { label: string; size: DatabaseSize } } = {},
): Row[] {
  const prefix = options.prefix ? `${options.prefix}: ` : '';
  const base = options.baseline;
  const against = (value: number) =>
    base ? { baseline: base.label, baselineValue: value } : ({} as const);
  const rows: Row[] = [];
  for (const [name, { count, bytes }] of Object.entries(size.collections)) {
    const other = base?.size.collections[name];
    if (count === 0 && (other?.count ?? 0) === 0) continue;
    rows.push({
      metric: `${prefix}documents: ${name}`,
      value: count,
      unit: '',
      ...against(other?.count ?? 0),
      note: other ? `${mib(bytes)} vs ${mib(other.bytes)}` : mib(bytes),
    });
  }
  rows.push(
    {
      metric: `${prefix}MongoDB size (collections and indexes)`,
      value: size.mongoBytes / 2 ** 20,
      unit: 'MiB',
      ...against((base?.size.mongoBytes ?? 0) / 2 ** 20),
    },
    {
      metric: `${prefix}Redis used memory`,
      value: size.redisBytes / 2 ** 20,
      unit: 'MiB',
      ...against((base?.size.redisBytes ?? 0) / 2 ** 20),
      note: `${fmt(size.redisKeys)} keys` + (base ? ` vs ${fmt(base.size.redisKeys)}` : ''),
    },
    {
      metric: `${prefix}Redis keys`,
      value: size.redisKeys,
      unit: '',
      ...against(base?.size.redisKeys ?? 0),
    },
  );
  return rows;
}

/**
 * Measures, prints and states the size of the database a scenario runs on, with the
 * background network's build. `server` is any instance on the stack.
 */
export async function databaseRows(
  stack: Stack,
  server: BenchServer,
  network: BuiltNetwork,
  label = 'measured',
): Promise<Row[]> {
  const countedAt = nowMs();
  const size = await measureSize(server);
  printSize(
    `${label} (on ${stack.redisKind === 'cluster' ? 'a Redis Cluster' : 'one Redis'})`,
    size,
  );
  console.log(`    (counted in ${((nowMs() - countedAt) / 1000).toFixed(1)} s)`);
  return [backgroundRow(network), ...sizeRows(size)];
}
