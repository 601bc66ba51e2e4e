import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Completions, RequestRun, RequestRunResult } from './request-load-client.js';

export type {
  Completions,
  PreparedRequest,
  RequestRun,
  RequestRunResult,
} from './request-load-client.js';

const clientScript = fileURLToPath(new URL('./request-load-client.ts', import.meta.url));

/**
 * Runs prepared GraphQL requests from a forked load-client process (one per run) and resolves
 * with its figures. The client first opens its connections and warms up on `{ __typename }`;
 * `ready` runs after that and before the first measured request (to read the server's counters
 * from there). Large runs travel over IPC with the advanced serialization.
 */
export function runRequests(
  run: RequestRun,
  ready: () => Promise<void> = async () => {},
): Promise<RequestRunResult> {
  const child = fork(clientScript, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  return new Promise((resolve, reject) => {
    let result: RequestRunResult | undefined;
    child.on('message', (message: RequestRunResult | { warmed: true }) => {
      if ('warmed' in message) {
        ready().then(
          () => child.send('go'),
          (error: unknown) => {
            child.kill();
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      } else {
        result = message;
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result) resolve(result);
      else reject(new Error(`the load client exited with ${code} before answering`));
    });
    child.send(run);
  });
}

/** Completions per `bucketMs` from the start of a run (whole buckets, the last one partial). */
export function throughputBuckets(result: Completions, bucketMs = 10_000): number[] {
  const buckets: number[] = [];
  for (const at of result.doneAt) {
    const bucket = Math.floor((at - result.startedAt) / bucketMs);
    buckets[bucket] = (buckets[bucket] ?? 0) + 1;
  }
  return Array.from(buckets, (n) => n ?? 0);
}

/**
 * Completions per second in the first and in the last tenth of a run's duration: whether the
 * rate held up as the data grew.
 */
export function firstAndLastTenth(result: Completions): { first: number; last: number } {
  const span = result.finishedAt - result.startedAt;
  const tenth = span / 10;
  let first = 0;
  let last = 0;
  for (const at of result.doneAt) {
    if (at - result.startedAt <= tenth) first++;
    if (result.finishedAt - at < tenth) last++;
  }
  return { first: (first * 1000) / tenth, last: (last * 1000) / tenth };
}
