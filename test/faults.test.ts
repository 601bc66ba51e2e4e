import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type EmbeddedRedis } from '../src/infra/embedded/redis-server.js';
import { createLogger } from '../src/infra/logger.js';
import type { TruthRecord } from '../src/modules/truths/truth.model.js';
import type { TestUser } from './helpers/graphql.js';
import { describeOnOwnRedis } from './helpers/redis.js';
import { startVerity, type TestServer } from './helpers/server.js';
import { feedTexts, postRecord, tryPost } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

/**
 * Fault drills: a client keeps posting while Redis is frozen or restarted empty. Every answer
 * must tell the truth: a post answered as failed was not stored, one answered as stored is in
 * MongoDB, and once Redis is back every stored post is in the feeds and the counts, with no
 * help from anyone.
 */
describeOnOwnRedis('posting through Redis faults', () => {
  let redis: EmbeddedRedis;
  let verity: TestServer;
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    redis = await startRedisServer({ logger });
    verity = await startVerity({ redisUrl: redis.url });
  });

  afterAll(async () => {
    await verity?.stop();
    await redis?.stop();
  });

  /**
   * Posts `count` truths, `concurrency` at a time, while `fault` runs once `faultAfter` posts
   * were answered; returns each text with whether its answer said it was stored.
   */
  const drill = async (
    author: TestUser,
    label: string,
    fault: () => Promise<void>,
    options = { count: 60, concurrency: 4, faultAfter: 12 },
  ) => {
    const answers = new Map<string, boolean>();
    let faulting: Promise<void> | undefined;
    let duringFault = 0;
    let faultOver = false;
    let next = 0;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < options.count) {
          const text = `${label} ${next++}`;
          const sentDuringFault = faulting !== undefined && !faultOver;
          const result = await tryPost(verity, author.token, { text });
          if (sentDuringFault) duringFault += 1;
          answers.set(text, Boolean(result.data?.['postTruth']?.truth.id));
          if (!result.data)
            expect(result.errors![0]!.extensions).toMatchObject({ retryable: true });
          if (answers.size === options.faultAfter) {
            faulting = fault().finally(() => {
              faultOver = true;
            });
          }
        }
      }),
    );
    await faulting;
    // The drill means something only if posts were sent while the fault lasted.
    expect(duringFault).toBeGreaterThan(0);
    return answers;
  };

  /** Checks every answer against MongoDB, then waits for the feeds and counts to agree. */
  const expectTruthfulAnswers = async (author: TestUser, answers: Map<string, boolean>) => {
    const { models } = verity.app.internals;
    const stored = new Set(
      (
        await models.Truth.find({ authorId: new Types.ObjectId(userIdHex(author.id)) }, { text: 1 })
          .lean<Pick<TruthRecord, 'text'>[]>()
          .exec()
      ).map((truth) => truth.text),
    );
    for (const [text, answeredStored] of answers) {
      expect({ text, stored: stored.has(text) }).toEqual({ text, stored: answeredStored });
    }
    // Redis is back: every effect is applied, by the instance itself.
    await waitFor(
      async () => {
        const profile = await verity.gql(
          `query($u: String!) { user(username: $u) { truthCount } }`,
          { u: author.username },
        );
        return profile.data?.['user']?.truthCount === stored.size;
      },
      { timeoutMs: 30_000, message: 'the truth count never caught up' },
    );
    const page = await feedTexts(verity, 'publicFeed', { first: 100 });
    for (const text of stored) expect(page).toContain(text);
    return stored.size;
  };

  it('answers no stored post as failed while Redis is frozen, and completes their effects after', async () => {
    const author = await verity.signUp();
    const answers = await drill(author, 'frozen', async () => {
      process.kill(-redis.process.pid, 'SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      process.kill(-redis.process.pid, 'SIGCONT');
    });
    expect(await expectTruthfulAnswers(author, answers)).toBeGreaterThan(0);
  });

  it('answers no stored post as failed while Redis restarts empty, and rebuilds what it lost', async () => {
    const author = await verity.signUp();
    const answers = await drill(author, 'restarted', async () => {
      await redis.stop();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      redis = await startRedisServer({ logger, port: redis.port });
    });
    expect(await expectTruthfulAnswers(author, answers)).toBeGreaterThan(0);
  });
});

describe('a process that dies between storing a truth and its effects', () => {
  let verity: TestServer;

  beforeAll(async () => {
    verity = await startVerity();
  });

  afterAll(async () => {
    await verity?.stop();
  });

  it('leaves its journal entry, and another instance finishes the effects', async () => {
    const author = await verity.signUp();
    const { models, redis } = verity.app.internals;
    // What a process killed right after the MongoDB insert leaves: the truth, and the journal
    // entry it wrote before, now overdue.
    const truth = postRecord(
      new Types.ObjectId(userIdHex(author.id)),
      'stored by a process that died',
    );
    await models.Truth.collection.insertOne(truth);
    await redis.command.zadd(
      `${redis.namespace}:journal`,
      Date.now() - 1,
      `truth:${truth._id.toHexString()}`,
    );

    // The sweeper applies the effects one after another (the author's count before the feeds)
    // and removes the entry last: wait for all three.
    await waitFor(
      async () => {
        const profile = await verity.gql(
          `query($u: String!) { user(username: $u) { truthCount } }`,
          { u: author.username },
        );
        return (
          profile.data?.['user']?.truthCount === 1 &&
          (await feedTexts(verity, 'publicFeed', { first: 100 })).includes(truth.text) &&
          (await redis.command.zcard(`${redis.namespace}:journal`)) === 0
        );
      },
      { timeoutMs: 20_000, message: 'the journal entry was never finished' },
    );
  });

  it('finishes the effects at once, not after the journal’s grace, when its client retries with the same idempotency key', async () => {
    const author = await verity.signUp();
    const { models, redis } = verity.app.internals;
    // What a process killed right after the MongoDB insert leaves: the key, the truth, and a
    // journal entry that a sweeper would take over only in a minute.
    const truth = postRecord(
      new Types.ObjectId(userIdHex(author.id)),
      'stored by a process that died, then retried',
    );
    await models.Idempotency.collection.insertOne({
      _id: `${userIdHex(author.id)}:retried-key` as never,
      requestHash: createHash('sha256')
        .update(JSON.stringify([truth.text, null, null]))
        .digest('hex'),
      truthId: truth._id,
      createdAt: new Date(),
    });
    await models.Truth.collection.insertOne(truth);
    await redis.command.zadd(
      `${redis.namespace}:journal`,
      Date.now() + 60_000,
      `truth:${truth._id.toHexString()}`,
    );

    const retry = await tryPost(verity, author.token, {
      text: truth.text,
      idempotencyKey: 'retried-key',
    });
    expect(retry.data?.['postTruth']?.truth.text).toBe(truth.text);
    // Answered: the truth is in its author's page and the public feed, and counted.
    const profile = await verity.gql(
      `query($u: String!) { user(username: $u) { truthCount truths(first: 5) { edges { node { text } } } } }`,
      { u: author.username },
    );
    expect(profile.data?.['user']).toEqual({
      truthCount: 1,
      truths: { edges: [{ node: { text: truth.text } }] },
    });
    expect(await feedTexts(verity, 'publicFeed', { first: 100 })).toContain(truth.text);
    expect(await redis.command.zcard(`${redis.namespace}:journal`)).toBe(0);
  });
});
