import { createApp, type VerityApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/infra/logger.js';
import { watchPauses } from './pauses.js';
import { nowMs } from './stats.js';

export interface BenchAppOptions {
  /** The instance's settings (bench/lib/stack.ts, `instanceEnv`). */
  env: Record<string, string>;
  mongoUri: string;
  redisUrl: string;
  monitorCommands: boolean;
}

/** A Verity app as the benchmarks run it, in this process or in verity-server.ts's. */
export function createBenchApp(options: BenchAppOptions): VerityApp {
  const config = loadConfig(options.env);
  return createApp({
    config,
    logger: createLogger({ level: config.logLevel, name: 'verity-bench' }),
    mongoUri: options.mongoUri,
    redisUrl: options.redisUrl,
    jwtSecret: new TextEncoder().encode(options.env['JWT_SECRET']),
    monitorCommands: options.monitorCommands,
  });
}

/** What an instance's process has done so far, cumulative. */
export interface ProcessWork {
  /** CPU time of the whole process (every thread: the collector's helpers too). */
  cpuMs: number;
  /** Pauses for garbage collection, and how many were full (mark-compact) collections. */
  gcMs: number;
  majorGcs: number;
  /**
   * Since the previous reading: the longest collection pause, and the longest the event loop
   * went without turning (a pause, or work that held it), so that a slow round says whether
   * this process stood still.
   */
  longestGcMs: number;
  longestStallMs: number;
  /** Commands this instance's Redis clients sent (a script call is one). */
  redisSent: number;
  /**
   * The same commands by kind (`redisKind`), when counted (`countWork`'s `byKind`): which reads
   * a request makes on one network and not on another.
   */
  redisByKind: Record<string, number>;
  /** Commands the MongoDB driver started (the app must monitor commands). */
  mongoCommands: number;
  /** Their time from sending to the reply, summed, and how many took over `slowMongoMs`. */
  mongoMs: number;
  mongoSlow: number;
  /** The V8 heap in use now. */
  heapUsedBytes: number;
  /**
   * Since the previous reading, when counted (`countWork`'s `holds`): what took `holdMs` or
   * more in the process, with when it began, so that a slow request can be matched to what the
   * process did meanwhile.
   */
  holds: Hold[];
}

/**
 * Something that took a while in a serving process: an HTTP request served (with the CPU time of
 * the whole process meanwhile, the collector's threads too), a MongoDB or Redis command (sent to
 * answered: a pause of the process while its answer waited counts in it), or a collection pause.
 */
export interface Hold {
  /** When it began, ms since the epoch (`nowMs`, comparable across processes). */
  at: number;
  ms: number;
  /** `served (CPU 4.1)`, `mongo insert relation_events`, `redis mget m:user:{…}`, `gc minor`. */
  what: string;
}

/** What took at least this long is kept as a `Hold`. */
export const holdMs = 2;

/** At most this many holds are kept between two readings (the rest are dropped). */
const holdsKept = 100_000;

const gcKinds: Record<number, string> = {
  1: 'minor',
  2: 'mark-sweep',
  4: 'major',
  8: 'incremental',
  16: 'weak callbacks',
};

/** A MongoDB command slower than this is counted apart (`ProcessWork.mongoSlow`). */
export const slowMongoMs = 10;

/**
 * A Redis command's kind: its name (a script's with the start of its SHA1) and the shape of its
 * first key, without the namespace and with ids and numbers left out, e.g.
 * `evalsha 1f0c2a m:rel:v:{…}`.
 */
export function redisKind(command: { name: string; args: unknown[] }): string {
  const arg = (i: number) => {
    const value = command.args[i];
    if (typeof value === 'string' || typeof value === 'number') return String(value);
    return Buffer.isBuffer(value) ? value.toString() : '';
  };
  const { name } = command;
  const script = name === 'evalsha' || name === 'eval';
  // The first key that is not a slot's completeness marker (infra/read-model.ts), which reads
  // of the read model carry first.
  const [first, count] = script ? [2, Number(arg(1))] : [0, command.args.length];
  let key = '';
  for (let i = first; i < first + count && !key; i++) {
    if (!arg(i).includes(':ready@')) key = arg(i);
  }
  const shape = key
    .replace(/^[^:]*:/, '')
    .replace(/\{[^}]*\}/g, '{…}')
    .replace(/[0-9a-f]{24}/g, '…')
    .replace(/\d+/g, '#');
  const label = name === 'evalsha' ? `evalsha ${arg(0).slice(0, 6)}` : name;
  return shape ? `${label} ${shape}` : label;
}

/**
 * Starts counting `app`'s work (call once it has started); the reader of the counts. `byKind`
 * also counts Redis commands by kind (`ProcessWork.redisByKind`); `holds` keeps what took a
 * while (`ProcessWork.holds`).
 */
export function countWork(
  app: VerityApp,
  options: { byKind?: boolean; holds?: boolean } = {},
): () => ProcessWork {
  const holds: Hold[] = [];
  const hold = (at: number, ms: number, what: () => string) => {
    if (ms >= holdMs && holds.length < holdsKept) holds.push({ at, ms, what: what() });
  };
  const pauses = watchPauses(
    options.holds
      ? { onCollection: (at, ms, kind) => hold(at, ms, () => `gc ${gcKinds[kind] ?? kind}`) }
      : {},
  );
  let redisSent = 0;
  const redisByKind: Record<string, number> = {};
  let mongoCommands = 0;
  const { redis, connection, httpServer } = app.internals;
  for (const client of [redis.command, redis.publisher]) {
    const send = client.sendCommand.bind(client);
    client.sendCommand = (...args: Parameters<typeof send>) => {
      redisSent++;
      if (options.byKind) {
        const kind = redisKind(args[0]);
        redisByKind[kind] = (redisByKind[kind] ?? 0) + 1;
      }
      const answer = send(...args);
      if (options.holds && answer instanceof Promise) {
        const at = nowMs();
        const done = () => hold(at, nowMs() - at, () => `redis ${redisKind(args[0])}`);
        answer.then(done, done);
      }
      return answer;
    };
  }
  const mongo = { ms: 0, slow: 0 };
  const client = connection.getClient();
  const collections = new Map<number, string>();
  client.on('commandStarted', (event) => {
    mongoCommands++;
    if (options.holds) {
      const target: unknown = (event.command as Record<string, unknown>)[event.commandName];
      collections.set(event.requestId, typeof target === 'string' ? ` ${target}` : '');
    }
  });
  const timed = (event: { duration: number; requestId: number; commandName: string }) => {
    const { duration } = event;
    mongo.ms += duration;
    if (duration > slowMongoMs) mongo.slow++;
    if (options.holds) {
      const target = collections.get(event.requestId) ?? '';
      collections.delete(event.requestId);
      hold(nowMs() - duration, duration, () => `mongo ${event.commandName}${target}`);
    }
  };
  if (options.holds) {
    httpServer.on('request', (_request, response) => {
      const at = nowMs();
      const cpu = process.cpuUsage();
      response.once('finish', () => {
        const used = process.cpuUsage(cpu);
        const cpuMs = (used.user + used.system) / 1000;
        hold(at, nowMs() - at, () => `served (CPU ${cpuMs.toFixed(1)})`);
      });
    });
  }
  client.on('commandSucceeded', timed);
  client.on('commandFailed', timed);
  return () => {
    const cpu = process.cpuUsage();
    const { stallMs, gcPauseMs } = pauses.take();
    return {
      cpuMs: (cpu.user + cpu.system) / 1000,
      gcMs: pauses.gc.ms,
      majorGcs: pauses.gc.major,
      longestGcMs: gcPauseMs,
      longestStallMs: stallMs,
      redisSent,
      redisByKind: { ...redisByKind },
      mongoCommands,
      mongoMs: mongo.ms,
      mongoSlow: mongo.slow,
      heapUsedBytes: process.memoryUsage().heapUsed,
      holds: holds.splice(0),
    };
  };
}
