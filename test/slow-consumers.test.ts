import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { FeedEvent } from '../src/modules/feeds/feed.events.js';
import { toTruthWire } from '../src/modules/truths/truth.wire.js';
import type { UserRecord } from '../src/modules/users/user.model.js';
import { toUserWire } from '../src/modules/users/user.wire.js';
import { useVerity } from './helpers/server.js';
import { channelReady, postRecord } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

const subscription = `subscription($after: String) { publicFeedUpdated(after: $after) { ... on TruthPosted { cursor truth { text } } } }`;

describe('a subscriber that cannot keep up', () => {
  const verity = useVerity({ env: { WS_MAX_BUFFERED_BYTES: '65536' } });

  it('is held back, then cut off with 4420 when its bounded queue overflows, and catches up after reconnecting', async () => {
    const author = await verity.signUp();
    const reader = await verity.signUp();
    const { models, bus, live } = verity.app.internals;

    // A raw client that subscribes, then stops reading its socket.
    const socket = new WebSocket(verity.wsUrl, 'graphql-transport-ws');
    const frames: string[] = [];
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    socket.on('message', (data: Buffer) => frames.push(data.toString()));
    await new Promise((resolve) => socket.on('open', resolve));
    socket.send(
      JSON.stringify({
        type: 'connection_init',
        payload: { authorization: `Bearer ${reader.token}` },
      }),
    );
    await waitFor(() => frames.some((frame) => frame.includes('connection_ack')));
    socket.send(
      JSON.stringify({ id: 'feed', type: 'subscribe', payload: { query: subscription } }),
    );
    await channelReady(verity, 'publicFeed:');
    const subscribersBefore = live.subscribers;
    socket.pause();

    // Another instance announcing thousands of new truths: real truths in MongoDB, real events
    // through Redis, each about 4 KB on the wire.
    const authorRecord = (await models.User.findById(userIdHex(author.id))
      .lean<UserRecord>()
      .exec())!;
    const truths = Array.from({ length: 2_500 }, (_, i) =>
      postRecord(authorRecord._id, `${String(i).padStart(5, '0')} ${'🗽'.repeat(990)}`),
    );
    await models.Truth.insertMany(truths);
    // Written behind Verity's back: its read model learns them from MongoDB.
    await verity.app.internals.model.rebuild();
    for (const truth of truths) {
      const event: FeedEvent = {
        type: 'posted',
        truth: toTruthWire(truth),
        author: toUserWire(authorRecord),
        originalAuthorId: null,
      };
      await bus.publish('publicFeed', '', event);
      if (live.slowConsumers > 0) break;
    }

    await waitFor(() => live.slowConsumers === 1, {
      message: 'the slow subscriber was never cut off',
    });
    expect(live.subscribers).toBe(subscribersBefore - 1);

    // The client drains what was already on the wire, then sees why it was closed.
    socket.resume();
    expect(await closed).toBe(4420);
    const received = frames
      .map(
        (frame) =>
          JSON.parse(frame) as {
            type: string;
            payload?: { data?: { publicFeedUpdated: { cursor: string; truth: { text: string } } } };
          },
      )
      .filter((message) => message.type === 'next')
      .map((message) => message.payload!.data!.publicFeedUpdated);
    expect(received.length).toBeGreaterThan(0);
    expect(received.length).toBeLessThan(truths.length);
    // What reached the client is a prefix of the stream, in order.
    expect(received.map((item) => item.truth.text.slice(0, 5))).toEqual(
      received.map((_, i) => String(i).padStart(5, '0')),
    );

    // Reconnecting with the last cursor resumes exactly after it.
    const last = received.at(-1)!;
    const again = verity.subscribe(verity.connect(reader.token), subscription, {
      after: last.cursor,
    });
    const next = (await again.next()).data!['publicFeedUpdated'];
    expect(next.truth.text.slice(0, 5)).toBe(String(received.length).padStart(5, '0'));
  });
});
