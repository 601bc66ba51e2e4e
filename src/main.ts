import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { ensureFerretDBBinary, startFerretDB } from './infra/embedded/ferretdb.js';
import { superviseManaged } from './infra/embedded/managed-process.js';
import { startRedisServer } from './infra/embedded/redis-server.js';
import { createLogger, type Logger } from './infra/logger.js';
import { isRedisReachable } from './infra/redis.js';

interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Without JWT_SECRET (allowed outside production) sessions are signed with a random secret kept
 * in the data directory, so they survive a restart. Several instances need JWT_SECRET.
 */
async function developmentSecret(config: Config, logger: Logger): Promise<Uint8Array> {
  const file = path.join(config.dataDir, 'jwt-secret');
  try {
    return new Uint8Array(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64'));
  } catch {
    await mkdir(config.dataDir, { recursive: true });
    const secret = randomBytes(48);
    await writeFile(file, secret.toString('base64'), { mode: 0o600 });
    logger.warn({ file }, 'JWT_SECRET is not set; using a generated development secret');
    return new Uint8Array(secret);
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  const embedded: Stoppable[] = [];

  const stopEmbedded = async () => {
    for (const service of embedded.reverse()) await service.stop().catch(() => undefined);
  };

  let app: ReturnType<typeof createApp> | undefined;
  let shuttingDown = false;
  const shutdown = async (signal: string) => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 10_000);
    deadline.unref();
    try {
      await app?.stop();
    } catch (error) {
      logger.error({ err: error }, 'error while stopping');
    }
    await stopEmbedded();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    let mongoUri = config.mongo.uri;
    if (!mongoUri) {
      const binary =
        config.mongo.ferretdbBin ??
        (await ensureFerretDBBinary({ cacheDir: config.cacheDir, logger }));
      const dataDir = path.join(config.dataDir, 'ferretdb');
      const ferretdb = await startFerretDB({ binary, dataDir, logger });
      // Same port and data on every restart, so the URI mongoose holds stays valid.
      embedded.push(
        superviseManaged(ferretdb.process, {
          label: 'embedded MongoDB (FerretDB)',
          restart: async () =>
            (await startFerretDB({ binary, dataDir, logger, port: ferretdb.port })).process,
          logger,
        }),
      );
      mongoUri = ferretdb.uri;
      logger.info(
        { uri: mongoUri, dataDir, childPid: ferretdb.process.pid },
        'embedded MongoDB (FerretDB) started',
      );
    }

    let redisUrl = config.redis.url;
    if (!redisUrl) {
      const local = config.redis.localUrl;
      if (await isRedisReachable(local)) {
        redisUrl = local;
        logger.info({ url: local }, 'using the local Redis');
      } else {
        const redis = await startRedisServer({ logger });
        // A restarted redis-server is empty: everything Verity keeps there is rebuilt from
        // MongoDB, and ioredis reconnects to the same port on its own.
        embedded.push(
          superviseManaged(redis.process, {
            label: 'embedded redis-server',
            restart: async () => (await startRedisServer({ logger, port: redis.port })).process,
            logger,
          }),
        );
        redisUrl = redis.url;
        logger.info(
          { url: redisUrl, childPid: redis.process.pid },
          'embedded redis-server started',
        );
      }
    }

    const jwtSecret = config.auth.jwtSecret
      ? new TextEncoder().encode(config.auth.jwtSecret)
      : await developmentSecret(config, logger);

    if (shuttingDown) return;
    app = createApp({ config, logger, mongoUri, redisUrl, jwtSecret });
    const { url } = await app.start();
    logger.info(`Verity is ready: open ${url} in a browser for the GraphQL IDE`);
  } catch (error) {
    logger.fatal({ err: error }, 'Verity could not start');
    await app?.stop().catch(() => undefined);
    await stopEmbedded();
    process.exit(1);
  }
}

await main();
