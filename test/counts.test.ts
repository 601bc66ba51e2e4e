import { describe, expect, it } from 'vitest';
import { useVerities, type TestServer } from './helpers/server.js';
import { post, react } from './helpers/social.js';
import { userIdHex } from './helpers/tokens.js';

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

  it('stays exact when counts are rebuilt from MongoDB in the middle of a burst', async () => {
    const [one] = instances as [TestServer];
    const author = await one.signUp();
    const authorId = userIdHex(author.id);
    const { userCounts, truthCounts } = one.app.internals.services.stores;
    const target = await post(one, author.token, 'react to me');
    const reactors = await Promise.all(Array.from({ length: 24 }, () => one.signUp()));

    // The hashes are forgotten again and again while the writes go on, so reads keep
    // rebuilding them from MongoDB while facts are being written.
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
    const forgetting = (async () => {
      let done = false;
      void writes.finally(() => {
        done = true;
      });
      while (!done) {
        await userCounts.invalidate(authorId);
        await truthCounts.invalidate(userIdHexOfTruth(target.id));
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();
    await readWhile(Promise.all([writes, forgetting]), async (server) => {
      await truthCountOn(server, author.username);
      await server.gql(truthCountsQuery, { id: target.id });
    });

    for (const server of instances) {
      expect(await truthCountOn(server, author.username)).toBe(61);
      const counts = (await server.gql(truthCountsQuery, { id: target.id })).data!['truth'].counts;
      expect(counts).toEqual({ reactions: 24, replies: 0 });
    }
  });
});

/** The ObjectId hex inside a truth's global ID. */
const userIdHexOfTruth = (globalId: string) =>
  Buffer.from(globalId, 'base64url').toString('utf8').split(':')[1]!;
