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

const subscription = `subscription { publicFeedUpdated { ... on TruthPosted { truth { text } } } }`;

/**
 * A raw graphql-ws client that reads its socket slowly but steadily: one read of the network
 * (one socket chunk, at most 64 KB) every `stepMs`, paused in between.
 */
async function openSlowReader(url: string, token: string, stepMs: number) {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  const received = { sequence: [] as number[], bytesAfterCutOff: 0 };
  let cutOff = false;
  let acknowledged = false;
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  socket.on('message', (data: Buffer) => {
    if (cutOff) received.bytesAfterCutOff += data.length;
    const message = JSON.parse(data.toString()) as {
      type: string;
      payload?: { data?: { publicFeedUpdated: { truth: { text: string } } } };
    };
    if (message.type === 'connection_ack') acknowledged = true;
    const text = message.payload?.data?.publicFeedUpdated.truth.text;
    if (text) received.sequence.push(Number(text.slice(0, 5)));
    // What the network already handed over is still parsed; nothing more is read until the
    // next step.
    if (acknowledged && !socket.isPaused) socket.pause();
  });
  await new Promise((resolve) => socket.on('open', resolve));
  socket.send(
    JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }),
  );
  await waitFor(() => acknowledged);
  socket.send(JSON.stringify({ id: 'feed', type: 'subscribe', payload: { query: subscription } }));
  const stepper = setInterval(() => socket.resume(), stepMs);
  void closed.then(() => clearInterval(stepper));
  return {
    received,
    closed,
    markCutOff: () => {
      cutOff = true;
    },
    stop: () => {
      clearInterval(stepper);
      socket.terminate();
    },
  };
}

describe('a subscriber that reads slowly', () => {
  // A large buffer makes the close frame wait well over the five seconds after which Verity
  // used to drop a cut-off connection; keep-alive pings stay out of the way.
  const verity = useVerity({
    env: { WS_MAX_BUFFERED_BYTES: String(4 * 1024 * 1024), WS_KEEPALIVE_MS: '600000' },
  });

  it('is cut off with 4420 after draining what was already buffered, not dropped with 1006', async () => {
    const author = await verity.signUp();
    const reader = await verity.signUp();
    const { models, bus, live } = verity.app.internals;

    // About 500 KB a second at most: far slower than the announcements below arrive.
    const client = await openSlowReader(verity.wsUrl, reader.token, 125);
    try {
      await channelReady(verity, 'publicFeed:');

      // Another instance announcing thousands of new truths through Redis, each about 4 KB on
      // the wire, until the reader's connection fills and its queue overflows.
      const authorRecord = (await models.User.findById(userIdHex(author.id))
        .lean<UserRecord>()
        .exec())!;
      for (let i = 0; i < 10_000 && live.slowConsumers === 0; i++) {
        const event: FeedEvent = {
          type: 'posted',
          truth: toTruthWire(
            postRecord(authorRecord._id, `${String(i).padStart(5, '0')} ${'🗽'.repeat(990)}`),
          ),
          author: toUserWire(authorRecord),
          originalAuthorId: null,
        };
        await bus.publish('publicFeed', '', event);
      }
      await waitFor(() => live.slowConsumers === 1, {
        message: 'the slow reader was never cut off',
      });
      client.markCutOff();

      expect(await client.closed).toBe(4420);
      expect(client.received.bytesAfterCutOff).toBeGreaterThan(0);
      // What it read is the start of the stream, in order, with nothing skipped.
      expect(client.received.sequence).toEqual(client.received.sequence.map((_, i) => i));
    } finally {
      client.stop();
    }
  }, 60_000);
});
