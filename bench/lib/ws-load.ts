import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const clientScript = fileURLToPath(new URL('./ws-load-client.ts', import.meta.url));

type Reply = { type: string; [key: string]: unknown };

/** A pool of load-client processes that together hold `count` WebSocket connections. */
export interface WsLoad {
  /** Arms every connection for one event; resolves with each connection's arrival time. */
  expect(): Promise<{ arrivals: Promise<{ times: number[]; sampleFrame: string }> }>;
  close(): Promise<void>;
}

function request(child: ChildProcess, message: object, replyType: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: Reply) => {
      if (reply.type === 'failed') {
        child.off('message', onMessage);
        reject(new Error(String(reply['error'])));
      } else if (reply.type === replyType) {
        child.off('message', onMessage);
        resolve(reply);
      }
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/** Opens `count` connections from `processes` forked clients. */
export async function openWsLoad(options: {
  url: string;
  protocol: 'graphql-ws' | 'raw';
  count: number;
  processes: number;
  token?: string;
  query?: string;
  subscriptionsPerConnection?: number;
  /** Per connection: its own connection_init payload and variables (split among processes). */
  items?: { connectionParams: Record<string, unknown>; variables: Record<string, unknown> }[];
}): Promise<WsLoad> {
  const children = Array.from({ length: options.processes }, () =>
    fork(clientScript, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const share = Math.ceil(options.count / options.processes);
  await Promise.all(
    children.map((child, i) =>
      request(
        child,
        {
          type: 'open',
          url: options.url,
          protocol: options.protocol,
          count: Math.min(share, options.count - i * share),
          token: options.token,
          query: options.query,
          subscriptionsPerConnection: options.subscriptionsPerConnection,
          items: options.items?.slice(i * share, (i + 1) * share),
        },
        'opened',
      ),
    ),
  );
  return {
    async expect() {
      // Listen for the arrivals first, then arm every client; the caller triggers the event
      // only once all of them have answered that they are armed.
      const arrived = children.map(
        (child) =>
          new Promise<Reply>((resolve, reject) => {
            const onMessage = (reply: Reply) => {
              if (reply.type === 'stalled') {
                child.off('message', onMessage);
                reject(
                  new Error(
                    `an event reached ${String(reply['received'])} of ${String(reply['total'])} ` +
                      `connections of a load client and no more; connections closed by the ` +
                      `server, by close code: ${JSON.stringify(reply['closed'])}`,
                  ),
                );
                return;
              }
              if (reply.type !== 'arrived') return;
              child.off('message', onMessage);
              resolve(reply);
            };
            child.on('message', onMessage);
          }),
      );
      await Promise.all(children.map((child) => request(child, { type: 'expect' }, 'expecting')));
      return {
        arrivals: Promise.all(arrived).then((all) => ({
          times: all.flatMap((reply) => reply['times'] as number[]),
          sampleFrame: (all[0]?.['sampleFrame'] as string | undefined) ?? '',
        })),
      };
    },
    async close() {
      await Promise.all(children.map((child) => request(child, { type: 'close' }, 'closed')));
      for (const child of children) child.kill();
    },
  };
}

const rawServerScript = fileURLToPath(new URL('./raw-broadcast-server.ts', import.meta.url));

/**
 * The Node and V8 flags of `npm run start:prod` (package.json), read from there so that the
 * processes a benchmark measures run as production runs.
 */
const productionFlags = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts['start:prod']!.split(/\s+/).filter((word) => word.startsWith('--'));

/**
 * How benchmark server processes run: TypeScript compiled as for production
 * (compiled-loader.mjs) with production's flags, like the Verity instance under measurement;
 * load clients use tsx.
 */
export const serverExecArgv = [
  ...productionFlags,
  '--import',
  fileURLToPath(new URL('./compiled-loader.mjs', import.meta.url)),
];

/**
 * Forks the baseline: a plain `ws` server that broadcasts each message of the Redis `channel`
 * as one pre-serialized frame (raw-broadcast-server.ts). Resolves once it listens.
 */
export async function startRawBroadcastServer(options: {
  redisUrl: string;
  channel: string;
  execArgv?: string[];
}): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(rawServerScript, [options.redisUrl, options.channel], {
    execArgv: options.execArgv ?? serverExecArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve) =>
    child.on('message', (message: { type: string; port?: number }) => {
      if (message.type === 'listening') resolve(message.port!);
    }),
  );
  return { child, port };
}
