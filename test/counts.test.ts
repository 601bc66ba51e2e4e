import { describe, expect, it } from 'vitest';
import { useVerities, type TestServer } from './helpers/server.js';
import { loseRedisKeys, post, react } from './helpers/social.js';
import { waitFor } from './helpers/wait.js';

const countsQuery = /* GraphQL */ `
  query ($u: String!) {
    user(username: $u) {
      truthCount
      followerCount
    }
  }
`;

const truthCountsQuery = /* GraphQL */ `
  query ($id: ID!) {
    truth(id: $id) {
      counts {
        reactions
        replies
      }
    }
  }
`;

describe('counts', () => {
  const instances = useVerities(2);

  /** Keeps reading `read` on every instance until `until` settles. */
  const readWhile = async (
    until: Promise<unknown>,
    read: (server: TestServer) => Promise<unknown>,
  ) => {
    let done = false;
    void until.finally(() => {
      done = true;
    });
    await Promise.all(
      instances.map(async (server) => {
        while (!done) await read(server);
      }),
    );
    await until;
  };

  /** Posts `count` truths, `concurrency` at a time, through both instances. */
  const burst = async (token: string, count: number, concurrency: number, label: string) => {
    for (let start = 0; start < count; start += concurrency) {
      await Promise.all(
        Array.from({ length: Math.min(concurrency, count - start) }, (_, i) =>
          post(instances[(start + i) % 2]!, token, `${label} ${start + i}`),
        ),
      );
    }
  };

  const truthCountOn = async (server: TestServer, username: string) =>
    (await server.gql(countsQuery, { u: username })).data!['user'].truthCount as number;

  it('counts a new account’s burst of 200 truths exactly, on every instance, while being read', async () => {
    const [one] = instances as [TestServer];
    const author = await one.signUp();
    await readWhile(burst(author.token, 200, 20, 'burst'), (server) =>
      truthCountOn(server, author.username),
    );
    for (const server of instances) expect(await truthCountOn(server, author.username)).toBe(200);
  });

  it('stays exact when Redis loses everything in the middle of a burst', async () => {
    const [one] = instances as [TestServer];
    const author = await one.signUp();
    const target = await post(one, author.token, 'react to me');
    const reactors = await Promise.all(Array.from({ length: 24 }, () => one.signUp()));

    // Redis loses every key while posts and reactions go on: the read model is rebuilt from
    // MongoDB while writes keep arriving, and what they do is applied once it is.
    const writes = Promise.all([
      burst(author.token, 60, 12, 'rebuilt'),
      (async () => {
        for (let i = 0; i < reactors.length; i += 8) {
          await Promise.all(
            reactors
              .slice(i, i + 8)
              .map((reactor, j) => react(instances[j % 2]!, reactor.token, target.id, 'LIKE')),
          );
        }
      })(),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await loseRedisKeys(one, '*')).toBeGreaterThan(0);
    await readWhile(writes, async (server) => {
      await truthCountOn(server, author.username).catch(() => undefined);
    });

    for (const server of instances) {
      await waitFor(async () => (await truthCountOn(server, author.username)) === 61, {
        timeoutMs: 20_000,
        message: 'the truth count never settled at 61',
      });
      const counts = (await server.gql(truthCountsQuery, { id: target.id })).data!['truth'].counts;
      expect(counts).toEqual({ reactions: 24, replies: 0 });
    }
  });
});
