import { createClient } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/infra/logger.js';
import { useVerity, type TestServer } from './helpers/server.js';
import { channelReady, post } from './helpers/social.js';
import { waitFor } from './helpers/wait.js';

/** One sample of the Prometheus text format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (what prom-client writes). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The samples of `name` whose labels include `labels`. */
const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter(
    (sample) =>
      sample.name === name &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );

/** The value of the one sample of `name` with `labels` (0 when there is none yet). */
const valueOf = (samples: Sample[], name: string, labels: Record<string, string> = {}) => {
  const found = find(samples, name, labels);
  expect(found.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return found[0]?.value ?? 0;
};

const operationCount = (samples: Sample[], labels: Record<string, string>) =>
  valueOf(samples, 'verity_graphql_operation_duration_seconds_count', labels);

/** Log lines captured from the instance, parsed. */
function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    name: 'observability-test',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { lines, logger };
}

async function scrape(verity: TestServer): Promise<Sample[]> {
  const url = verity.app.internals.metricsUrl;
  if (!url) throw new Error('metrics are off');
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('metrics', () => {
  const verity = useVerity({ env: { METRICS_PORT: '0' } });

  it('counts operations by name and outcome, errors by code, sockets, subscriptions and live deliveries as the load did', async () => {
    const before = await scrape(verity);
    const author = await verity.signUp();

    for (let i = 0; i < 3; i++) {
      expect((await verity.gql('query Ping { __typename }')).data).toEqual({ __typename: 'Query' });
    }
    const refused = await verity.gql(
      'mutation BadSignUp($input: SignUpInput!) { signUp(input: $input) { __typename } }',
      { input: { username: 'no spaces allowed', email: 'nope', password: 'x' } },
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    // A signed-in socket with a subscription that receives one event, and an anonymous one
    // that runs a query.
    const signedIn = verity.connect(author.token);
    const live = verity.subscribe(
      signedIn,
      'subscription Watch { publicFeedUpdated { __typename } }',
    );
    const anonymous = verity.connect(null);
    expect((await verity.execute(anonymous, 'query WsPing { __typename }')).data).toEqual({
      __typename: 'Query',
    });
    await channelReady(verity, 'publicFeed:');
    await post(verity, author.token, 'measured on its way');
    expect((await live.next()).data).toEqual({ publicFeedUpdated: { __typename: 'TruthPosted' } });

    const after = await scrape(verity);
    const delta = (name: string, labels: Record<string, string>) =>
      valueOf(after, name, labels) - valueOf(before, name, labels);
    const operations = (labels: Record<string, string>) =>
      operationCount(after, labels) - operationCount(before, labels);

    expect(operations({ transport: 'http', type: 'query', operation: 'Ping', outcome: 'ok' })).toBe(
      3,
    );
    expect(
      operations({
        transport: 'http',
        type: 'mutation',
        operation: 'BadSignUp',
        outcome: 'BAD_USER_INPUT',
      }),
    ).toBe(1);
    expect(operations({ transport: 'ws', type: 'query', operation: 'WsPing', outcome: 'ok' })).toBe(
      1,
    );
    expect(
      operations({ transport: 'ws', type: 'subscription', operation: 'Watch', outcome: 'ok' }),
    ).toBe(1);
    // Nothing but the refused sign-up failed.
    expect(
      find(after, 'verity_graphql_operation_duration_seconds_count').filter(
        (s) => s.labels['outcome'] !== 'ok' && s.value > 0,
      ),
    ).toHaveLength(1);
    expect(
      delta('verity_graphql_errors_total', { transport: 'http', code: 'BAD_USER_INPUT' }),
    ).toBe(1);
    expect(find(after, 'verity_graphql_errors_total').reduce((sum, s) => sum + s.value, 0)).toBe(1);

    // Durations are plausible: the Ping histogram's buckets are cumulative and its sum small.
    const pingBuckets = find(after, 'verity_graphql_operation_duration_seconds_bucket', {
      operation: 'Ping',
    });
    expect(pingBuckets.length).toBeGreaterThan(5);
    const counts = pingBuckets.map((bucket) => bucket.value);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(
      find(pingBuckets, 'verity_graphql_operation_duration_seconds_bucket', { le: '+Inf' })[0]!
        .value,
    ).toBe(3);
    const pingSeconds = valueOf(after, 'verity_graphql_operation_duration_seconds_sum', {
      operation: 'Ping',
    });
    expect(pingSeconds).toBeGreaterThan(0);
    expect(pingSeconds).toBeLessThan(10);

    expect(valueOf(after, 'verity_websocket_connections', { kind: 'session' })).toBe(1);
    expect(valueOf(after, 'verity_websocket_connections', { kind: 'anonymous' })).toBe(1);
    expect(valueOf(after, 'verity_websocket_connections', { kind: 'waitlist' })).toBe(0);
    expect(valueOf(after, 'verity_websocket_connections', { kind: 'pending' })).toBe(0);
    expect(valueOf(after, 'verity_live_subscriptions')).toBe(1);
    expect(delta('verity_live_deliveries_total', {})).toBe(1);
    expect(delta('verity_live_executions_total', {})).toBe(1);
    expect(valueOf(after, 'verity_live_slow_consumers_total')).toBe(0);
    expect(delta('verity_live_delivery_delay_seconds_count', {})).toBe(1);
    const delay = delta('verity_live_delivery_delay_seconds_sum', {});
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThan(5);

    expect(valueOf(after, 'verity_mongodb_up')).toBe(1);
    expect(valueOf(after, 'verity_redis_up')).toBe(1);
    for (const name of ['verity_mongodb_ping_seconds', 'verity_redis_ping_seconds']) {
      expect(valueOf(after, name)).toBeGreaterThan(0);
      expect(valueOf(after, name)).toBeLessThan(1);
    }
    expect(valueOf(after, 'verity_waitlist_waiting')).toBe(0);
    expect(valueOf(after, 'verity_waitlist_admission_rate_per_minute')).toBe(600);
    expect(valueOf(after, 'verity_waitlist_paused')).toBe(0);
    expect(valueOf(after, 'verity_waitlist_position_subscribers')).toBe(0);
    expect(find(after, 'verity_waitlist_admitted_through')).toHaveLength(1);
    // Event-loop delay and the process, from prom-client's default metrics.
    expect(valueOf(after, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThan(0);
    expect(find(after, 'process_cpu_seconds_total')).toHaveLength(1);

    // Once the sockets close, nothing is left counted.
    live.close();
    await signedIn.dispose();
    await anonymous.dispose();
    await waitFor(async () => {
      const now = await scrape(verity);
      return (
        valueOf(now, 'verity_live_subscriptions') === 0 &&
        find(now, 'verity_websocket_connections').every((sample) => sample.value === 0)
      );
    });
  });

  it('serves metrics on their own port only', async () => {
    const publicMetrics = await fetch(verity.url.replace(/\/graphql$/, '/metrics'));
    expect(publicMetrics.status).toBe(404);
    const metricsUrl = verity.app.internals.metricsUrl!;
    expect(new URL(metricsUrl).port).not.toBe(new URL(verity.url).port);
    expect((await fetch(metricsUrl.replace(/\/metrics$/, '/'))).status).toBe(404);
  });
});

describe('metrics when METRICS_PORT is unset', () => {
  const verity = useVerity();

  it('are not served at all', () => {
    expect(verity.app.internals.metricsUrl).toBeUndefined();
  });
});

describe('the metrics settings', () => {
  it('listen where METRICS_HOST says (HOST by default), never on the public port', () => {
    expect(loadConfig({}).metrics).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '9464' }).metrics).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(
      loadConfig({ HOST: '10.0.0.5', METRICS_PORT: '9464', METRICS_HOST: '127.0.0.1' }).metrics,
    ).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(() => loadConfig({ PORT: '4000', METRICS_PORT: '4000' })).toThrow(
      /METRICS_PORT: must differ from PORT/,
    );
    expect(() => loadConfig({ METRICS_PORT: '70000' })).toThrow(
      /METRICS_PORT: expected an integer/,
    );
  });
});

describe('request ids', () => {
  const { lines, logger } = captureLogs();
  const verity = useVerity({ logger });

  const linesFor = (requestId: string) => lines.filter((line) => line['requestId'] === requestId);

  it('gives every HTTP answer an id, in its X-Request-Id header, its errors and its log lines', async () => {
    const response = await fetch(verity.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'query Broken { nothingHere }' }),
    });
    const requestId = response.headers.get('x-request-id')!;
    expect(requestId).toMatch(uuid);
    const body = (await response.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]!.extensions).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      requestId,
    });
    expect(linesFor(requestId)).toContainEqual(
      expect.objectContaining({
        msg: 'graphql operation',
        outcome: 'GRAPHQL_VALIDATION_FAILED',
        level: 20,
      }),
    );

    // A resolver's error in a 200 answer, and a second request with an id of its own.
    const other = await verity.gql('{ homeFeed { edges { cursor } } }');
    expect(other.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    expect(other.errors?.[0]?.extensions?.['requestId']).toMatch(uuid);
    expect(other.errors?.[0]?.extensions?.['requestId']).not.toBe(requestId);
  });

  it('keeps a sane incoming X-Request-Id and replaces one that is not', async () => {
    const sane = await fetch(verity.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'lb-7f3a:42' },
      body: JSON.stringify({ query: '{ homeFeed { edges { cursor } } }' }),
    });
    expect(sane.headers.get('x-request-id')).toBe('lb-7f3a:42');
    const answer = (await sane.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(answer.errors[0]!.extensions).toMatchObject({
      code: 'UNAUTHENTICATED',
      requestId: 'lb-7f3a:42',
    });

    for (const insane of ['two words', 'x'.repeat(129), 'quote"d', '<script>', '']) {
      const response = await fetch(verity.url.replace(/\/graphql$/, '/healthz'), {
        headers: { 'x-request-id': insane },
      });
      expect(response.headers.get('x-request-id')).toMatch(uuid);
    }
  });

  it('puts the id in errors answered outside the request pipeline: CSRF, a refused context, a 404', async () => {
    const csrf = await fetch(`${verity.url}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { 'x-request-id': 'csrf-1' },
    });
    expect(csrf.status).toBe(400);
    expect(
      ((await csrf.json()) as { errors: { extensions: unknown }[] }).errors[0]!.extensions,
    ).toMatchObject({
      code: 'BAD_REQUEST',
      requestId: 'csrf-1',
    });

    const badScheme = await verity.gql(
      '{ __typename }',
      {},
      { headers: { authorization: 'Basic abc', 'x-request-id': 'context-1' } },
    );
    expect(badScheme.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      requestId: 'context-1',
    });

    const missing = await fetch(verity.url.replace(/\/graphql$/, '/nowhere'), {
      headers: { 'x-request-id': 'nowhere-1' },
    });
    expect(
      ((await missing.json()) as { errors: { extensions: unknown }[] }).errors[0]!.extensions,
    ).toEqual({
      code: 'NOT_FOUND',
      requestId: 'nowhere-1',
    });
  });

  it('gives every WebSocket operation an id, in its errors and its log lines, within its connection’s id', async () => {
    // The upgrade answers with the connection's id.
    const socket = new WebSocket(verity.wsUrl, 'graphql-transport-ws', {
      headers: { 'x-request-id': 'socket-1' },
    });
    const upgraded = await new Promise<string | undefined>((resolve, reject) => {
      socket.once('upgrade', (response) => resolve(response.headers['x-request-id'] as string));
      socket.once('error', reject);
    });
    expect(upgraded).toBe('socket-1');
    socket.close();

    const user = await verity.signUp();
    const client = createClient({
      url: verity.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${user.token}` },
    });
    try {
      const failed = await new Promise<readonly { extensions?: Record<string, unknown> }[]>(
        (resolve, reject) => {
          client.subscribe(
            { query: 'query Nope { nothingHere }', extensions: { requestId: 'ws-op-1' } },
            {
              next: () => reject(new Error('no result expected')),
              error: (error) => resolve(error as { extensions?: Record<string, unknown> }[]),
              complete: () => reject(new Error('completed without an error')),
            },
          );
        },
      );
      expect(failed[0]!.extensions).toMatchObject({
        code: 'GRAPHQL_VALIDATION_FAILED',
        requestId: 'ws-op-1',
      });

      // Without an id of the client's, the operation gets one of its own.
      const result = await new Promise<{
        errors?: readonly { extensions?: Record<string, unknown> }[];
      }>((resolve, reject) => {
        client.subscribe(
          { query: 'query Mine { homeFeed(first: 0) { edges { cursor } } }' },
          { next: resolve, error: reject, complete: () => undefined },
        );
      });
      const generated = result.errors?.[0]?.extensions?.['requestId'];
      expect(result.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
      expect(generated).toMatch(uuid);

      const logged = linesFor('ws-op-1');
      expect(logged).toContainEqual(
        // A document that fails validation has no operation to name.
        expect.objectContaining({
          msg: 'graphql operation',
          type: 'unknown',
          outcome: 'GRAPHQL_VALIDATION_FAILED',
        }),
      );
      expect(logged[0]!['connectionId']).toMatch(uuid);
      expect(linesFor(generated as string)).toContainEqual(
        expect.objectContaining({ operation: 'Mine', outcome: 'BAD_USER_INPUT' }),
      );
    } finally {
      await client.dispose();
    }
  });

  it('names the request in what services log while serving it, over HTTP and WebSocket', async () => {
    // A sign-up over HTTP: the users module logs the new account with its own logger.
    const name = `scoped${Date.now().toString(36)}`;
    const response = await fetch(verity.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'signup-scope-1' },
      body: JSON.stringify({
        query: `mutation($i: SignUpInput!) { signUp(input: $i) { ... on Session { token } } }`,
        variables: {
          i: { username: name, email: `${name}@example.com`, password: 'a long enough passphrase' },
        },
      }),
    });
    const { data } = (await response.json()) as { data: { signUp: { token: string } } };
    expect(linesFor('signup-scope-1')).toContainEqual(
      expect.objectContaining({ msg: 'account created' }),
    );

    // A first home page over a WebSocket: the feeds module logs building the timeline.
    const client = createClient({
      url: verity.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${data.signUp.token}` },
    });
    try {
      await new Promise((resolve, reject) => {
        client.subscribe(
          {
            query: 'query { homeFeed(first: 1) { edges { cursor } } }',
            extensions: { requestId: 'home-scope-1' },
          },
          { next: resolve, error: reject, complete: () => undefined },
        );
      });
      expect(linesFor('home-scope-1')).toContainEqual(
        expect.objectContaining({ msg: 'home timeline rebuilt' }),
      );
      // Nothing logged twice over: one requestId per line.
      expect(lines.every((line) => JSON.stringify(line).split('"requestId"').length <= 2)).toBe(
        true,
      );
    } finally {
      await client.dispose();
    }
  });
});
