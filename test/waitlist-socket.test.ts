import { beforeAll, describe, expect, it } from 'vitest';
import { signUpMutation, uniqueUsername, type TestUser } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';

const ticketFields = 'ticket position admitted';

describe('a WebSocket connected with only a waitlist ticket token', () => {
  // One account fills Verity, and nobody is admitted by the clock: every join waits.
  const verity = useVerity({
    env: { WAITLIST_MAX_ACTIVE_ACCOUNTS: '1', WAITLIST_ADMISSION_RATE_PER_MINUTE: '0' },
  });

  let member: TestUser;
  beforeAll(async () => {
    member = await verity.signUp();
  });

  /** A waiting person's ticket token, and a client connected with it that counts its sockets. */
  async function waitingPerson() {
    const username = uniqueUsername('w');
    const joined = await verity.gql<{ joinWaitlist: { ticketToken: string } }>(
      `mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { ticketToken } }`,
      { input: { email: `${username}@example.com`, username } },
    );
    const ticketToken = joined.data?.joinWaitlist.ticketToken;
    if (!ticketToken) throw new Error(`join failed: ${JSON.stringify(joined)}`);
    const socket = { opened: 0, closed: 0 };
    const client = verity.connect(null, { connectionParams: { ticketToken }, sockets: socket });
    return { ticketToken, client, socket };
  }

  it('runs waitlistTicket and waitlistPosition', async () => {
    const { ticketToken, client } = await waitingPerson();

    const queried = await verity.execute(
      client,
      `query($t: String!) { __typename waitlistTicket(ticketToken: $t) { ${ticketFields} } }`,
      { t: ticketToken },
    );
    expect(queried.errors).toBeUndefined();
    expect(queried.data?.['waitlistTicket']).toMatchObject({ admitted: false });

    const live = verity.subscribe(
      client,
      `subscription($t: String!) { waitlistPosition(ticketToken: $t) { ${ticketFields} } }`,
      { t: ticketToken },
    );
    expect((await live.next()).data?.['waitlistPosition']).toMatchObject({ admitted: false });
    live.close();
  });

  it('refuses every other operation with FORBIDDEN, runs none of it, and keeps the socket open', async () => {
    const { ticketToken, client, socket } = await waitingPerson();
    const usersBefore = await verity.app.internals.models.User.countDocuments().exec();
    const newcomer = uniqueUsername('n');

    const refused: [string, Record<string, unknown>?][] = [
      [
        signUpMutation,
        {
          input: {
            username: newcomer,
            email: `${newcomer}@example.com`,
            password: 'correct horse battery staple',
          },
        },
      ],
      [
        'mutation($i: LogInInput!) { logIn(input: $i) { token } }',
        { i: { login: newcomer, password: 'correct horse battery staple' } },
      ],
      ['{ publicFeed(first: 1) { edges { cursor } } }'],
      ['{ __schema { queryType { name } } }'],
      // Alongside an allowed field, or behind fragments, it is still refused.
      [
        `query($t: String!) { waitlistTicket(ticketToken: $t) { ticket } user(username: "x") { id } }`,
        { t: ticketToken },
      ],
      [
        'query { ...Feed } fragment Feed on Query { ... on Query { publicFeed { edges { cursor } } } }',
      ],
      ['subscription { publicFeedUpdated { __typename } }'],
    ];
    for (const [query, variables] of refused) {
      const result = await verity.execute(client, query, variables);
      expect(result.data).toBeUndefined();
      expect(result.errors?.map((error) => error.extensions?.['code'])).toEqual(['FORBIDDEN']);
      expect(result.errors?.[0]?.message).toMatch(/waitlist ticket token/);
    }

    expect(await verity.app.internals.models.User.countDocuments().exec()).toBe(usersBefore);
    const still = await verity.execute(
      client,
      `query($t: String!) { waitlistTicket(ticketToken: $t) { admitted } }`,
      { t: ticketToken },
    );
    expect(still).toEqual({ data: { waitlistTicket: { admitted: false } } });
    expect(socket).toEqual({ opened: 1, closed: 0 });
  });

  it('leaves a connection with a session free to run anything', async () => {
    const client = verity.connect(member.token);
    const result = await verity.execute(
      client,
      '{ me { username } publicFeed(first: 1) { edges { cursor } } }',
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.['me']).toEqual({ username: member.username });
  });
});
