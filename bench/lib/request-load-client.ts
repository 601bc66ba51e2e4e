/**
 * A GraphQL-over-HTTP load generator, run in its own process (forked by bench/lib/request-load.ts)
 * so that its work is not counted against the server. It sends a list of prepared requests,
 * each with its own body and session, keeping `concurrency` in flight over keep-alive
 * connections, and reports each request's latency and completion time, the errors (an HTTP
 * status other than 200, GraphQL errors, or a missing `expect` value) and the `keep` values
 * asked for. With `progressLabel` it prints its progress every 10 s.
 */
import { Agent, request } from 'node:http';

import { watchPauses } from './pauses.js';

/** One prepared request: a JSON body and, by index into `tokens`, its session. */
export interface PreparedRequest {
  body: string;
  /** Index into the run's `tokens`; none: no session. */
  token?: number;
}

export interface RequestRun {
  url: string;
  requests: PreparedRequest[];
  tokens: string[];
  concurrency: number;
  /** A dot path under `data` that must hold a value for the request to count as a success. */
  expect?: string;
  /** Dot paths under `data` whose values are returned, per request. */
  keep?: string[];
  progressLabel?: string;
}

/** Requests done over time: a run's completions (or a timer's, in the launch replay). */
export interface Completions {
  startedAt: number;
  finishedAt: number;
  /** When each request finished, in order. */
  doneAt: number[];
  errors: number;
  errorSamples: string[];
}

export interface RequestRunResult extends Completions {
  /** Per request, in order. */
  latencies: number[];
  failed: boolean[];
  /** Per request, the values of `keep` (null where missing). */
  kept: (unknown[] | null)[];
  /**
   * The longest this client's event loop went without turning during the run, ms (to within the
   * monitor's 10 ms step): a client that stood still makes every request in flight look slow.
   */
  longestStallMs: number;
}

const now = () => performance.timeOrigin + performance.now();

function post(url: URL, agent: Agent, body: string, token: string | undefined) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const at = (value: unknown, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | null)?.[key] ?? null, value);

const nextMessage = () => new Promise<unknown>((resolve) => process.once('message', resolve));

/** `{ __typename }` requests each connection sends before the clock starts. */
const warmRequestsPerConnection = (concurrency: number) => Math.max(2, Math.ceil(50 / concurrency));

void (async () => {
  const run = (await nextMessage()) as RequestRun;
  const url = new URL(run.url);
  const agent = new Agent({ keepAlive: true, maxSockets: run.concurrency });
  // Open every connection and warm this process's own code on the cheapest query, so that the
  // first measured latencies are not a fresh client's connects and first compilations; then
  // tell the parent, which reads what the server has done so far, and wait for it to say go.
  const warmBody = JSON.stringify({ query: '{ __typename }' });
  const warmRequests = warmRequestsPerConnection(run.concurrency);
  await Promise.all(
    Array.from({ length: run.concurrency }, async () => {
      for (let k = 0; k < warmRequests; k++) {
        await post(url, agent, warmBody, undefined).catch(() => undefined);
      }
    }),
  );
  process.send!({ warmed: true });
  await nextMessage();
  const count = run.requests.length;
  const latencies = new Float64Array(count);
  const doneAt = new Float64Array(count);
  const failed: boolean[] = new Array<boolean>(count).fill(false);
  const kept: (unknown[] | null)[] = new Array<unknown[] | null>(count).fill(null);
  const errorSamples: string[] = [];
  let errors = 0;
  let next = 0;
  let done = 0;
  const pauses = watchPauses();
  const startedAt = now();
  let lastReport = { at: startedAt, done: 0 };
  const progress = run.progressLabel
    ? setInterval(() => {
        const time = now();
        const rate = ((done - lastReport.done) * 1000) / (time - lastReport.at);
        console.log(
          `    ${run.progressLabel}: ${((time - startedAt) / 1000).toFixed(0)} s, ` +
            `${done.toLocaleString('en-US')}/${count.toLocaleString('en-US')} done, ` +
            `${rate.toFixed(0)}/s over the last 10 s, ${errors} errors`,
        );
        lastReport = { at: time, done };
      }, 10_000)
    : undefined;
  const fail = (i: number, what: string) => {
    failed[i] = true;
    errors++;
    if (errorSamples.length < 8) errorSamples.push(what.slice(0, 400));
  };
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const { body, token } = run.requests[i]!;
      const sentAt = now();
      try {
        const reply = await post(
          url,
          agent,
          body,
          token === undefined ? undefined : run.tokens[token],
        );
        const json = JSON.parse(reply.text) as { data?: unknown; errors?: unknown[] };
        if (reply.status !== 200 || json.errors || !json.data) {
          fail(i, `HTTP ${reply.status}: ${reply.text}`);
        } else if (run.expect && at(json.data, run.expect) === null) {
          fail(i, `no ${run.expect}: ${reply.text}`);
        } else if (run.keep) {
          kept[i] = run.keep.map((path) => at(json.data, path));
        }
      } catch (error) {
        fail(i, String(error));
      }
      doneAt[i] = now();
      latencies[i] = doneAt[i] - sentAt;
      done++;
    }
  };
  await Promise.all(Array.from({ length: run.concurrency }, worker));
  clearInterval(progress);
  const { stallMs } = pauses.take();
  pauses.stop();
  agent.destroy();
  const result: RequestRunResult = {
    startedAt,
    finishedAt: now(),
    latencies: Array.from(latencies),
    doneAt: Array.from(doneAt),
    failed,
    errors,
    errorSamples,
    kept,
    longestStallMs: stallMs,
  };
  process.send!(result, () => process.exit(0));
})();
