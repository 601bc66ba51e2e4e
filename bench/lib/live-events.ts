import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { FeedEvent } from '../../src/modules/feeds/feed.events.js';
import type { TruthRecord } from '../../src/modules/truths/truth.model.js';
import { toTruthWire } from '../../src/modules/truths/truth.wire.js';
import type { UserRecord } from '../../src/modules/users/user.model.js';
import { toUserWire } from '../../src/modules/users/user.wire.js';
import type { BenchServer } from './stack.js';
import { median, nowMs, quantile } from './stats.js';
import { openWsLoad, startRawBroadcastServer, type WsLoad } from './ws-load.js';

/**
 * Posts `count` real truths by `author` (before anyone listens) and returns the public feed
 * events that announce them, ready to be published again during a measurement.
 */
export async function announcements(
  server: BenchServer,
  author: { token: string },
  count: number,
): Promise<FeedEvent[]> {
  for (let i = 0; i < count; i++) {
    await server.gql(
      'mutation($t: String!) { postTruth(input: { text: $t }) { truth { id } } }',
      { t: `Live benchmark truth ${i} #launch` },
      author.token,
    );
  }
  const { models } = server.app.internals;
  const truths = await models.Truth.find({}).sort({ _id: -1 }).limit(count).lean<TruthRecord[]>();
  const authors = new Map<string, UserRecord>();
  for (const truth of truths) {
    const id = truth.authorId.toHexString();
    if (!authors.has(id)) authors.set(id, (await models.User.findById(id).lean<UserRecord>())!);
  }
  return truths.reverse().map((truth) => ({
    type: 'posted',
    truth: toTruthWire(truth),
    author: toUserWire(authors.get(truth.authorId.toHexString())!),
    originalAuthorId: null,
  }));
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux). */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second here).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** CPU time (ms) this process has used so far: the bench process hosts the measured server. */
export const ownCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

export interface EventFigures {
  /** The first delivery, and the trigger's own duration (a mutation's answer, a PUBLISH). */
  first: number;
  trigger: number;
  p50: number;
  p99: number;
  perSecond: number;
  /** The serving process's CPU time over the event, per delivery (µs). */
  cpuUsPerDelivery: number;
}

/**
 * Arms the clients, runs `trigger`, and returns each delivery's figures from the trigger's start
 * (ms), with the CPU `cpuMs` says the serving process used meanwhile, per delivery.
 */
export async function measureDeliveries(
  load: WsLoad,
  trigger: () => Promise<unknown>,
  cpuMs: () => number,
): Promise<EventFigures & { sampleFrame: string }> {
  const { arrivals } = await load.expect();
  const cpuBefore = cpuMs();
  const startedAt = nowMs();
  await trigger();
  const triggered = nowMs() - startedAt;
  const { times, sampleFrame } = await arrivals;
  const cpu = cpuMs() - cpuBefore;
  const latencies = times.map((time) => time - startedAt);
  return {
    first: Math.min(...latencies),
    trigger: triggered,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    perSecond: latencies.length / (Math.max(...latencies) / 1000),
    cpuUsPerDelivery: (cpu * 1000) / latencies.length,
    sampleFrame,
  };
}

/** Medians over events of each figure. */
export const summarise = (events: EventFigures[]): EventFigures => {
  const of = (figure: keyof EventFigures) => median(events.map((event) => event[figure]));
  return {
    first: of('first'),
    trigger: of('trigger'),
    p50: of('p50'),
    p99: of('p99'),
    perSecond: of('perSecond'),
    cpuUsPerDelivery: of('cpuUsPerDelivery'),
  };
};

/**
 * The baseline of the live scenarios: plain `ws` in its own process broadcasting one
 * pre-serialized frame, from a Redis PUBLISH, to `count` sockets of its own clients, connected
 * for the whole run. `measure(frame)` sends one and returns its figures, CPU from that process.
 */
export async function openRawBaseline(options: {
  redisUrl: string;
  namespace: string;
  count: number;
  processes: number;
  execArgv?: string[];
}): Promise<{
  server: ChildProcess;
  measure(frame: string): Promise<EventFigures>;
  close(): Promise<void>;
}> {
  const channel = `${options.namespace}:raw`;
  // On a cluster, the baseline's plain PUBLISH/SUBSCRIBE on one node: the floor either way.
  const redisUrl = options.redisUrl.startsWith('redis-cluster://')
    ? `redis://${options.redisUrl.slice('redis-cluster://'.length).split(',')[0]}`
    : options.redisUrl;
  const { child, port } = await startRawBroadcastServer({
    redisUrl,
    channel,
    ...(options.execArgv ? { execArgv: options.execArgv } : {}),
  });
  const clients = await openWsLoad({
    url: `ws://127.0.0.1:${port}`,
    protocol: 'raw',
    count: options.count,
    processes: options.processes,
  });
  const publisher = new Redis(redisUrl);
  return {
    server: child,
    measure: (frame) =>
      measureDeliveries(
        clients,
        () => publisher.publish(channel, frame),
        () => processCpuMs(child.pid!),
      ),
    async close() {
      await clients.close();
      child.send({ type: 'stop' });
      publisher.disconnect();
    },
  };
}
