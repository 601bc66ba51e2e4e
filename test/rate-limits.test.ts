import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startRedisServer, type EmbeddedRedis } from '../src/infra/embedded/redis-server.js';
import { createLogger } from '../src/infra/logger.js';
import { errorCodes, uniqueUsername, type GraphQLErrorShape } from './helpers/graphql.js';
import { describeOnOwnRedis } from './helpers/redis.js';
import { startVerity, useVerities, useVerity, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

/** Small limits, so that each is reached in a few requests; addresses come from X-Forwarded-For. */
const limitsEnv = {
  RATE_LIMITS: 'true',
  TRUST_PROXY: 'true',
  RATE_LIMIT_LOGIN_PER_IP: '3/600',
  RATE_LIMIT_LOGIN_PER_ACCOUNT: '2/600',
  RATE_LIMIT_SIGNUP_PER_IP: '2/600',
  RATE_LIMIT_POSTS_PER_ACCOUNT: '2/600',
  RATE_LIMIT_FOLLOWS_PER_ACCOUNT: '2/600',
  RATE_LIMIT_REACTIONS_PER_ACCOUNT: '2/600',
  RATE_LIMIT_REPORTS_PER_ACCOUNT: '2/600',
  RATE_LIMIT_ANONYMOUS_READS_PER_IP: '3/600',
};

/** A documentation address (TEST-NET-3) of this test's own, so tests never share a counter. */
const newAddress = () => `203.0.${randomInt(256)}.${randomInt(1, 255)}`;

type Transport = 'http' | 'ws';

interface Answer {
  data?: Record<string, any> | null | undefined;
  errors?: GraphQLErrorShape[] | undefined;
  /** HTTP only. */
  status?: number;
  retryAfterHeader?: string | null;
}

/**
 * Runs one operation from `address`: over HTTP, or over a WebSocket opened from that address
 * (with the token when given; an anonymous socket may only read).
 */
async function run(
  verity: TestServer,
  transport: Transport,
  query: string,
  variables: Record<string, unknown>,
  from: { address: string; token?: string | undefined },
): Promise<Answer> {
  if (transport === 'ws') {
    const client = verity.connect(from.token ?? null, {
      headers: { 'x-forwarded-for': from.address },
    });
    try {
      return (await verity.execute(client, query, variables)) as Answer;
    } finally {
      await client.dispose();
    }
  }
  const response = await fetch(verity.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': from.address,
      ...(from.token ? { authorization: `Bearer ${from.token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Answer;
  return {
    ...body,
    status: response.status,
    retryAfterHeader: response.headers.get('retry-after'),
  };
}

/** Asserts a refusal: RATE_LIMITED with retryAfter (and over HTTP, 429 with Retry-After). */
function expectRefused(answer: Answer, transport: Transport, rateLimit: string) {
  expect(errorCodes(answer)).toEqual(['RATE_LIMITED']);
  const extensions = answer.errors![0]!.extensions!;
  expect(extensions['rateLimit']).toBe(rateLimit);
  const retryAfter = extensions['retryAfter'];
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(600);
  expect(answer.data ?? null).toBeNull();
  if (transport === 'http') {
    expect(answer.status).toBe(429);
    expect(answer.retryAfterHeader).toBe(String(retryAfter));
  }
}

const signUpMutation = /* GraphQL */ `
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
      __typename
      ... on Session {
        token
        user {
          id
        }
      }
    }
  }
`;
const joinMutation = /* GraphQL */ `
  mutation Join($input: JoinWaitlistInput!) {
    joinWaitlist(input: $input) {
      ticket
    }
  }
`;
const logInMutation = /* GraphQL */ `
  mutation LogIn($input: LogInInput!) {
    logIn(input: $input) {
      token
    }
  }
`;
const postMutation = /* GraphQL */ `
  mutation Post($input: PostTruthInput!) {
    postTruth(input: $input) {
      truth {
        id
      }
    }
  }
`;

interface Account {
  token: string;
  id: string;
  username: string;
  password: string;
}

/** A new account, signed up from an address of its own (sign-up is limited per address). */
async function newAccount(verity: TestServer): Promise<Account> {
  const username = uniqueUsername('rl');
  const password = 'correct horse battery staple';
  const answer = await run(
    verity,
    'http',
    signUpMutation,
    { input: { username, email: `${username}@example.com`, password } },
    { address: newAddress() },
  );
  const session = answer.data?.['signUp'];
  if (session?.__typename !== 'Session')
    throw new Error(`sign-up failed: ${JSON.stringify(answer)}`);
  return { token: session.token, id: session.user.id, username, password };
}

describe('rate limits', () => {
  const verity = useVerity({ env: limitsEnv });

  describe.each<Transport>(['http', 'ws'])('over %s', (transport) => {
    it('refuses log-in attempts from one address past its limit', async () => {
      // Log-in over a WebSocket needs a session's socket (anonymous sockets only read).
      const token = transport === 'ws' ? (await newAccount(verity)).token : undefined;
      const address = newAddress();
      for (let i = 0; i < 3; i++) {
        const answer = await run(
          verity,
          transport,
          logInMutation,
          { input: { login: uniqueUsername('nobody'), password: 'wrong password, surely' } },
          { address, token },
        );
        expect(errorCodes(answer)).toEqual(['UNAUTHENTICATED']);
      }
      const account = await newAccount(verity);
      const refused = await run(
        verity,
        transport,
        logInMutation,
        { input: { login: account.username, password: account.password } },
        { address, token },
      );
      expectRefused(refused, transport, 'logInPerIp');
      // Another address still signs in.
      const other = await run(
        verity,
        transport,
        logInMutation,
        { input: { login: account.username, password: account.password } },
        { address: newAddress(), token },
      );
      expect(other.data?.['logIn']?.token).toEqual(expect.any(String));
    });

    it('refuses log-in attempts for one account from many addresses past its limit', async () => {
      const token = transport === 'ws' ? (await newAccount(verity)).token : undefined;
      const victim = await newAccount(verity);
      for (const login of [victim.username, victim.username.toUpperCase()]) {
        const answer = await run(
          verity,
          transport,
          logInMutation,
          { input: { login, password: 'a wrong guess, each time' } },
          { address: newAddress(), token },
        );
        expect(errorCodes(answer)).toEqual(['UNAUTHENTICATED']);
      }
      // Even the right password, from yet another address: the account's attempts are spent.
      const refused = await run(
        verity,
        transport,
        logInMutation,
        { input: { login: ` ${victim.username.toLowerCase()} `, password: victim.password } },
        { address: newAddress(), token },
      );
      expectRefused(refused, transport, 'logInPerAccount');
      // The per-address count was given back: that address may still sign in other accounts,
      // its whole limit of three (two for one account, its own limit, and one for another).
      const others = [await newAccount(verity), await newAccount(verity)];
      const address = newAddress();
      const blocked = await run(
        verity,
        transport,
        logInMutation,
        { input: { login: victim.username, password: victim.password } },
        { address, token },
      );
      expectRefused(blocked, transport, 'logInPerAccount');
      for (const other of [others[0]!, others[0]!, others[1]!]) {
        const fine = await run(
          verity,
          transport,
          logInMutation,
          { input: { login: other.username, password: other.password } },
          { address, token },
        );
        expect(fine.data?.['logIn']?.token).toEqual(expect.any(String));
      }
    });

    it('refuses posts past the account limit, counting every mutation of a document and running none of a refused one', async () => {
      const author = await newAccount(verity);
      const from = { address: newAddress(), token: author.token };
      const text = (label: string) => `${label} by ${author.username}`;
      const posted = await run(
        verity,
        transport,
        postMutation,
        { input: { text: text('one') } },
        from,
      );
      const truthId = posted.data?.['postTruth']?.truth.id as string;
      expect(truthId).toEqual(expect.any(String));

      // Two posts in one document, with one left: refused as a whole.
      const both = await run(
        verity,
        transport,
        /* GraphQL */ `
          mutation Two($a: PostTruthInput!, $b: PostTruthInput!) {
            a: postTruth(input: $a) {
              truth {
                id
              }
            }
            b: postTruth(input: $b) {
              truth {
                id
              }
            }
          }
        `,
        { a: { text: text('two') }, b: { text: text('three'), replyToId: truthId } },
        from,
      );
      expectRefused(both, transport, 'postsPerAccount');

      const retruth = await run(
        verity,
        transport,
        'mutation($input: RetruthInput!) { retruth(input: $input) { retruth { id } } }',
        { input: { truthId } },
        from,
      );
      expect(retruth.errors).toBeUndefined();
      const quote = await run(
        verity,
        transport,
        postMutation,
        { input: { text: text('a quote'), quoteOfId: truthId } },
        from,
      );
      expectRefused(quote, transport, 'postsPerAccount');

      const refusedTexts = [text('two'), text('three'), text('a quote')];
      const { Truth } = verity.app.internals.models;
      expect(await Truth.countDocuments({ text: { $in: refusedTexts } })).toBe(0);
    });

    it('refuses follows past the account limit, and never unfollows', async () => {
      const [follower, ...others] = await Promise.all(
        Array.from({ length: 4 }, () => newAccount(verity)),
      );
      const from = { address: newAddress(), token: follower!.token };
      const follow = (userId: string) =>
        run(
          verity,
          transport,
          'mutation($input: UserActionInput!) { follow(input: $input) { user { id } } }',
          { input: { userId } },
          from,
        );
      expect((await follow(others[0]!.id)).errors).toBeUndefined();
      expect((await follow(others[1]!.id)).errors).toBeUndefined();
      expectRefused(await follow(others[2]!.id), transport, 'followsPerAccount');
      const unfollow = await run(
        verity,
        transport,
        'mutation($input: UserActionInput!) { unfollow(input: $input) { user { id } } }',
        { input: { userId: others[0]!.id } },
        from,
      );
      expect(unfollow.errors).toBeUndefined();
    });

    it('refuses reactions past the account limit', async () => {
      const [author, reader] = await Promise.all([newAccount(verity), newAccount(verity)]);
      const posted = await run(
        verity,
        'http',
        postMutation,
        { input: { text: 'react to me' } },
        { address: newAddress(), token: author.token },
      );
      const truthId = posted.data?.['postTruth']?.truth.id as string;
      const from = { address: newAddress(), token: reader.token };
      const react = (kind: string) =>
        run(
          verity,
          transport,
          'mutation($input: ReactInput!) { react(input: $input) { truth { id } } }',
          { input: { truthId, kind } },
          from,
        );
      expect((await react('LIKE')).errors).toBeUndefined();
      expect((await react('LOVE')).errors).toBeUndefined();
      expectRefused(await react('WOW'), transport, 'reactionsPerAccount');
    });

    it('refuses reads without a session from one address past its limit, and not signed-in reads', async () => {
      const address = newAddress();
      const read = (token?: string) =>
        run(
          verity,
          transport,
          '{ publicFeed(first: 1) { edges { cursor } } }',
          {},
          { address, token },
        );
      for (let i = 0; i < 3; i++) expect((await read()).errors).toBeUndefined();
      expectRefused(await read(), transport, 'anonymousReadsPerIp');
      const account = await newAccount(verity);
      expect((await read(account.token)).errors).toBeUndefined();
    });

    it('takes nothing for an operation refused for its cost', async () => {
      const address = newAddress();
      const costly = `{ publicFeed(first: 100) { edges { node { author {
        followers(first: 100) { edges { node { id } } } } } } } }`;
      for (let i = 0; i < 5; i++) {
        const answer = await run(verity, transport, costly, {}, { address });
        expect(errorCodes(answer)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
        expect(answer.errors![0]!.extensions!['cost']).toBeGreaterThan(10_000);
      }
      const cheap = '{ publicFeed(first: 1) { edges { cursor } } }';
      for (let i = 0; i < 3; i++) {
        expect((await run(verity, transport, cheap, {}, { address })).errors).toBeUndefined();
      }
    });
  });

  it('refuses a public subscription without a session past the address limit', async () => {
    const address = newAddress();
    for (let i = 0; i < 3; i++) {
      expect((await run(verity, 'http', '{ __typename }', {}, { address })).errors).toBeUndefined();
    }
    const client = verity.connect(null, { headers: { 'x-forwarded-for': address } });
    const subscription = verity.subscribe(
      client,
      'subscription { publicFeedUpdated { __typename } }',
    );
    await expect(subscription.next()).rejects.toMatchObject({
      errors: [{ extensions: { code: 'RATE_LIMITED', rateLimit: 'anonymousReadsPerIp' } }],
    });
  });

  it('takes the address the load balancer saw, not what the client wrote before it', async () => {
    const address = newAddress();
    const read = () =>
      verity.gql(
        '{ __typename }',
        {},
        {
          headers: { 'x-forwarded-for': `${newAddress()}, ${address}` },
        },
      );
    for (let i = 0; i < 3; i++) expect((await read()).errors).toBeUndefined();
    expect(errorCodes(await read())).toEqual(['RATE_LIMITED']);
  });

  it('counts an IPv6 client by its /64', async () => {
    const prefix = `2001:db8:${randomInt(0xffff).toString(16)}:${randomInt(0x10000).toString(16)}`;
    const read = (host: string) =>
      verity.gql('{ __typename }', {}, { headers: { 'x-forwarded-for': `${prefix}:${host}` } });
    for (const host of ['0:0:0:1', '0:0:0:2', 'abcd::9']) {
      expect((await read(host)).errors).toBeUndefined();
    }
    expect(errorCodes(await read('ffff:ffff:ffff:ffff'))).toEqual(['RATE_LIMITED']);
    expect(
      errorCodes(
        await verity.gql(
          '{ __typename }',
          {},
          {
            headers: { 'x-forwarded-for': `2001:db8:ffff:${randomInt(0x10000).toString(16)}::1` },
          },
        ),
      ),
    ).toEqual([]);
  });

  it('keeps a reports bucket for the report mutation to come', async () => {
    expect(loadConfig({}).rateLimits.buckets.reportsPerAccount).toEqual({
      points: 30,
      windowSeconds: 3600,
    });
    const limiter = verity.app.internals.rateLimiter!;
    const charge = [{ bucket: 'reportsPerAccount' as const, key: 'reporter', points: 1 }];
    expect(await limiter.charge(charge)).toBeUndefined();
    expect(await limiter.charge(charge)).toBeUndefined();
    expect(await limiter.charge(charge)).toMatchObject({ bucket: 'reportsPerAccount' });
  });
});

// Each its own instance: a join puts someone on the waitlist, after which sign-ups (newAccount
// in the other tests) join it too until the admission tick lets them in.
describe.each<Transport>(['http', 'ws'])('sign-up and waitlist limits over %s', (transport) => {
  const verity = useVerity({ env: limitsEnv });

  it('refuses sign-ups and waitlist joins from one address past its limit, and a throttled join takes no ticket', async () => {
    const token = transport === 'ws' ? (await newAccount(verity)).token : undefined;
    const address = newAddress();
    const username = uniqueUsername('su');
    const signedUp = await run(
      verity,
      transport,
      signUpMutation,
      { input: { username, email: `${username}@example.com`, password: 'a long enough one' } },
      { address, token },
    );
    expect(signedUp.data?.['signUp']?.__typename).toBe('Session');
    const first = await run(
      verity,
      transport,
      joinMutation,
      { input: { username: uniqueUsername('wl'), email: `${uniqueUsername('wl')}@example.com` } },
      { address, token },
    );
    expect(first.errors).toBeUndefined();
    const { waitlist } = verity.app.internals.services;
    const before = (await waitlist.stats()).lastTicket;

    const throttledEmail = `${uniqueUsername('wl')}@example.com`;
    const throttled = await run(
      verity,
      transport,
      joinMutation,
      { input: { username: uniqueUsername('wl'), email: throttledEmail } },
      { address, token },
    );
    expectRefused(throttled, transport, 'signUpPerIp');
    const refusedSignUp = await run(
      verity,
      transport,
      signUpMutation,
      {
        input: {
          username: uniqueUsername('su'),
          email: `${uniqueUsername('su')}@example.com`,
          password: 'a long enough one',
        },
      },
      { address, token },
    );
    expectRefused(refusedSignUp, transport, 'signUpPerIp');
    expect((await waitlist.stats()).lastTicket).toBe(before);

    // The same person from another address joins with the next ticket: none was skipped.
    const later = await run(
      verity,
      transport,
      joinMutation,
      { input: { username: uniqueUsername('wl'), email: throttledEmail } },
      { address: newAddress(), token },
    );
    expect(later.data?.['joinWaitlist']?.ticket).toBe(before + 1);
  });
});

describe('rate limit settings', () => {
  it('reads each limit as <requests>/<seconds> and refuses anything else, naming the variable', () => {
    const { rateLimits } = loadConfig({ RATE_LIMIT_LOGIN_PER_IP: '1_000 / 60' });
    expect(rateLimits.enabled).toBe(true);
    expect(rateLimits.buckets.logInPerIp).toEqual({ points: 1000, windowSeconds: 60 });
    expect(rateLimits.buckets.signUpPerIp).toEqual({ points: 100, windowSeconds: 300 });
    for (const bad of ['25', '25/0', '0/300', '25/300s', 'many']) {
      expect(() => loadConfig({ RATE_LIMIT_POSTS_PER_ACCOUNT: bad })).toThrow(
        /RATE_LIMIT_POSTS_PER_ACCOUNT: expected <requests>\/<seconds>/,
      );
    }
    expect(loadConfig({ RATE_LIMITS: 'false' }).rateLimits.enabled).toBe(false);
  });

  it('reads TRUST_PROXY as a number of proxies, true being one', () => {
    const hops = (value: string | undefined) =>
      loadConfig({ TRUST_PROXY: value }).http.trustedProxyHops;
    expect([hops(undefined), hops('false'), hops('true'), hops('2')]).toEqual([0, 0, 1, 2]);
    expect(() => loadConfig({ TRUST_PROXY: 'sometimes' })).toThrow(/TRUST_PROXY/);
  });
});

describe('rate limits across instances', () => {
  const instances = useVerities(2, { env: limitsEnv });

  it('counts every instance against one limit', async () => {
    const [one, two] = instances;
    const address = newAddress();
    const read = (verity: TestServer) => run(verity, 'http', '{ __typename }', {}, { address });
    expect((await read(one!)).errors).toBeUndefined();
    expect((await read(two!)).errors).toBeUndefined();
    expect((await read(one!)).errors).toBeUndefined();
    expectRefused(await read(two!), 'http', 'anonymousReadsPerIp');
    expectRefused(await read(one!), 'http', 'anonymousReadsPerIp');
  });
});

describeOnOwnRedis('rate limits while Redis is down', () => {
  let redis: EmbeddedRedis;
  let verity: TestServer;
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    redis = await startRedisServer({ logger });
    verity = await startVerity({
      redisUrl: redis.url,
      env: { ...limitsEnv, RATE_LIMIT_FALLBACK_MAX_KEYS: '100', METRICS_PORT: '0' },
    });
  });

  afterAll(async () => {
    await verity?.stop();
    await redis?.stop();
  });

  /** A series' value in this instance's metrics (0 when it has none yet). */
  const metric = async (series: string) => {
    const text = await (await fetch(verity.app.internals.metricsUrl!)).text();
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  };

  it('keeps limiting in process, within its bound, and shares the limits again once Redis is back', async () => {
    const read = (address: string) => run(verity, 'http', '{ __typename }', {}, { address });
    expect(await metric('verity_rate_limits_in_process')).toBe(0);
    await redis.stop();

    // Requests are still served, and the limit still holds.
    const address = newAddress();
    for (let i = 0; i < 3; i++) expect((await read(address)).data).toEqual({ __typename: 'Query' });
    expectRefused(await read(address), 'http', 'anonymousReadsPerIp');
    expect(await metric('verity_rate_limits_in_process')).toBe(1);
    expect(await metric('verity_rate_limit_refusals_total{limit="anonymousReadsPerIp"}')).toBe(1);

    // A flood of new addresses is served, and the fallback keeps no more counters than its bound.
    const limiter = verity.app.internals.rateLimiter!;
    for (let i = 0; i < 150; i++) {
      expect((await read(`198.51.100.${i}`)).data).toEqual({ __typename: 'Query' });
    }
    expect(limiter.fallbackKeys).toBe(100);

    redis = await startRedisServer({ logger, port: redis.port });
    const { namespace } = verity.app.internals.redis;
    const shared = newAddress();
    await waitFor(async () => {
      await read(shared);
      return (
        (await verity.app.internals.redis.command
          .exists(`${namespace}:rl:anonymousReadsPerIp:${shared}`)
          .catch(() => 0)) === 1
      );
    });
    expect(await metric('verity_rate_limits_in_process')).toBe(0);
  });
});
