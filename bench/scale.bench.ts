/**
 * `npm run bench scale`: does every operation cost the same on a launch-size network as on a
 * small one?
 *
 * Two networks are built on their own embedded stacks (FerretDB and redis-server each), through
 * Verity's own write code: the services, called in process by a bulk loader with many calls in
 * flight, every account sharing one precomputed password hash. Then each is served by a fresh
 * instance in a Node process of its own (nothing held from the build, and no heap shared with
 * the bench's bookkeeping of the network) and every operation is measured over real
 * HTTP GraphQL, from a load client in its own process, at concurrency 1 and 32, on the small
 * network and on the launch network alternately, each request with its own prepared inputs.
 * Last, the launch replay on the launch network: a crowd joins the waitlist, the admission
 * tick lets a part of it in at a set rate, and each admitted person completes sign-up,
 * follows ten accounts and posts once.
 *
 * Both are built by bench/lib/network.ts, with the same shape, so that the measured requests
 * meet the same kind of data: five big accounts with `WHALE_FOLLOWERS` followers each (below the
 * whale threshold, 50,000, so they are fanned out), 16 accounts with exactly 100 followers (the
 * authors of the measured posts), 16 accounts with 120 posts each (the measured profile pages),
 * thread roots with 10 replies each (a tenth of the truths are replies), #launch on 5% of the
 * truths, a mention in 1%; everything else spread at random, without duplicate follows or
 * reactions.
 *
 * Sizes, each from the environment (SMALL / LAUNCH defaults):
 *   BENCH_SCALE_SMALL_ACCOUNTS, BENCH_SCALE_LAUNCH_ACCOUNTS                 1,000 / 200,000
 *   BENCH_SCALE_SMALL_FOLLOWS, BENCH_SCALE_LAUNCH_FOLLOWS                  10,000 / 2,000,000
 *   BENCH_SCALE_SMALL_TRUTHS, BENCH_SCALE_LAUNCH_TRUTHS                     5,000 / 1,000,000
 *   BENCH_SCALE_SMALL_REACTIONS, BENCH_SCALE_LAUNCH_REACTIONS              10,000 / 2,000,000
 *   BENCH_SCALE_SMALL_WAITLIST, BENCH_SCALE_LAUNCH_WAITLIST                   500 / 100,000
 *   BENCH_SCALE_SMALL_WHALE_FOLLOWERS, BENCH_SCALE_LAUNCH_WHALE_FOLLOWERS     200 / 12,000
 * and for the run:
 *   BENCH_SCALE_BUILD_CONCURRENCY      service calls in flight while building (128)
 *   BENCH_SCALE_REQUESTS               measured requests per operation at concurrency 1 (300)
 *   BENCH_SCALE_CONCURRENT_REQUESTS    the same at concurrency 32 (500)
 *   BENCH_SCALE_HASHING_REQUESTS       for signUp at concurrency 1 (50): each grows the small
 *                                      network by an account
 *   BENCH_SCALE_CONCURRENT_HASHING_REQUESTS    the same at concurrency 32 (200)
 *   BENCH_SCALE_READ_FACTOR            times as many for a read, which changes nothing and can
 *                                      reuse its inputs (4)
 *   BENCH_SCALE_ROUNDS                 rounds the requests are split into, the networks taking
 *                                      turns (3); a figure's p99 is the median of its rounds'
 *                                      p99s
 *   BENCH_SCALE_REPLAY_JOINS           people joining in the launch replay (170,000)
 *   BENCH_SCALE_REPLAY_ADMITTED        of them admitted, signed up, following, posting (20,000)
 *   BENCH_SCALE_REPLAY_RATE            admissions per minute in the replay (10,000)
 *   BENCH_SCALE_REPLAY_CONCURRENCY     requests in flight in the replay (64)
 *   BENCH_SCALE_REPLAY=no              skips the replay
 *   BENCH_SCALE_KEEP=<dir>             keeps each network, as built, in <dir>/small and
 *                                      <dir>/launch, and on a later run measures on a copy of
 *                                      the one kept there instead of building it again (the
 *                                      sizes must match; delete the directory to build anew)
 *   BENCH_SCALE_OPERATIONS             measures only the operations whose names contain one of
 *                                      these comma-separated words (any case); all by default
 *   BENCH_PROFILE=<dir>                a CPU profile of each serving process, written into <dir>
 *   BENCH_SERVER_FLAGS="<flags>"       Node or V8 flags for the serving processes alone
 *   BENCH_SERVER_ENV="NAME=value …"    settings for the serving processes alone, over the
 *                                      bench's (NEAR_CACHE_ENTRIES=0: no in-process copies)
 *
 * Next to each operation's latencies it prints what each request cost the serving process: CPU,
 * garbage-collection pauses, Redis commands sent, MongoDB commands with their time (sent to
 * answered) and how many of them took over 10 ms, and its heap after, so that a launch figure
 * above its small one says where the time went; and next to each round's p99 the process's
 * longest event-loop stall and longest collection pause in that round, the load client's
 * longest stall and the longest event Redis's latency monitor recorded (and its kind; for a
 * command, which one, from Redis's slow log), so that a slow round says whether the server, the
 * client or Redis stood still, and on what; and the kinds of Redis command whose count a
 * request differs most between the networks (name and key shape), so that a launch figure
 * above its small one names the reads it adds. At concurrency 1 it also
 * prints, for each round, the request whose latency is that round's p99 and what the serving
 * process did while it was out (its serving time and CPU, and each MongoDB or Redis command and
 * collection pause of 2 ms or more: bench/lib/bench-app.ts, `Hold`), so that a p99 names what
 * made it. Before the operations, it prints what each serving process costs with no request at
 * all (its timers), over 5 seconds.
 */
import path from 'node:path';
import { toGlobalId } from '../src/graphql/global-id.js';
import { createTokenService } from '../src/modules/auth/index.js';
import {
  buildNetwork,
  buildSeconds,
  createRandom,
  firstOrdinary,
  fmt,
  keepNetwork,
  keptNetwork,
  measuredRoots,
  mib,
  measureSize,
  networkPassword as password,
  networkPasswordHash,
  posterCount,
  posters,
  printSize,
  prolific,
  prolificCount,
  reactionKinds as kinds,
  redisLongestEvent,
  resetRedisLatency,
  shuffle,
  sizeRows,
  whaleCount,
  type BuiltNetwork,
  type DatabaseSize,
  type NetworkSizes as Sizes,
  type Random,
} from './lib/network.js';
import type { Row, Scenario } from './lib/report.js';
import {
  firstAndLastTenth,
  runRequests,
  throughputBuckets,
  type Completions,
  type PreparedRequest,
  type RequestRunResult,
} from './lib/request-load.js';
import { uploadImage } from './lib/media.js';
import { holdMs, slowMongoMs, type Hold, type ProcessWork } from './lib/bench-app.js';
import {
  benchJwtSecret,
  startStack,
  type BenchServer,
  type Stack,
  type VerityProcess,
} from './lib/stack.js';
import { median, nowMs, quantile, sizeFromEnv, sleep } from './lib/stats.js';

const adminUsername = 'scale_admin';

const serverEnv = {
  WAITLIST_ADMISSION_RATE_PER_MINUTE: '0',
  WAITLIST_MAX_ACTIVE_ACCOUNTS: '0',
  ADMIN_USERNAMES: adminUsername,
};

function sizesFor(name: 'SMALL' | 'LAUNCH', defaults: Sizes): Sizes {
  const size = (field: string, fallback: number) =>
    sizeFromEnv(`BENCH_SCALE_${name}_${field}`, fallback);
  return {
    accounts: size('ACCOUNTS', defaults.accounts),
    follows: size('FOLLOWS', defaults.follows),
    truths: size('TRUTHS', defaults.truths),
    reactions: size('REACTIONS', defaults.reactions),
    waitlist: size('WAITLIST', defaults.waitlist),
    whaleFollowers: size('WHALE_FOLLOWERS', defaults.whaleFollowers),
  };
}

/** A network as built (bench/lib/network.ts), served by a fresh instance. */
interface Network extends BuiltNetwork {
  name: 'small' | 'launch';
  server: BenchServer;
  size: DatabaseSize;
  /** Handed-out inputs, so that no two measured requests share one. */
  used: Set<string>;
  /** The instance the measured requests go to, in a process of its own. */
  served: VerityProcess;
}

/** What a round cost the serving process, summed: its maxima travel apart (`Figures`). */
type Work = Omit<ProcessWork, 'heapUsedBytes' | 'longestGcMs' | 'longestStallMs' | 'holds'>;

const workSince = (before: ProcessWork, after: ProcessWork): Work => ({
  cpuMs: after.cpuMs - before.cpuMs,
  gcMs: after.gcMs - before.gcMs,
  majorGcs: after.majorGcs - before.majorGcs,
  redisSent: after.redisSent - before.redisSent,
  redisByKind: Object.fromEntries(
    Object.entries(after.redisByKind).flatMap(([kind, n]) => {
      const sent = n - (before.redisByKind[kind] ?? 0);
      return sent > 0 ? [[kind, sent]] : [];
    }),
  ),
  mongoCommands: after.mongoCommands - before.mongoCommands,
  mongoMs: after.mongoMs - before.mongoMs,
  mongoSlow: after.mongoSlow - before.mongoSlow,
});

const addWork = (into: Work, more: Work) => {
  for (const key of Object.keys(into) as (keyof Work)[]) {
    if (key !== 'redisByKind') into[key] += more[key];
  }
  for (const [kind, n] of Object.entries(more.redisByKind)) {
    into.redisByKind[kind] = (into.redisByKind[kind] ?? 0) + n;
  }
};

const noWork = (): Work => ({
  cpuMs: 0,
  gcMs: 0,
  majorGcs: 0,
  redisSent: 0,
  redisByKind: {},
  mongoCommands: 0,
  mongoMs: 0,
  mongoSlow: 0,
});

const describeWork = (work: Work, requests: number, heapUsedBytes: number) =>
  `CPU ${(work.cpuMs / requests).toFixed(2)} ms, GC ${(work.gcMs / requests).toFixed(2)} ms ` +
  `(${work.majorGcs} full), Redis ${(work.redisSent / requests).toFixed(1)}, ` +
  `MongoDB ${(work.mongoCommands / requests).toFixed(1)} (${(work.mongoMs / requests).toFixed(2)} ms) ` +
  `per request, ${work.mongoSlow} MongoDB commands over ${slowMongoMs} ms; heap ${mib(heapUsedBytes)}`;

/**
 * The kinds of Redis command (bench/lib/bench-app.ts, `redisKind`) whose count a request differs
 * most between the networks, most sent more on the launch network first: where its extra
 * round trips go. Kinds under 0.05 a request on both networks are left out.
 */
function describeKinds(small: Work, smallRequests: number, launch: Work, launchRequests: number) {
  const kinds = new Set([...Object.keys(small.redisByKind), ...Object.keys(launch.redisByKind)]);
  const rows = [...kinds]
    .map((kind) => ({
      kind,
      small: (small.redisByKind[kind] ?? 0) / smallRequests,
      launch: (launch.redisByKind[kind] ?? 0) / launchRequests,
    }))
    .filter((row) => Math.max(row.small, row.launch) >= 0.05)
    .sort((a, b) => b.launch - b.small - (a.launch - a.small));
  return rows
    .slice(0, 6)
    .map((row) => `${row.kind} ${row.small.toFixed(2)} → ${row.launch.toFixed(2)}`)
    .join(', ');
}

// ---------------------------------------------------------------------------------------------
// The measured operations

const truthFields =
  'id kind text createdAt hashtags author { id username displayName } ' +
  'counts { replies retruths quotes reactions } viewerReaction viewerHasRetruthed';

const documents = {
  user: 'query($u: String!) { user(username: $u) { id username displayName bio followerCount followingCount truthCount viewerIsFollowing } }',
  logIn: 'mutation($i: LogInInput!) { logIn(input: $i) { token user { id } } }',
  signUp:
    'mutation($i: SignUpInput!) { signUp(input: $i) { __typename ... on Session { token user { id } } ... on WaitlistTicket { ticket } } }',
  joinWaitlist:
    'mutation($i: JoinWaitlistInput!) { joinWaitlist(input: $i) { ticket position ticketToken } }',
  completeSignUp:
    'mutation($i: CompleteSignUpInput!) { completeSignUp(input: $i) { token user { id } } }',
  follow:
    'mutation($i: UserActionInput!) { follow(input: $i) { user { id followerCount viewerIsFollowing } } }',
  unfollow:
    'mutation($i: UserActionInput!) { unfollow(input: $i) { user { id followerCount viewerIsFollowing } } }',
  react:
    'mutation($i: ReactInput!) { react(input: $i) { truth { id counts { reactions byKind { kind count } } viewerReaction } } }',
  removeReaction:
    'mutation($i: RemoveReactionInput!) { removeReaction(input: $i) { truth { id counts { reactions } viewerReaction } } }',
  postTruth: `mutation($i: PostTruthInput!) { postTruth(input: $i) { truth { ${truthFields} } } }`,
  postWithMedia: `mutation($i: PostTruthInput!) { postTruth(input: $i) { truth { ${truthFields} media { url thumbnailUrl width height altText } } } }`,
  createMediaUpload:
    'mutation($i: CreateMediaUploadInput!) { createMediaUpload(input: $i) { uploadUrl mediaId expiresAt } }',
  deleteTruth: 'mutation($i: DeleteTruthInput!) { deleteTruth(input: $i) { deletedTruthId } }',
  userTruths: `query($u: String!, $a: String) { user(username: $u) { id truths(first: 20, after: $a) { edges { cursor node { ${truthFields} } } pageInfo { hasNextPage endCursor } } } }`,
  hashtagFeed: `query($t: String!) { hashtagFeed(tag: $t, first: 20) { edges { cursor node { ${truthFields} } } pageInfo { hasNextPage endCursor } } }`,
  thread: `query($id: ID!) { thread(id: $id) { truth { ${truthFields} } ancestors { id } replies(first: 20) { edges { cursor node { ${truthFields} } } pageInfo { hasNextPage endCursor } } } }`,
  notifications:
    'query { notifications(first: 20) { unreadCount edges { cursor node { id kind createdAt read waitlistTicket actor { id username } truth { id text } } } pageInfo { hasNextPage endCursor } } }',
  markRead: 'mutation { markNotificationsRead(input: { all: true }) { unreadCount } }',
  admitOne: 'mutation { admitNext(count: 1) { admittedThrough waiting } }',
  reportTruth:
    'mutation($i: ReportTruthInput!) { reportTruth(input: $i) { report { id status openReportsOnTarget } } }',
  resolveReport:
    'mutation($i: ResolveReportInput!) { resolveReport(input: $i) { report { id status openReportsOnTarget } } }',
  admitMany: 'mutation($n: Int!) { admitNext(count: $n) { admittedThrough waiting } }',
  stats: 'query { waitlistStats { waiting admitted admittedThrough lastTicket paused } }',
  setCapacity:
    'mutation($i: SetWaitlistCapacityInput!) { setWaitlistCapacity(input: $i) { admittedThrough waiting } }',
  pause: 'mutation { pauseAdmissions { admittedThrough waiting paused } }',
  searchUsers:
    'query($q: String!) { searchUsers(query: $q, first: 10) { id username displayName followerCount viewerIsFollowing } }',
  searchHashtags: 'query($p: String!) { searchHashtags(prefix: $p, first: 10) { tag truthCount } }',
  trends: `query { trends { computedAt hashtags { tag score } truths { score truth { ${truthFields} } } } }`,
};

const body = (query: string, variables?: Record<string, unknown>) =>
  JSON.stringify(variables ? { query, variables } : { query });

/** The inputs of one measured run: requests and the sessions they use. */
interface Batch {
  requests: PreparedRequest[];
  tokens: string[];
}

/** Collects requests, giving each session one index. */
function createBatch() {
  const tokens: string[] = [];
  const indexOf = new Map<string, number>();
  const requests: PreparedRequest[] = [];
  return {
    add(requestBody: string, token?: string) {
      if (token === undefined) {
        requests.push({ body: requestBody });
        return;
      }
      let index = indexOf.get(token);
      if (index === undefined) {
        index = tokens.length;
        tokens.push(token);
        indexOf.set(token, index);
      }
      requests.push({ body: requestBody, token: index });
    },
    done: (): Batch => ({ requests, tokens }),
  };
}

interface Operation {
  name: string;
  /**
   * Bound by argon2 and grows the small network by an account a request (signUp): fewer
   * requests, unless a read (logIn).
   */
  hashing?: boolean;
  /**
   * Changes nothing and can reuse its inputs: measured with BENCH_SCALE_READ_FACTOR times the
   * requests, which a write cannot afford (each consumes an input the small network has few
   * of, or grows that network).
   */
  read?: boolean;
  /** The path under `data` that a successful answer holds. */
  expect: string;
  note?: string;
  prepare(network: Network, count: number, random: Random): Promise<Batch>;
}

const tokenService = createTokenService({ secret: new TextEncoder().encode(benchJwtSecret) });
const sessions = new Map<string, string>();

/** A session of account i, signed with the bench secret as logIn would issue it. */
async function sessionOf(network: Network, i: number): Promise<string> {
  const id = network.userIds[i]!;
  let token = sessions.get(id);
  if (!token) {
    token = (await tokenService.sign('session', id, 7 * 24 * 3_600)).token;
    sessions.set(id, token);
  }
  return token;
}

/** An ordinary account nobody measured has used yet (`purpose` scopes "used"). */
function freshAccount(network: Network, random: Random, purpose: string): number {
  for (let attempt = 0; attempt < 100_000; attempt++) {
    const i = firstOrdinary + random.int(network.sizes.accounts - firstOrdinary);
    const key = `${purpose}:${i}`;
    if (!network.used.has(key)) {
      network.used.add(key);
      return i;
    }
  }
  throw new Error(`${network.name}: no unused account left for ${purpose}`);
}

const counters = new Map<string, number>();
const nextOf = (name: string) => {
  const value = counters.get(name) ?? 0;
  counters.set(name, value + 1);
  return value;
};

/** Per network: the cursor of the fourth page of each prolific author's truths. */
const fifthPageCursors = new Map<string, string[]>();
/** Per network: accounts with unread notifications, for markNotificationsRead. */
const unreadViewers = new Map<string, number[]>();

/** A truth no measured request deletes, reported by nobody yet, whose author is ordinary. */
function reportableTruth(network: Network, random: Random): number {
  for (;;) {
    const truth = random.int(network.truthIds.length);
    if (network.truthAuthor[truth]! < firstOrdinary) continue;
    if (network.used.has(`delete:${truth}`) || network.used.has(`reported:${truth}`)) continue;
    network.used.add(`reported:${truth}`);
    return truth;
  }
}

/**
 * Reports per reporter in a run: well under RATE_LIMIT_REPORTS_PER_ACCOUNT (30 an hour), and
 * enough that the small network's accounts cover every measured report (1,200 at the
 * default request counts).
 */
const reportsPerReporter = 5;

/** An account that has sent fewer than `reportsPerReporter` reports and did not write `truth`. */
function reporterOf(network: Network, random: Random, truth: number): number {
  for (;;) {
    const reporter = freshAccount(network, random, `report:${random.int(reportsPerReporter)}`);
    if (reporter !== network.truthAuthor[truth]) return reporter;
  }
}

function operations(): Operation[] {
  const simple = (
    name: string,
    expect: string,
    make: (
      network: Network,
      random: Random,
    ) => { body: string; token?: string } | Promise<{ body: string; token?: string }>,
    extra: Partial<Operation> = {},
  ): Operation => ({
    name,
    expect,
    ...extra,
    async prepare(network, count, random) {
      const batch = createBatch();
      for (let k = 0; k < count; k++) {
        const request = await make(network, random);
        batch.add(request.body, request.token);
      }
      return batch.done();
    },
  });
  /** A read: changes nothing, so it is measured with more requests (see `Operation.read`). */
  const read = (name: string, expect: string, make: Parameters<typeof simple>[2]): Operation =>
    simple(name, expect, make, { read: true });
  const userGid = (network: Network, i: number) => toGlobalId('User', network.userIds[i]!);
  const truthGid = (network: Network, t: number) => toGlobalId('Truth', network.truthIds[t]!);

  return [
    simple(
      'user(username:), not read before',
      'user.id',
      async (network, random) => {
        const i = freshAccount(network, random, 'profile');
        return {
          body: body(documents.user, { u: `user${i}` }),
          token: await sessionOf(network, 0),
        };
      },
      { note: 'each name read once' },
    ),
    simple(
      'logIn',
      'logIn.token',
      (_network, random) => ({
        body: body(documents.logIn, {
          i: { login: `user${firstOrdinary + random.int(100)}`, password },
        }),
      }),
      { hashing: true, read: true },
    ),
    simple(
      'signUp',
      'signUp.token',
      (network) => {
        const k = nextOf(`${network.name}:signUp`);
        return {
          body: body(documents.signUp, {
            i: { username: `new${k}`, email: `new${k}@scale.example`, password },
          }),
        };
      },
      { hashing: true, note: 'waitlist drained: a Session' },
    ),
    simple('follow', 'follow.user.id', async (network, random) => {
      for (;;) {
        const from = freshAccount(network, random, 'follow-from');
        const to = firstOrdinary + random.int(network.sizes.accounts - firstOrdinary);
        const key = from * network.sizes.accounts + to;
        if (from === to || network.followSet.has(key)) continue;
        network.followSet.add(key);
        return {
          body: body(documents.follow, { i: { userId: userGid(network, to) } }),
          token: await sessionOf(network, from),
        };
      }
    }),
    simple('unfollow', 'unfollow.user.id', async (network, random) => {
      const span = network.followFrom.length - network.randomFollowsFrom;
      for (;;) {
        const f = network.randomFollowsFrom + random.int(span);
        if (network.used.has(`unfollow:${f}`)) continue;
        network.used.add(`unfollow:${f}`);
        return {
          body: body(documents.unfollow, {
            i: { userId: userGid(network, network.followTo[f]!) },
          }),
          token: await sessionOf(network, network.followFrom[f]!),
        };
      }
    }),
    simple('react', 'react.truth.id', async (network, random) => {
      const t = network.truthIds.length;
      for (;;) {
        const u = firstOrdinary + random.int(network.sizes.accounts - firstOrdinary);
        const truth = random.int(t);
        const key = u * t + truth;
        if (network.reactionSet.has(key)) continue;
        network.reactionSet.add(key);
        return {
          body: body(documents.react, {
            i: { truthId: truthGid(network, truth), kind: kinds[random.int(kinds.length)] },
          }),
          token: await sessionOf(network, u),
        };
      }
    }),
    simple('removeReaction', 'removeReaction.truth.id', async (network, random) => {
      for (;;) {
        const r = random.int(network.reactionUser.length);
        if (network.used.has(`unreact:${r}`)) continue;
        network.used.add(`unreact:${r}`);
        return {
          body: body(documents.removeReaction, {
            i: { truthId: truthGid(network, network.reactionTruth[r]!) },
          }),
          token: await sessionOf(network, network.reactionUser[r]!),
        };
      }
    }),
    simple(
      'postTruth (author with 100 followers)',
      'postTruth.truth.id',
      async (network) => {
        const k = nextOf(`${network.name}:post`);
        return {
          body: body(documents.postTruth, {
            i: {
              text: `Measured truth ${k} from a mid-size account`,
              idempotencyKey: `scale-post-${k}`,
            },
          }),
          token: await sessionOf(network, posters[k % posterCount]!),
        };
      },
      { note: 'with an idempotency key' },
    ),
    simple(
      'createMediaUpload',
      'createMediaUpload.uploadUrl',
      async (network) => {
        const k = nextOf(`${network.name}:upload-url`);
        return {
          body: body(documents.createMediaUpload, {
            i: { kind: 'IMAGE', contentType: 'image/png', byteSize: 20_000 },
          }),
          token: await sessionOf(network, posters[k % posterCount]!),
        };
      },
      { note: 'an upload URL (a signed token)' },
    ),
    simple(
      'postTruth with an image (author with 100 followers)',
      'postTruth.truth.media.0.url',
      async (network) => {
        const k = nextOf(`${network.name}:post-media`);
        const token = await sessionOf(network, posters[k % posterCount]!);
        // The upload itself (createMediaUpload, then the bytes) is done here, unmeasured: its
        // cost does not depend on the network's size. Measured: attaching and posting.
        const mediaId = await uploadImage(network.server, token);
        return {
          body: body(documents.postWithMedia, {
            i: {
              text: `Measured truth ${k} with a picture`,
              media: [{ id: mediaId, altText: 'a blue square' }],
            },
          }),
          token,
        };
      },
      { note: 'image uploaded beforehand' },
    ),
    simple('deleteTruth', 'deleteTruth.deletedTruthId', async (network, random) => {
      for (;;) {
        const truth = random.int(network.truthIds.length);
        const author = network.truthAuthor[truth]!;
        if (network.truthRole[truth] !== 0 || author < firstOrdinary) continue;
        if (network.used.has(`delete:${truth}`) || network.used.has(`reported:${truth}`)) continue;
        network.used.add(`delete:${truth}`);
        return {
          body: body(documents.deleteTruth, { i: { id: truthGid(network, truth) } }),
          token: await sessionOf(network, author),
        };
      }
    }),
    read('user.truths(first: 20), first page', 'user.truths.edges.19.cursor', async (network) => {
      const k = nextOf(`${network.name}:page1`);
      return {
        body: body(documents.userTruths, { u: `user${prolific[k % prolificCount]}` }),
        token: await sessionOf(network, firstOrdinary + (k % 500)),
      };
    }),
    read('user.truths(first: 20), fifth page', 'user.truths.edges.19.cursor', async (network) => {
      const k = nextOf(`${network.name}:page5`);
      const cursors = fifthPageCursors.get(network.name)!;
      return {
        body: body(documents.userTruths, {
          u: `user${prolific[k % prolificCount]}`,
          a: cursors[k % prolificCount],
        }),
        token: await sessionOf(network, firstOrdinary + (k % 500)),
      };
    }),
    read('hashtagFeed(#launch, first: 20)', 'hashtagFeed.edges.19.cursor', async (network) => {
      const k = nextOf(`${network.name}:tag`);
      return {
        body: body(documents.hashtagFeed, { t: 'launch' }),
        token: await sessionOf(network, firstOrdinary + (k % 500)),
      };
    }),
    read('searchUsers (prefix, first: 10)', 'searchUsers.0.id', async (network, random) => {
      // Ten results on either network: account i without its last digit, `user1234` for
      // i = 12345, matches user1234 and user12340..12349 (and more where they exist).
      const i = firstOrdinary + random.int(network.sizes.accounts - firstOrdinary);
      return {
        body: body(documents.searchUsers, { q: `USER${String(i).slice(0, -1)}` }),
        token: await sessionOf(network, firstOrdinary + (i % 500)),
      };
    }),
    read('hashtag search (prefix, first: 10)', 'searchHashtags.0.tag', (_network, random) => ({
      body: body(documents.searchHashtags, { p: `#topic${random.int(5) || ''}` }),
    })),
    read('trends', 'trends.computedAt', async (network) => {
      const k = nextOf(`${network.name}:trends`);
      return {
        body: body(documents.trends),
        token: await sessionOf(network, firstOrdinary + (k % 500)),
      };
    }),
    read('thread (10 replies)', 'thread.replies.edges.0.node.id', async (network) => {
      const k = nextOf(`${network.name}:thread`);
      return {
        body: body(documents.thread, {
          id: truthGid(network, network.rootTruths[k % measuredRoots]!),
        }),
        token: await sessionOf(network, firstOrdinary + (k % 500)),
      };
    }),
    read('notifications(first: 20)', 'notifications.edges.0.node.id', async (network) => {
      const viewers = unreadViewers.get(network.name)!;
      const k = nextOf(`${network.name}:notifications`);
      return {
        body: body(documents.notifications),
        token: await sessionOf(network, viewers[k % viewers.length]!),
      };
    }),
    simple('markNotificationsRead(all)', 'markNotificationsRead', async (network) => {
      const viewers = unreadViewers.get(network.name)!;
      const k = nextOf(`${network.name}:markRead`);
      if (k >= viewers.length) throw new Error(`${network.name}: too few unread viewers`);
      return { body: body(documents.markRead), token: await sessionOf(network, viewers[k]!) };
    }),
    {
      // Each request its own admitted ticket: people joined through the bench's own instance
      // (not the serving one, which meets them first in the measured request) and admitted
      // before the round, so that a write is measured as many times as any other write.
      name: 'completeSignUp (admitted ticket)',
      expect: 'completeSignUp.token',
      note: 'each ticket joined and admitted before measuring',
      async prepare(network, count) {
        const tickets: string[] = [];
        for (let n = 0; n < count; n++) {
          const k = nextOf(`${network.name}:complete`);
          const { joinWaitlist } = await gqlOk(network.server, documents.joinWaitlist, {
            i: { email: `complete${k}@scale.example`, username: `complete${k}` },
          });
          tickets.push(joinWaitlist.ticketToken);
        }
        await drainWaitlist(network);
        const batch = createBatch();
        for (const ticketToken of tickets)
          batch.add(body(documents.completeSignUp, { i: { ticketToken, password } }));
        return batch.done();
      },
    },
    simple('joinWaitlist', 'joinWaitlist.ticketToken', (network) => {
      const k = nextOf(`${network.name}:join`);
      return {
        body: body(documents.joinWaitlist, {
          i: { email: `join${k}@scale.example`, username: `join${k}` },
        }),
      };
    }),
    simple('reportTruth', 'reportTruth.report.id', async (network, random) => {
      const truth = reportableTruth(network, random);
      const reporter = reporterOf(network, random, truth);
      return {
        body: body(documents.reportTruth, {
          i: { id: truthGid(network, truth), reason: 'SPAM', note: 'measured' },
        }),
        token: await sessionOf(network, reporter),
      };
    }),
    {
      name: 'resolveReport (DISMISS)',
      expect: 'resolveReport.report.id',
      note: 'by an admin; each its own report, sent before measuring',
      async prepare(network, count, random) {
        const batch = createBatch();
        for (let k = 0; k < count; k++) {
          const truth = reportableTruth(network, random);
          const reporter = reporterOf(network, random, truth);
          const { reportTruth } = await gqlOk(
            network.server,
            documents.reportTruth,
            { i: { id: truthGid(network, truth), reason: 'ABUSE' } },
            await sessionOf(network, reporter),
          );
          batch.add(
            body(documents.resolveReport, { i: { id: reportTruth.report.id, action: 'DISMISS' } }),
            network.adminToken,
          );
        }
        return batch.done();
      },
    },
    simple(
      'admission tick (admitNext(count: 1))',
      'admitNext.admittedThrough',
      (network) => ({ body: body(documents.admitOne), token: network.adminToken }),
      { note: 'someone waiting; concurrent calls queue for the tick lease' },
    ),
  ];
}

interface Figures {
  latencies: number[];
  errors: number;
  samples: string[];
  work: Work;
  /** The serving process's heap at the end. */
  heapUsedBytes: number;
  /**
   * In the round, ms: the serving process's longest event-loop stall and longest collection
   * pause, the load client's longest stall, and the longest event Redis recorded (0 when none
   * reached its latency monitor's threshold) with its kind.
   */
  longest: {
    serverStallMs: number;
    gcPauseMs: number;
    clientStallMs: number;
    redisMs: number;
    redisEvent: string;
  };
  /** At concurrency 1, the request at the round's p99 and what held it (`describeP99Request`). */
  atP99: string | null;
}

/**
 * At concurrency 1, the request whose latency is the round's p99, and what the serving process
 * did while it was out: the request as served, with the process's CPU time meanwhile, and each
 * MongoDB or Redis command and collection pause of `holdMs` or more that began and ended around
 * it (its middle within the request's time), longest first. With one request at a time, what
 * overlapped it is that request's own work or the process's (its timers).
 */
function describeP99Request(run: RequestRunResult, holds: readonly Hold[]): string {
  const { latencies, doneAt } = run;
  const i = latencies.indexOf(quantile(latencies, 0.99));
  const end = doneAt[i]!;
  const start = end - latencies[i]!;
  const during = holds
    .filter((h) => h.at + h.ms / 2 >= start && h.at + h.ms / 2 <= end)
    .sort((a, b) => b.ms - a.ms);
  const shown = during.slice(0, 8).map((h) => `${h.what} ${h.ms.toFixed(1)}`);
  if (during.length > shown.length) shown.push(`${during.length - shown.length} more`);
  return `${latencies[i]!.toFixed(1)} (${shown.join(', ') || `nothing of ${holdMs} ms or more`})`;
}

/**
 * One round of an operation on one network: a warm-up first when asked (concurrency 1, its
 * latencies dropped), then the measured requests, and what serving them cost the process.
 */
async function measureRound(
  network: Network,
  operation: Operation,
  concurrency: number,
  count: number,
  warmup: number,
  random: Random,
): Promise<Figures> {
  const batch = await operation.prepare(network, warmup + count, random);
  const url = network.served.url;
  const warm =
    warmup > 0
      ? await runRequests({
          url,
          requests: batch.requests.slice(0, warmup),
          tokens: batch.tokens,
          concurrency: 1,
          expect: operation.expect,
        })
      : null;
  let before: ProcessWork | undefined;
  const run = await runRequests(
    {
      url,
      requests: batch.requests.slice(warmup),
      tokens: batch.tokens,
      concurrency,
      expect: operation.expect,
    },
    async () => {
      await resetRedisLatency(network.server);
      before = await network.served.work();
    },
  );
  const after = await network.served.work();
  const redis = await redisLongestEvent(network.server);
  return {
    latencies: run.latencies,
    errors: (warm?.errors ?? 0) + run.errors,
    samples: [...(warm?.errorSamples ?? []), ...run.errorSamples],
    heapUsedBytes: after.heapUsedBytes,
    // The process's maxima are since the reading `before`.
    longest: {
      serverStallMs: after.longestStallMs,
      gcPauseMs: after.longestGcMs,
      clientStallMs: run.longestStallMs,
      redisMs: redis.ms,
      redisEvent: redis.kind,
    },
    atP99: concurrency === 1 ? describeP99Request(run, after.holds) : null,
    work: workSince(before!, after),
  };
}

async function gqlOk<T = any>(
  server: BenchServer,
  query: string,
  variables?: Record<string, unknown>,
  token?: string,
): Promise<T> {
  const result = await server.gql<T>(query, variables, token);
  if (!result.data || result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

/** Admits everyone waiting (admitNext in steps of 100,000); how long it took. */
async function drainWaitlist(network: Network): Promise<number> {
  const startedAt = nowMs();
  for (;;) {
    const { admitNext } = await gqlOk(
      network.server,
      documents.admitMany,
      { n: 100_000 },
      network.adminToken,
    );
    if (admitNext.waiting === 0) return nowMs() - startedAt;
  }
}

// ---------------------------------------------------------------------------------------------
// The launch replay

function printTimeline(label: string, result: Completions) {
  const buckets = throughputBuckets(result);
  console.log(
    `  ${label}, completions per second in each 10 s: ` + buckets.map((n) => fmt(n / 10)).join(' '),
  );
}

interface Phase {
  name: string;
  result: Completions;
}

async function replay(network: Network, rows: Row[]) {
  const joins = sizeFromEnv('BENCH_SCALE_REPLAY_JOINS', 170_000);
  const admitted = Math.min(joins, sizeFromEnv('BENCH_SCALE_REPLAY_ADMITTED', 20_000));
  const rate = sizeFromEnv('BENCH_SCALE_REPLAY_RATE', 10_000);
  const concurrency = sizeFromEnv('BENCH_SCALE_REPLAY_CONCURRENCY', 64);
  const { server, adminToken } = network;
  const url = network.served.url;
  const phases: Phase[] = [];
  console.log(
    `\n  launch replay: ${fmt(joins)} join, ${fmt(admitted)} admitted at ${fmt(rate)}/min`,
  );

  // 1. The crowd joins.
  const before = (await gqlOk(server, documents.stats, undefined, adminToken)).waitlistStats;
  const joinBatch = createBatch();
  for (let k = 0; k < joins; k++)
    joinBatch.add(
      body(documents.joinWaitlist, {
        i: { email: `crowd${k}@scale.example`, username: `crowd${k}` },
      }),
    );
  const joined = await runRequests({
    url,
    ...joinBatch.done(),
    concurrency,
    expect: 'joinWaitlist.ticketToken',
    keep: ['joinWaitlist.ticket', 'joinWaitlist.ticketToken'],
    progressLabel: 'replay joins',
  });
  phases.push({ name: 'joinWaitlist', result: joined });
  printTimeline('joinWaitlist', joined);
  const tokenByTicket = new Map<number, string>();
  for (const kept of joined.kept) if (kept) tokenByTicket.set(kept[0] as number, kept[1] as string);

  // 2. Admissions at the set rate, by the tick timer, until `admitted` are in; then paused.
  const base = before.admittedThrough as number;
  const target = base + admitted;
  const samples: { at: number; admittedThrough: number }[] = [];
  const startedAt = nowMs();
  await gqlOk(
    server,
    documents.setCapacity,
    { i: { maxActiveAccounts: 0, admissionRatePerMinute: rate } },
    adminToken,
  );
  let lastPrint = startedAt;
  for (;;) {
    const { waitlistStats } = await gqlOk(server, documents.stats, undefined, adminToken);
    samples.push({ at: nowMs(), admittedThrough: waitlistStats.admittedThrough });
    if (waitlistStats.admittedThrough >= target) break;
    if (nowMs() - lastPrint >= 10_000) {
      lastPrint = nowMs();
      console.log(
        `    replay admissions: ${((lastPrint - startedAt) / 1000).toFixed(0)} s, ` +
          `${fmt(waitlistStats.admittedThrough - base)} admitted`,
      );
    }
    await sleep(250);
  }
  const paused = (await gqlOk(server, documents.pause, undefined, adminToken)).pauseAdmissions;
  const admissionSeconds = (nowMs() - startedAt) / 1000;
  // The pace after the first tick that admitted anyone, against the rate set.
  const firstMove = samples.find((sample) => sample.admittedThrough > base);
  const settled = firstMove && samples.at(-1)!.at - firstMove.at >= 1_000 ? firstMove : undefined;
  const overshoot = paused.admittedThrough - target;
  // The admissions as completions: one per admitted ticket, at the sample that first saw it.
  const admissionDone: number[] = [];
  let seen = base;
  for (const sample of samples) {
    for (; seen < Math.min(sample.admittedThrough, target); seen++) admissionDone.push(sample.at);
  }
  const admissions: Completions = {
    startedAt,
    finishedAt: samples.at(-1)!.at,
    doneAt: admissionDone,
    errors: 0,
    errorSamples: [],
  };
  phases.push({ name: 'admissions (tick timer)', result: admissions });
  printTimeline('admissions', admissions);
  console.log(
    `  admitted ${fmt(admitted)} in ${admissionSeconds.toFixed(1)} s; ` +
      `${fmt(overshoot)} more before the pause took effect`,
  );

  // 3. Each admitted person completes sign-up...
  const completeBatch = createBatch();
  for (let ticket = base + 1; ticket <= target; ticket++) {
    const ticketToken = tokenByTicket.get(ticket);
    if (!ticketToken) throw new Error(`no token for ticket ${ticket}`);
    completeBatch.add(body(documents.completeSignUp, { i: { ticketToken, password } }));
  }
  const completed = await runRequests({
    url,
    ...completeBatch.done(),
    concurrency,
    expect: 'completeSignUp.token',
    keep: ['completeSignUp.token'],
    progressLabel: 'replay completeSignUp',
  });
  phases.push({ name: 'completeSignUp', result: completed });
  printTimeline('completeSignUp', completed);
  const newcomers = completed.kept.flatMap((kept) => (kept ? [kept[0] as string] : []));

  // ...follows ten accounts (three of the big ones, seven others)...
  const random = createRandom(3);
  const followBatch = createBatch();
  for (const token of newcomers) {
    const chosen = new Set<number>();
    while (chosen.size < 3) chosen.add(random.int(whaleCount));
    while (chosen.size < 10)
      chosen.add(firstOrdinary + random.int(network.sizes.accounts - firstOrdinary));
    for (const i of chosen)
      followBatch.add(
        body(documents.follow, { i: { userId: toGlobalId('User', network.userIds[i]!) } }),
        token,
      );
  }
  const followed = await runRequests({
    url,
    ...followBatch.done(),
    concurrency,
    expect: 'follow.user.id',
    progressLabel: 'replay follows',
  });
  phases.push({ name: 'follow', result: followed });
  printTimeline('follow', followed);

  // ...and posts once.
  const postBatch = createBatch();
  newcomers.forEach((token, k) =>
    postBatch.add(
      body(documents.postTruth, {
        i: { text: `Hello, Verity! Newcomer ${k} here #launch`, idempotencyKey: `hello-${k}` },
      }),
      token,
    ),
  );
  const posted = await runRequests({
    url,
    ...postBatch.done(),
    concurrency,
    expect: 'postTruth.truth.id',
    progressLabel: 'replay posts',
  });
  phases.push({ name: 'postTruth', result: posted });
  printTimeline('postTruth', posted);

  rows.push({
    metric: 'replay admissions: first tick that admitted anyone',
    value: (firstMove?.admittedThrough ?? base) - base,
    unit: 'tickets',
    note: `rate ${fmt(rate)}/min set while nobody had been admitted by the timer`,
  });
  if (settled)
    rows.push({
      metric: 'replay admissions: pace after that tick',
      value:
        ((samples.at(-1)!.admittedThrough - settled.admittedThrough) * 1000) /
        (samples.at(-1)!.at - settled.at),
      unit: '/s',
      baseline: 'the rate set',
      baselineValue: rate / 60,
    });
  for (const { name, result } of phases) {
    const seconds = (result.finishedAt - result.startedAt) / 1000;
    const count = result.doneAt.length;
    const { first, last } = firstAndLastTenth(result);
    rows.push(
      {
        metric: `replay ${name}: throughput`,
        value: count / seconds,
        unit: '/s',
        note:
          `${fmt(count)} in ${seconds.toFixed(1)} s` +
          (name.startsWith('admissions')
            ? `; ${fmt(overshoot)} past the target before the pause`
            : `, concurrency ${concurrency}`),
      },
      {
        metric: `replay ${name}: last tenth vs first tenth`,
        value: last,
        unit: '/s',
        baseline: 'first tenth',
        baselineValue: first,
        note: 'target ≥ 0.67×',
      },
    );
    if (!name.startsWith('admissions'))
      rows.push({
        metric: `replay ${name}: errors`,
        value: result.errors,
        unit: '',
        note: result.errors > 0 ? `target 0; e.g. ${result.errorSamples[0]}` : 'target 0',
      });
    if (result.errors > 0) console.log(`  ${name} errors, for example:`, result.errorSamples);
  }
}

// ---------------------------------------------------------------------------------------------

export const scaleScenario: Scenario = {
  name: 'scale',
  description:
    'every operation on a launch-size network vs a small one (p50/p99 at c=1 and c=32); the launch replay',
  async run() {
    const small = sizesFor('SMALL', {
      accounts: 1_000,
      follows: 10_000,
      truths: 5_000,
      reactions: 10_000,
      waitlist: 500,
      whaleFollowers: 200,
    });
    const launch = sizesFor('LAUNCH', {
      accounts: 200_000,
      follows: 2_000_000,
      truths: 1_000_000,
      reactions: 2_000_000,
      waitlist: 100_000,
      whaleFollowers: 12_000,
    });
    const buildConcurrency = sizeFromEnv('BENCH_SCALE_BUILD_CONCURRENCY', 128);
    const requests = sizeFromEnv('BENCH_SCALE_REQUESTS', 300);
    const concurrentRequests = sizeFromEnv('BENCH_SCALE_CONCURRENT_REQUESTS', 500);
    const hashingRequests = sizeFromEnv('BENCH_SCALE_HASHING_REQUESTS', 50);
    const concurrentHashingRequests = sizeFromEnv('BENCH_SCALE_CONCURRENT_HASHING_REQUESTS', 200);
    const readFactor = sizeFromEnv('BENCH_SCALE_READ_FACTOR', 4);
    const rounds = sizeFromEnv('BENCH_SCALE_ROUNDS', 3);
    const doReplay = process.env['BENCH_SCALE_REPLAY'] !== 'no';
    const keep = process.env['BENCH_SCALE_KEEP'];

    const rows: Row[] = [];
    const stacks: Stack[] = [];
    try {
      const passwordHash = await networkPasswordHash();
      const unserved: Omit<Network, 'served'>[] = [];
      for (const [name, sizes] of [
        ['small', small],
        ['launch', launch],
      ] as const) {
        const keptDir = keep ? path.join(keep, name) : undefined;
        const kept = keptDir ? await keptNetwork(keptDir, sizes) : undefined;
        const stack = await startStack({ from: kept?.stackDir });
        stacks.push(stack);
        let built: BuiltNetwork;
        if (kept) {
          built = { ...kept.network, stack };
          console.log(
            `  ${name} network: a copy of the one kept in ${keptDir}, built ${kept.builtAt} by ` +
              `the code of ${kept.commit} (its build figures are that build's)`,
          );
        } else {
          const builder = await stack.startVerity(serverEnv, { monitorCommands: true });
          built = await buildNetwork({
            name,
            sizes,
            stack,
            server: builder,
            passwordHash,
            concurrency: buildConcurrency,
            seed: name === 'small' ? 1 : 2,
            adminUsername,
          });
          await builder.stop();
          if (keptDir) {
            const keptAt = nowMs();
            await keepNetwork(keptDir, built);
            console.log(
              `  ${name} network kept in ${keptDir} (${((nowMs() - keptAt) / 1000).toFixed(1)} s)`,
            );
          }
        }
        // An instance in this process gets the inputs ready (it never serves a measured
        // request).
        const server = await stack.startVerity(serverEnv);
        const countedAt = nowMs();
        const network = {
          ...built,
          name,
          server,
          size: await measureSize(server),
          used: new Set<string>(),
        };
        printSize(name, network.size);
        console.log(`    (counted in ${((nowMs() - countedAt) / 1000).toFixed(1)} s)`);
        unserved.push(network);
      }
      // Measured on fresh instances, each in a process of its own as an operator runs one, all
      // started once every network is built: nothing of the builds held, the same moment for
      // both, and a heap that holds only what it serves (this process holds the networks'
      // bookkeeping, hundreds of MB on the launch network).
      const networks: Network[] = [];
      for (const [i, network] of unserved.entries()) {
        networks.push({ ...network, served: await stacks[i]!.startVerityProcess(serverEnv) });
      }
      const [s, l] = networks as [Network, Network];

      // Build rates and sizes, launch against small.
      for (const step of l.build) {
        const base = s.build.find((b) => b.step === step.step)!;
        rows.push({
          metric: `build rate: ${step.step}`,
          value: step.count / step.seconds,
          unit: '/s',
          baseline: 'small network',
          baselineValue: base.count / base.seconds,
          note:
            `launch ${fmt(step.count)} in ${step.seconds.toFixed(1)} s; small ${fmt(base.count)} ` +
            `in ${base.seconds.toFixed(1)} s; Redis commands per call ${step.redisSentPerCall.toFixed(1)} ` +
            `sent, ${step.redisExecutedPerCall.toFixed(1)} executed (small ${base.redisSentPerCall.toFixed(1)}, ` +
            `${base.redisExecutedPerCall.toFixed(1)})` +
            (step.errors + base.errors > 0 ? `; errors ${base.errors}/${step.errors}` : ''),
        });
      }
      rows.push(
        {
          metric: 'build time, whole network',
          value: buildSeconds(l.build),
          unit: 's',
          baseline: 'small network',
          baselineValue: buildSeconds(s.build),
          note: `service calls in flight: ${buildConcurrency}`,
        },
        ...sizeRows(l.size, { baseline: { label: 'small network', size: s.size } }),
      );

      // Requests sent at 1 before an operation's first round on each network, latencies
      // dropped: the serving process compiles and optimizes the operation's code on its first
      // requests, the same cost on either network. A read, which changes nothing, warms on more
      // of them (a write consumes inputs the small network has few of).
      const warmup = 10;
      const readWarmup = 100;
      // Inputs that need the servers: sessions, profile cursors, viewers with unread news.
      for (const network of networks) {
        const random = createRandom(network.name === 'small' ? 11 : 12);
        const cursors: string[] = [];
        for (const author of prolific) {
          let after: string | null = null;
          for (let page = 0; page < 4; page++) {
            const data: any = await gqlOk(network.server, documents.userTruths, {
              u: `user${author}`,
              a: after,
            });
            after = data.user.truths.pageInfo.endCursor as string;
          }
          cursors.push(after!);
        }
        fifthPageCursors.set(network.name, cursors);
        // markNotificationsRead needs one viewer with unread notifications per request.
        const viewers: number[] = [];
        const wanted = requests + concurrentRequests + 2 * warmup;
        const { notifications } = network.server.app.internals.services;
        const candidates = shuffle(
          Int32Array.from(
            { length: network.sizes.accounts - firstOrdinary },
            (_, k) => firstOrdinary + k,
          ),
          random,
        );
        for (const i of candidates) {
          if (viewers.length >= wanted) break;
          if ((await notifications.unreadCount(network.userIds[i]!)) > 0) viewers.push(i);
        }
        unreadViewers.set(network.name, viewers);
      }

      // What each serving process does with no request: its timers' work (admission, trends,
      // resyncs), which a request at 1 pays for in its CPU figure and meets on the event loop.
      const idleMs = 5_000;
      const idle = await Promise.all(
        networks.map(async (network) => {
          const before = await network.served.work();
          await new Promise((resolve) => setTimeout(resolve, idleMs));
          return workSince(before, await network.served.work());
        }),
      );
      const perSecond = (n: number) => (n / idleMs) * 1000;
      const [idleSmall, idleLaunch] = idle as [Work, Work];
      console.log(
        `  idle for ${idleMs / 1000} s, a second (small → launch): CPU ` +
          `${perSecond(idleSmall.cpuMs).toFixed(1)} → ${perSecond(idleLaunch.cpuMs).toFixed(1)} ms, ` +
          `Redis ${perSecond(idleSmall.redisSent).toFixed(1)} → ` +
          `${perSecond(idleLaunch.redisSent).toFixed(1)} commands, MongoDB ` +
          `${perSecond(idleSmall.mongoCommands).toFixed(1)} → ` +
          `${perSecond(idleLaunch.mongoCommands).toFixed(1)} commands`,
      );
      rows.push({
        metric: 'idle serving process, CPU a second',
        value: perSecond(idleLaunch.cpuMs),
        unit: 'ms',
        baseline: 'small network',
        baselineValue: perSecond(idleSmall.cpuMs),
        note: `over ${idleMs / 1000} s with no request, before the operations`,
      });

      const errorsByOp: string[] = [];
      let totalErrors = 0;
      const only = (process.env['BENCH_SCALE_OPERATIONS'] ?? '')
        .split(',')
        .map((word) => word.trim().toLowerCase())
        .filter(Boolean);
      const measured = operations().filter(
        (operation) =>
          only.length === 0 || only.some((word) => operation.name.toLowerCase().includes(word)),
      );
      for (const operation of measured) {
        if (operation.name === 'signUp') {
          for (const network of networks) {
            const ms = await drainWaitlist(network);
            console.log(`  ${network.name}: waitlist drained (admitNext) in ${fmt(ms)} ms`);
          }
        }
        for (const concurrency of [1, 32]) {
          // A write bound by argon2 is measured fewer times (each consumes an input the small
          // network has few of); a read bound by it (logIn) as often as any read, so that its p99
          // is not its slowest request or two.
          const [plain, hashed] =
            concurrency === 1
              ? [requests, hashingRequests]
              : [concurrentRequests, concurrentHashingRequests];
          const count = operation.read ? readFactor * plain : operation.hashing ? hashed : plain;
          // Rounds, the networks taking turns (and turns at going first), so that drift in the
          // machine hits both alike. The p50 pools every round; the p99 is the median of the
          // rounds' p99s, so that one round that the machine slowed (on either network) does
          // not decide the figure alone; the pooled p99 is printed next to it.
          const pooled = new Map<
            Network,
            Omit<Figures, 'longest' | 'atP99'> & {
              byRound: { p99: number; longest: Figures['longest']; atP99: string | null }[];
            }
          >(
            networks.map((network) => [
              network,
              {
                latencies: [],
                errors: 0,
                samples: [],
                work: noWork(),
                heapUsedBytes: 0,
                byRound: [],
              },
            ]),
          );
          for (let round = 0; round < rounds; round++) {
            for (const network of round % 2 === 0 ? networks : [...networks].reverse()) {
              const random = createRandom(
                (network.name === 'small' ? 100 : 200) + 10 * concurrency + round,
              );
              const share = Math.floor(count / rounds) + (round < count % rounds ? 1 : 0);
              const figures = await measureRound(
                network,
                operation,
                concurrency,
                share,
                round === 0 ? (operation.hashing ? 3 : operation.read ? readWarmup : warmup) : 0,
                random,
              );
              const into = pooled.get(network)!;
              into.latencies.push(...figures.latencies);
              into.byRound.push({
                p99: quantile(figures.latencies, 0.99),
                longest: figures.longest,
                atP99: figures.atP99,
              });
              into.errors += figures.errors;
              into.samples.push(...figures.samples);
              addWork(into.work, figures.work);
              into.heapUsedBytes = figures.heapUsedBytes;
            }
          }
          const figures = networks.map((network) => {
            const { latencies, errors, samples, work, heapUsedBytes, byRound } =
              pooled.get(network)!;
            return {
              p50: quantile(latencies, 0.5),
              p99: median(byRound.map((round) => round.p99)),
              pooledP99: quantile(latencies, 0.99),
              // The same network's p99 in each round: how far a p99 of this many requests
              // moves on this machine with nothing changed; and in brackets what stood still in
              // that round, ms: the serving process's longest event-loop stall and longest
              // collection pause, the load client's longest stall, and the longest event Redis
              // recorded with its kind.
              roundP99s: byRound
                .map(({ p99, longest }) => {
                  const { serverStallMs, gcPauseMs, clientStallMs, redisMs, redisEvent } = longest;
                  const redis = `${redisMs.toFixed(0)}${redisEvent ? ` ${redisEvent}` : ''}`;
                  return (
                    `${p99.toFixed(1)} [${serverStallMs.toFixed(0)}, ${gcPauseMs.toFixed(1)}, ` +
                    `${clientStallMs.toFixed(0)}, ${redis}]`
                  );
                })
                .join(' / '),
              atP99: byRound.map(({ atP99 }) => atP99 ?? '').join(' / '),
              errors,
              samples,
              work: describeWork(work, latencies.length, heapUsedBytes),
              counted: { work, requests: latencies.length },
            };
          });
          const [fs, fl] = figures as [(typeof figures)[0], (typeof figures)[0]];
          const errors = fs.errors + fl.errors;
          totalErrors += errors;
          if (errors > 0) {
            errorsByOp.push(`${operation.name} c=${concurrency}: ${fs.errors}/${fl.errors}`);
            console.log(`  ${operation.name} errors, for example:`, [...fs.samples, ...fl.samples]);
          }
          console.log(
            `  ${operation.name}, c=${concurrency}: p50 ${fs.p50.toFixed(1)} → ${fl.p50.toFixed(1)} ms, ` +
              `p99 ${fs.p99.toFixed(1)} → ${fl.p99.toFixed(1)} ms (small → launch, ${count} requests ` +
              `in ${rounds} rounds; p99 of all ${fs.pooledP99.toFixed(1)} → ${fl.pooledP99.toFixed(1)})` +
              (errors > 0 ? `, errors ${fs.errors}/${fl.errors}` : '') +
              `\n      p99 by round [server's longest stall, its longest GC pause, client's longest ` +
              `stall, Redis's longest event and its kind]: small ${fs.roundP99s} ms, ` +
              `launch ${fl.roundP99s} ms` +
              (concurrency === 1
                ? `\n      the request at each round's p99 (what the serving process did while it ` +
                  `was out, ms): small ${fs.atP99}\n        launch ${fl.atP99}`
                : '') +
              `\n      small: ${fs.work}\n      launch: ${fl.work}` +
              `\n      Redis commands by kind, a request (small → launch): ` +
              describeKinds(
                fs.counted.work,
                fs.counted.requests,
                fl.counted.work,
                fl.counted.requests,
              ),
          );
          const errorNote = errors > 0 ? `; ERRORS small ${fs.errors}, launch ${fl.errors}` : '';
          rows.push(
            {
              metric: `${operation.name}, c=${concurrency}, p50`,
              value: fl.p50,
              unit: 'ms',
              baseline: 'small network',
              baselineValue: fs.p50,
              note: `target ≤ 1.5×; ${count} requests${operation.note ? `; ${operation.note}` : ''}${errorNote}`,
            },
            {
              metric: `${operation.name}, c=${concurrency}, p99`,
              value: fl.p99,
              unit: 'ms',
              baseline: 'small network',
              baselineValue: fs.p99,
              note:
                `target ≤ 1.5×; median of ${rounds} rounds' p99s, ${count} requests; p99 of all ` +
                `${fs.pooledP99.toFixed(1)} → ${fl.pooledP99.toFixed(1)}; by round small ` +
                `${fs.roundP99s}, launch ${fl.roundP99s}`,
            },
          );
        }
      }
      for (const network of networks) await drainWaitlist(network);
      rows.push({
        metric: 'errors, every measured request on both networks',
        value: totalErrors,
        unit: '',
        note: totalErrors > 0 ? `must be 0: ${errorsByOp.join('; ')}` : 'must be 0',
      });

      if (doReplay) await replay(l, rows);
      rows.push({
        metric: 'load client',
        value: 1,
        unit: 'process',
        note: 'its own Node process per run (HTTP keep-alive); each network served by a process of its own',
      });
    } finally {
      for (const stack of stacks) await stack.stop();
    }
    return rows;
  },
};
