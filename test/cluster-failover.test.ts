import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startRedisCluster,
  type EmbeddedRedisCluster,
} from '../src/infra/embedded/redis-cluster.js';
import { createLogger } from '../src/infra/logger.js';
import { slotOf } from '../src/infra/slots.js';
import { startVerity, uniqueDbName, type TestServer } from './helpers/server.js';
import { act, channelReady, homeChannel, post } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';
import { waitFor } from './helpers/wait.js';

const homeUpdates = /* GraphQL */ `
  subscription {
    homeFeedUpdated {
      __typename
      ... on TruthPosted {
        truth {
          id
          text
        }
      }
    }
  }
`;

const postMutation = /* GraphQL */ `
  mutation ($input: PostTruthInput!) {
    postTruth(input: $input) {
      truth {
        id
        text
      }
    }
  }
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Verity on a Redis Cluster of its own (three masters, a replica each) while a master dies:
 * two instances keep answering, with bounded retryable errors during the election, recover on
 * their own, lose no acknowledged truth, and a live home feed speaks again afterwards.
 */
describe('Verity on a Redis Cluster, through a failover', () => {
  let cluster: EmbeddedRedisCluster;
  let writer: TestServer;
  let reader: TestServer;

  beforeAll(async () => {
    cluster = await startRedisCluster({ logger: createLogger({ level: 'silent' }) });
    const redisUrl = `redis-cluster://${cluster.nodeList}`;
    const dbName = uniqueDbName('failover');
    writer = await startVerity({ dbName, redisUrl, keepDatabase: true });
    reader = await startVerity({ dbName, redisUrl });
  }, 120_000);

  afterAll(async () => {
    await writer?.stop();
    await reader?.stop();
    await cluster?.stop();
  });

  it('answers with bounded retryable errors while a master fails over, then loses no acknowledged truth', async () => {
    const author = await writer.signUp();
    const follower = await reader.signUp();
    await act(reader, follower.token, 'follow', author.id);
    const before = await post(writer, author.token, 'before the failover');

    const live = reader.subscribe(reader.connect(follower.token), homeUpdates);
    await channelReady(reader, homeChannel(follower.id));

    // The master holding the author's keys (their timeline lists, counts, records) dies.
    const victim = await cluster.masterOf(slotOf(`{${userIdHex(author.id)}}`));
    const acknowledged = new Set<string>([before.id]);
    const failures: { at: number; code: unknown; retryable: unknown; message?: string }[] = [];
    let killedAt = 0;
    let posting = true;
    const poster = (async () => {
      for (let n = 0; posting; n++) {
        const result = await writer.gql(
          postMutation,
          { input: { text: `during ${n}` } },
          { token: author.token },
        );
        if (result.errors) {
          failures.push({
            at: Date.now() - killedAt,
            code: result.errors[0]?.extensions?.['code'],
            retryable: result.errors[0]?.extensions?.['retryable'],
            message: result.errors[0]?.message,
          });
        } else {
          acknowledged.add(result.data!['postTruth'].truth.id as string);
        }
        // Reads go on meanwhile, on the other instance.
        await reader.gql('{ homeFeed(first: 5) { edges { node { id } } } }', undefined, {
          token: follower.token,
        });
        await sleep(50);
      }
    })();
    await sleep(500);
    killedAt = Date.now();
    await cluster.kill(victim);
    await cluster.healthy(30_000);
    // Posting works again on its own: a truth posted well after the election is acknowledged.
    await waitFor(
      async () =>
        (
          await writer.gql(
            postMutation,
            { input: { text: 'after the failover' } },
            { token: author.token },
          )
        ).errors === undefined,
      { timeoutMs: 30_000 },
    );
    posting = false;
    await poster;

    // Every failure was a retryable UNAVAILABLE, and all of them within the election's time.
    for (const failure of failures) {
      // The message says which path answered otherwise.
      expect(failure.code, failure.message).toBe('UNAVAILABLE');
      expect(failure.retryable, failure.message).toBe(true);
      expect(failure.at).toBeLessThan(20_000);
    }

    // No acknowledged truth is lost: each is on the author's profile and in the follower's home
    // feed, rebuilt where the promoted replica had not caught up.
    await waitFor(
      async () => {
        const result = await reader.gql(
          `query($name: String!) { user(username: $name) { truths(first: 100) { edges { node { id } } } } }`,
          { name: author.username },
        );
        if (result.errors) return false;
        // An account that exists is never answered as absent, even in the middle of a rebuild.
        expect(result.data!['user'], 'the author, found by name').not.toBeNull();
        const ids = new Set(
          result.data!['user'].truths.edges.map((edge: { node: { id: string } }) => edge.node.id),
        );
        return [...acknowledged].every((id) => ids.has(id));
      },
      { timeoutMs: 30_000 },
    );
    await waitFor(
      async () => {
        const result = await reader.gql(
          '{ homeFeed(first: 100) { edges { node { id } } } }',
          undefined,
          {
            token: follower.token,
          },
        );
        if (result.errors) return false;
        const ids = new Set(
          result.data!['homeFeed'].edges.map((edge: { node: { id: string } }) => edge.node.id),
        );
        return [...acknowledged].every((id) => ids.has(id));
      },
      { timeoutMs: 30_000 },
    );

    // The live subscriber is not left silent: a truth posted now reaches it.
    const text = `live after the failover ${Date.now()}`;
    await waitFor(
      async () => {
        await post(writer, author.token, text);
        for (;;) {
          const event = await live.next(3_000).catch(() => null);
          if (!event) return false;
          if (event.data?.['homeFeedUpdated']?.truth?.text === text) return true;
        }
      },
      { timeoutMs: 45_000 },
    );
    live.close();
  }, 180_000);
});
