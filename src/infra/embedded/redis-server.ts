import { createServer } from 'node:net';
import type { Logger } from '../logger.js';
import { spawnManaged, type ManagedProcess } from './managed-process.js';

/** A free TCP port on loopback at the time of the call. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}

/**
 * Sorted sets up to this many members are kept as listpacks. Redis's default (128) turns every
 * home timeline that fills up into a skiplist at nearly three times the memory; production
 * Redis should be configured the same way (README, "Operating Verity").
 */
export const zsetMaxListpackEntries = 1_024;

/**
 * jemalloc's options for the embedded redis-server (`MALLOC_CONF`; `JE_MALLOC_CONF` for a
 * redis-server built with its bundled, prefixed jemalloc): its heap on transparent huge pages.
 * It also runs with `--disable-thp no`: Redis's default (yes) turns them off where the kernel's
 * THP mode is `always`, for the sake of forks that an embedded Redis, keeping nothing on disk,
 * never makes. On 4 KB pages a Redis of gigabytes answers about twice as many commands late as
 * a small one under the same load, on 2 MB pages about as few (`npm run bench redis-pages`).
 * Nothing changes where the kernel's THP mode is `never`.
 */
export const redisMallocConf = 'thp:always,metadata_thp:always';

/** A running redis-server that Verity started. */
export interface EmbeddedRedis {
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

// redis-server has no lifeline of its own, so a small sh wrapper provides one: a background
// reader stops the server when stdin closes (Verity stopping it, or dying), and the wrapper
// exits with the server. Asynchronous lists get /dev/null as stdin, hence the fd 3 dance.
const lifelineScript =
  'exec 3<&0; redis-server "$@" </dev/null & pid=$!; ' +
  '{ read -r _ <&3; kill -TERM "$pid" 2>/dev/null; } & wait "$pid"';

/**
 * Starts `redis-server` on loopback without persistence (everything Verity keeps in Redis can
 * be rebuilt from MongoDB). Pass `port` to restart one on the same address, as the fault tests
 * do; otherwise a free port is chosen.
 */
export async function startRedisServer(options: {
  logger: Logger;
  port?: number;
  /** More redis-server options (a cluster node's: see ./redis-cluster.ts). */
  args?: (port: number) => string[];
  /** A port the server must not take (besides its own, a cluster node needs port + 10000). */
  acceptPort?: (port: number) => Promise<boolean>;
  /** Environment variables over the server's own (`MALLOC_CONF`: see `redisMallocConf`). */
  env?: Readonly<Record<string, string>>;
  /** How long it may take to accept connections (10 s): longer when it loads a saved dataset. */
  readyTimeoutMs?: number;
}): Promise<EmbeddedRedis> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = options.port ?? (await findFreePort());
    if (options.port === undefined && options.acceptPort && !(await options.acceptPort(port))) {
      lastError = new Error(`port ${port} was not accepted`);
      continue;
    }
    try {
      const child = await spawnManaged({
        name: 'redis-server',
        command: 'sh',
        args: [
          '-c',
          lifelineScript,
          'redis-lifeline',
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--protected-mode',
          'yes',
          '--loglevel',
          'notice',
          // Home timelines (at most 800 entries) and most follower sets stay in the compact
          // encoding: 45 bytes an entry instead of 127 (docs/capacity.md).
          '--zset-max-listpack-entries',
          String(zsetMaxListpackEntries),
          '--disable-thp',
          'no',
          ...(options.args?.(port) ?? []),
        ],
        env: { MALLOC_CONF: redisMallocConf, JE_MALLOC_CONF: redisMallocConf, ...options.env },
        readyPattern: /Ready to accept connections/,
        readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
        logger: options.logger,
      });
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        process: child,
        stop: () => child.stop(),
      };
    } catch (error) {
      lastError = error;
      if (options.port !== undefined) break;
    }
  }
  throw new Error(`could not start redis-server: ${(lastError as Error).message}`, {
    cause: lastError,
  });
}
