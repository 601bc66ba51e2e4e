import { describe, expect, it } from 'vitest';
import { errorCodes, signUpMutation, uniqueUsername } from './helpers/graphql.js';
import { useVerities, type TestServer } from './helpers/server.js';
import { act, loseRedisKeys, post } from './helpers/social.js';

const joinMutation = /* GraphQL */ `
  mutation ($input: JoinWaitlistInput!) {
    joinWaitlist(input: $input) {
      ticket
    }
  }
`;

const profile = /* GraphQL */ `
  query ($u: String!) {
    user(username: $u) {
      followerCount
      followingCount
      truthCount
    }
  }
`;

const countsQuery = /* GraphQL */ `
  query ($id: ID!) {
    truth(id: $id) {
      counts {
        reactions
        byKind {
          kind
          count
        }
      }
    }
  }
`;

/**
 * Every uniqueness rule holds for racing requests spread over three instances, and again after
 * Redis lost everything and the read model was rebuilt from MongoDB.
 */
describe('uniqueness across three instances', () => {
  const instances = useVerities(3);
  const on = (i: number) => instances[i % 3]!;
  const all = <T>(work: (server: TestServer, i: number) => Promise<T>) =>
    Promise.all([0, 1, 2].map((i) => work(on(i), i)));

  const signUp = (server: TestServer, username: string, email: string, password: string) =>
    server.gql(signUpMutation, { input: { username, email, password } });

  it('gives one account and CONFLICTs to racing sign-ups for one username or one email', async () => {
    for (let round = 0; round < 3; round++) {
      const username = uniqueUsername('race');
      const byName = await all((server, i) =>
        signUp(
          server,
          i === 1 ? username.toUpperCase() : username,
          `${username}_${i}@example.com`,
          `passphrase number ${i} of the race`,
        ),
      );
      expect(byName.filter((r) => r.data?.['signUp']?.__typename === 'Session')).toHaveLength(1);
      expect(byName.flatMap(errorCodes)).toEqual(['CONFLICT', 'CONFLICT']);

      const email = `${uniqueUsername('mail')}@example.com`;
      const byEmail = await all((server, i) =>
        signUp(
          server,
          uniqueUsername(`e${i}`),
          i === 2 ? `  ${email.toUpperCase()}` : email,
          `passphrase number ${i} of the race`,
        ),
      );
      expect(byEmail.filter((r) => r.data?.['signUp']?.__typename === 'Session')).toHaveLength(1);
      expect(byEmail.flatMap(errorCodes)).toEqual(['CONFLICT', 'CONFLICT']);
      const { User } = on(0).app.internals.models;
      expect(await User.countDocuments({ email }).exec()).toBe(1);
    }
  });

  it('counts racing follows, unfollows and reactions of one pair once', async () => {
    const star = await on(0).signUp();
    const fan = await on(1).signUp();
    const truth = await post(on(2), star.token, 'race for it');
    for (let round = 0; round < 3; round++) {
      await all((server) => act(server, fan.token, 'follow', star.id));
      expect((await on(round).gql(profile, { u: star.username })).data!['user']).toMatchObject({
        followerCount: 1,
      });
      await all((server) => act(server, fan.token, 'unfollow', star.id));
      expect((await on(round + 1).gql(profile, { u: star.username })).data!['user']).toMatchObject({
        followerCount: 0,
      });
    }
    await all((server) => act(server, fan.token, 'follow', star.id));

    const kinds = ['LIKE', 'LOVE', 'WOW'] as const;
    await all((server, i) =>
      server.gql(
        'mutation($i: ReactInput!) { react(input: $i) { truth { id } } }',
        { i: { truthId: truth.id, kind: kinds[i] } },
        { token: fan.token },
      ),
    );
    const counts = (await on(0).gql(countsQuery, { id: truth.id })).data!['truth'].counts;
    expect(counts.reactions).toBe(1);
    expect(counts.byKind).toHaveLength(1);
    const viewerReaction = (
      await on(1).gql(
        'query($id: ID!) { truth(id: $id) { viewerReaction } }',
        { id: truth.id },
        {
          token: fan.token,
        },
      )
    ).data!['truth'].viewerReaction;
    expect(counts.byKind[0].kind).toBe(viewerReaction);
  });

  it('keeps every rule after Redis lost everything and the read model was rebuilt', async () => {
    const owner = await on(0).signUp();
    const follower = await on(1).signUp();
    await act(on(1), follower.token, 'follow', owner.id);
    const truth = await post(on(2), owner.token, 'kept through the loss');
    await on(0).gql(
      'mutation($i: ReactInput!) { react(input: $i) { truth { id } } }',
      { i: { truthId: truth.id, kind: 'HAHA' } },
      { token: follower.token },
    );
    const email = `${uniqueUsername('kept')}@example.com`;
    const joinName = uniqueUsername('kept');
    const ticket = (await on(1).gql(joinMutation, { input: { email, username: joinName } })).data![
      'joinWaitlist'
    ].ticket;
    const before = (await on(0).gql(profile, { u: owner.username })).data!['user'];

    expect(await loseRedisKeys(on(0), '*')).toBeGreaterThan(0);

    // Whichever instance is asked first rebuilds; all answer as before.
    for (const server of instances) {
      expect((await server.gql(profile, { u: owner.username })).data!['user']).toEqual(before);
    }
    const counts = (await on(2).gql(countsQuery, { id: truth.id })).data!['truth'].counts;
    expect(counts).toEqual({ reactions: 1, byKind: [{ kind: 'HAHA', count: 1 }] });
    // The account's name is still taken on every instance, racing or not; its email still
    // signs in.
    const again = await all((server) =>
      signUp(
        server,
        owner.username.toUpperCase(),
        `${uniqueUsername('o')}@example.com`,
        'another long passphrase',
      ),
    );
    expect(again.flatMap(errorCodes)).toEqual(['CONFLICT', 'CONFLICT', 'CONFLICT']);
    const logIn = await on(2).gql(
      'mutation($i: LogInInput!) { logIn(input: $i) { user { username } } }',
      { i: { login: owner.email, password: owner.password } },
    );
    expect(logIn.data!['logIn'].user.username).toBe(owner.username);
    // The same email still has the same ticket; its username is still held.
    const rejoined = await on(2).gql(joinMutation, { input: { email, username: joinName } });
    expect(rejoined.data!['joinWaitlist'].ticket).toBe(ticket);
    const taken = await on(0).gql(joinMutation, {
      input: { email: `other_${email}`, username: joinName },
    });
    expect(errorCodes(taken)).toEqual(['CONFLICT']);
    // Following again is nothing new.
    await act(on(2), follower.token, 'follow', owner.id);
    expect((await on(1).gql(profile, { u: owner.username })).data!['user'].followerCount).toBe(1);
  });

  it('gives one ticket to racing joins for one email, and CONFLICTs to others for its username', async () => {
    const email = `${uniqueUsername('join')}@example.com`;
    const username = uniqueUsername('joiner');
    const same = await all((server, i) =>
      server.gql(joinMutation, {
        input: { email: i === 0 ? email : ` ${email.toUpperCase()}`, username },
      }),
    );
    expect(new Set(same.map((r) => r.data?.['joinWaitlist'].ticket)).size).toBe(1);
    const { WaitlistEntry } = on(0).app.internals.models;
    expect(await WaitlistEntry.countDocuments({ email }).exec()).toBe(1);

    const wanted = uniqueUsername('wanted');
    const byName = await all((server, i) =>
      server.gql(joinMutation, {
        input: { email: `${wanted}_${i}@example.com`, username: wanted },
      }),
    );
    expect(byName.filter((r) => r.data?.['joinWaitlist'])).toHaveLength(1);
    expect(byName.flatMap(errorCodes)).toEqual(['CONFLICT', 'CONFLICT']);
  });
});
