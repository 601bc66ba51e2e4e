import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { errorCodes } from './helpers/graphql.js';
import { startVerity, uniqueDbName, type TestServer } from './helpers/server.js';
import { loseRedisKeys } from './helpers/social.js';
import { shortSessionToken, userIdHex } from './helpers/tokens.js';

/** A graphql-ws socket signed in with `token`; `closed` resolves with its close code and reason. */
async function openSession(server: TestServer, token: string) {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.on('open', () =>
      socket.send(
        JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }),
      ),
    );
    socket.on('message', (data: Buffer) => {
      if (data.toString().includes('connection_ack')) resolve();
    });
    void closed.then(({ code }) => reject(new Error(`closed with ${code} before the ack`)));
  });
  return { socket, closed };
}

const logIn = async (server: TestServer, user: { username: string; password: string }) => {
  const result = await server.gql<{ logIn: { token: string; expiresAt: string } }>(
    'mutation($i: LogInInput!) { logIn(input: $i) { token expiresAt } }',
    { i: { login: user.username, password: user.password } },
  );
  return result.data!.logIn;
};

const whoAmI = async (server: TestServer, token: string) =>
  (await server.gql<{ me: { username: string } | null }>('{ me { username } }', {}, { token }))
    .data!.me?.username ?? null;

const profileChange = (server: TestServer, token: string) =>
  server.gql(
    'mutation { updateProfile(input: { bio: "still here" }) { username } }',
    {},
    { token },
  );

/** Two instances on one database and one Redis. */
describe('sessions: log-out, revocation, expiry and renewal', () => {
  const dbName = uniqueDbName('sessions');
  let one: TestServer;
  let two: TestServer;

  beforeAll(async () => {
    one = await startVerity({ dbName });
    two = await startVerity({ dbName, keepDatabase: true });
  });

  afterAll(async () => {
    await two?.stop();
    await one?.stop();
  });

  it('logOut ends this session at once on every instance and closes its sockets there; other sessions go on', async () => {
    const user = await one.signUp();
    const other = await logIn(one, user);
    const doomed = await openSession(two, user.token);
    const survivor = await openSession(two, other.token);

    const result = await one.gql('mutation { logOut }', {}, { token: user.token });
    expect(result.data).toEqual({ logOut: true });

    expect(await doomed.closed).toEqual({ code: 4441, reason: 'Session revoked' });
    // The token runs as anonymous; what needs a session says it was signed out.
    expect(await whoAmI(two, user.token)).toBeNull();
    const refused = await profileChange(two, user.token);
    expect(errorCodes(refused)).toEqual(['UNAUTHENTICATED']);
    expect(refused.errors![0]!.extensions).toMatchObject({ reason: 'revoked' });
    // A new socket with it is refused, saying why.
    expect(await two.connectionOutcome({ authorization: `Bearer ${user.token}` })).toEqual({
      acknowledged: false,
      closeCode: 4441,
      closeReason: 'Session revoked',
    });

    expect(await whoAmI(two, other.token)).toBe(user.username);
    expect(survivor.socket.readyState).toBe(WebSocket.OPEN);
    survivor.socket.close();
  });

  it('logOutEverywhere ends every session issued so far and closes all their sockets; a new log-in works', async () => {
    const user = await one.signUp();
    const second = await logIn(two, user);
    const sockets = [await openSession(one, user.token), await openSession(two, second.token)];

    const result = await two.gql('mutation { logOutEverywhere }', {}, { token: second.token });
    expect(result.data).toEqual({ logOutEverywhere: true });
    for (const { closed } of sockets) expect((await closed).code).toBe(4441);
    for (const token of [user.token, second.token]) {
      for (const server of [one, two]) expect(await whoAmI(server, token)).toBeNull();
    }

    const fresh = await logIn(one, user);
    expect(await whoAmI(two, fresh.token)).toBe(user.username);
  });

  it('renewSession gives a later-expiring token of the same session: both work until logOut ends both', async () => {
    const user = await one.signUp();
    const before = await one.gql<{ me: { username: string } }>(
      '{ me { username } }',
      {},
      {
        token: user.token,
      },
    );
    expect(before.data?.me.username).toBe(user.username);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const renewed = await one.gql<{ renewSession: { token: string; expiresAt: string } }>(
      'mutation { renewSession { token expiresAt user { username } } }',
      {},
      { token: user.token },
    );
    const session = renewed.data!.renewSession;
    expect(session.token).not.toBe(user.token);
    expect(new Date(session.expiresAt).getTime()).toBeGreaterThan(Date.now() + 60_000);
    expect(await whoAmI(two, session.token)).toBe(user.username);
    expect(await whoAmI(two, user.token)).toBe(user.username);

    await one.gql('mutation { logOut }', {}, { token: session.token });
    expect(await whoAmI(two, session.token)).toBeNull();
    expect(await whoAmI(two, user.token)).toBeNull();
    // Renewing needs a live session.
    const late = await one.gql('mutation { renewSession { token } }', {}, { token: user.token });
    expect(late.errors![0]!.extensions).toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'revoked',
    });
  });

  it('closes a socket when its session expires (4440)', async () => {
    const user = await one.signUp();
    const token = await shortSessionToken(userIdHex(user.id), 2);
    const { closed } = await openSession(two, token);
    const startedAt = Date.now();
    expect(await closed).toEqual({ code: 4440, reason: 'Session expired' });
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });

  it('authenticates a viewer an instance has never seen with one Redis command: the account is read with the session’s state', async () => {
    const user = await one.signUp();
    const signedOut = await one.signUp();
    await one.gql('mutation { logOut }', {}, { token: signedOut.token });
    // Once here first, so that Redis holds every script the fresh instance will run.
    expect(await whoAmI(one, user.token)).toBe(user.username);

    const fresh = await startVerity({
      dbName,
      keepDatabase: true,
      env: { WAITLIST_TICK_MS: '600000' },
    });
    try {
      const client = fresh.app.internals.redis.command;
      const send = client.sendCommand.bind(client);
      const sent: string[] = [];
      client.sendCommand = (...args: Parameters<typeof send>) => {
        sent.push(args[0].name);
        return send(...args);
      };
      try {
        expect(await whoAmI(fresh, user.token)).toBe(user.username);
        const first = [...sent];
        sent.length = 0;
        expect(await whoAmI(fresh, signedOut.token)).toBeNull();
        const revoked = [...sent];
        sent.length = 0;
        // Seen now: the account and the session's state are held in the process.
        expect(await whoAmI(fresh, user.token)).toBe(user.username);
        expect(first).toEqual(['evalsha']);
        expect(revoked).toEqual(['evalsha']);
        expect(sent).toEqual([]);
      } finally {
        client.sendCommand = send;
      }
    } finally {
      await fresh.stop();
    }
  });

  it('keeps a revocation after Redis lost everything (it is stored in MongoDB)', async () => {
    const user = await one.signUp();
    await one.gql('mutation { logOut }', {}, { token: user.token });
    expect(await whoAmI(one, user.token)).toBeNull();
    await loseRedisKeys(one, '*');
    expect(await whoAmI(one, user.token)).toBeNull();
    expect(await whoAmI(two, user.token)).toBeNull();
    expect(await whoAmI(two, (await logIn(two, user)).token)).toBe(user.username);
  });
});
