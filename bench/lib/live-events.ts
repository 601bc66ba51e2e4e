import type { FeedEvent } from '../../src/modules/feeds/feed.events.js';
import type { TruthRecord } from '../../src/modules/truths/truth.model.js';
import { toTruthWire } from '../../src/modules/truths/truth.wire.js';
import type { UserRecord } from '../../src/modules/users/user.model.js';
import { toUserWire } from '../../src/modules/users/user.wire.js';
import type { BenchServer } from './stack.js';
import { median, nowMs, quantile } from './stats.js';
import type { WsLoad } from './ws-load.js';

export interface EventFigures {
  p50: number;
  p99: number;
  perSecond: number;
}

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

/** Sends one event and returns its delivery latencies (ms from the publish to each arrival). */
export async function measureOne(
  load: WsLoad,
  publish: () => Promise<unknown>,
): Promise<EventFigures & { sampleFrame: string }> {
  const { arrivals } = await load.expect();
  const sentAt = nowMs();
  await publish();
  const { times, sampleFrame } = await arrivals;
  const latencies = times.map((time) => time - sentAt);
  const last = Math.max(...latencies);
  return {
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    perSecond: latencies.length / (last / 1000),
    sampleFrame,
  };
}

/** Medians over events of each figure. */
export const summarise = (events: EventFigures[]): EventFigures => ({
  p50: median(events.map((e) => e.p50)),
  p99: median(events.map((e) => e.p99)),
  perSecond: median(events.map((e) => e.perSecond)),
});
