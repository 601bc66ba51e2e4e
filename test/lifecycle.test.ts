import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../src/infra/embedded/redis-server.js';
import { createGraphQLClient } from './helpers/graphql.js';
import { isAlive, isRunning, spawnVerity, type VerityProcess } from './helpers/process.js';
import { waitFor } from './helpers/wait.js';
import { createWsClients } from './helpers/ws.js';

/**
 * The start command on embedded defaults: no MONGODB_URI (FerretDB is started) and no Redis
 * answering where Verity looks for a local one (redis-server is started).
 */
describe('the start command on embedded defaults', () => {
  let dataDir: string;
  let unusedRedisPort: number;
  const running: VerityProcess[] = [];

  const start = async () => {
    const verity = spawnVerity({
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      LOCAL_REDIS_URL: `redis://127.0.0.1:${unusedRedisPort}`,
    });
    running.push(verity);
    const listening = await verity.waitForLog((line) => line['msg'] === 'Verity is listening');
    const ferretdbPid = (
      await verity.waitForLog((line) => String(line['msg']).startsWith('embedded MongoDB'))
    )['childPid'] as number;
    const redisPid = (
      await verity.waitForLog((line) => line['msg'] === 'embedded redis-server started')
    )['childPid'] as number;
    return {
      verity,
      url: listening['url'] as string,
      pid: listening['pid'] as number,
      ferretdbPid,
      redisPid,
    };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'verity-start-'));
    unusedRedisPort = await findFreePort();
  });

  afterAll(async () => {
    for (const verity of running) {
      for (const line of verity.logs) {
        for (const pid of [line['pid'], line['childPid']]) {
          if (typeof pid === 'number' && isAlive(pid)) process.kill(pid, 'SIGKILL');
        }
      }
      verity.child.kill('SIGKILL');
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves sign-up, me and authenticated WebSockets; SIGTERM closes sockets with 1001 and leaves no process behind', async () => {
    const { verity, url, ferretdbPid, redisPid } = await start();
    expect(isAlive(ferretdbPid) && isAlive(redisPid)).toBe(true);

    const http = createGraphQLClient(url);
    const user = await http.signUp();
    const me = await http.gql('{ me { username } }', {}, { token: user.token });
    expect(me.data).toEqual({ me: { username: user.username } });

    const ws = createWsClients(url.replace(/^http/, 'ws'));
    expect(await ws.connectionOutcome({ authorization: `Bearer ${user.token}` })).toEqual({
      acknowledged: true,
    });
    expect(await ws.connectionOutcome({ authorization: 'Bearer forged' })).toMatchObject({
      closeCode: 4403,
    });

    const live = ws.subscribe(
      ws.connect(user.token),
      'subscription($u: String!) { userUpdated(username: $u) { username } }',
      { u: user.username },
    );
    await live.next();

    verity.child.kill('SIGTERM');
    expect(await verity.exited).toEqual({ code: 0, signal: null });
    await expect(live.next()).rejects.toMatchObject({ closeCode: 1001 });
    await waitFor(() => !isAlive(ferretdbPid) && !isAlive(redisPid), {
      message: 'an embedded process outlived Verity',
    });
    await ws.closeAll();
  });

  it('keeps its data across restarts in DATA_DIR', async () => {
    const first = await start();
    const user = await createGraphQLClient(first.url).signUp();
    first.verity.child.kill('SIGINT');
    expect((await first.verity.exited).code).toBe(0);

    const second = await start();
    const logIn = await createGraphQLClient(second.url).gql(
      'mutation($i: LogInInput!) { logIn(input: $i) { user { username } } }',
      { i: { login: user.username, password: user.password } },
    );
    expect(logIn.data).toEqual({ logIn: { user: { username: user.username } } });
    // Sessions are signed with the secret kept in DATA_DIR, so the old token still works.
    const me = await createGraphQLClient(second.url).gql(
      '{ me { username } }',
      {},
      { token: user.token },
    );
    expect(me.data).toEqual({ me: { username: user.username } });
    second.verity.child.kill('SIGTERM');
    await second.verity.exited;
  });

  it('restarts its embedded MongoDB on the same address when it dies, and serves the data written before', async () => {
    const { verity, url, ferretdbPid } = await start();
    const http = createGraphQLClient(url);
    const before = await http.signUp();

    process.kill(ferretdbPid, 'SIGKILL');
    expect(
      await verity.waitForLog(
        (line) => line['msg'] === 'the embedded MongoDB (FerretDB) exited unexpectedly',
      ),
    ).toMatchObject({ level: 50, childPid: ferretdbPid, signal: 'SIGKILL' });
    const restarted = (
      await verity.waitForLog((line) => line['msg'] === 'the embedded MongoDB (FerretDB) restarted')
    )['childPid'] as number;
    expect(restarted).not.toBe(ferretdbPid);

    await waitFor(async () => (await fetch(url.replace('/graphql', '/readyz'))).ok, {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: 'Verity never became ready again',
    });
    const logIn = await http.gql(
      'mutation($i: LogInInput!) { logIn(input: $i) { user { username } } }',
      { i: { login: before.username, password: before.password } },
    );
    expect(logIn.data).toEqual({ logIn: { user: { username: before.username } } });
    const after = await http.signUp();
    const me = await http.gql('{ me { username } }', {}, { token: after.token });
    expect(me.data).toEqual({ me: { username: after.username } });

    verity.child.kill('SIGTERM');
    expect(await verity.exited).toEqual({ code: 0, signal: null });
    await waitFor(() => !isAlive(restarted), { message: 'the restarted FerretDB outlived Verity' });
  });

  it('restarts its embedded redis-server on the same port when it dies, leaving no orphan of the old one', async () => {
    const { verity, url, redisPid } = await start();
    const http = createGraphQLClient(url);
    // The server itself runs under a lifeline wrapper (redisPid); killing only the wrapper
    // must not leave the server holding the port.
    const serverPid = Number(
      execFileSync('pgrep', ['-P', String(redisPid), 'redis-server'])
        .toString()
        .trim(),
    );

    process.kill(redisPid, 'SIGKILL');
    expect(
      await verity.waitForLog(
        (line) => line['msg'] === 'the embedded redis-server exited unexpectedly',
      ),
    ).toMatchObject({ level: 50, childPid: redisPid, signal: 'SIGKILL' });
    const restarted = (
      await verity.waitForLog((line) => line['msg'] === 'the embedded redis-server restarted')
    )['childPid'] as number;
    await waitFor(() => !isRunning(serverPid), {
      message: 'the old redis-server outlived its wrapper',
    });

    await waitFor(async () => (await fetch(url.replace('/graphql', '/readyz'))).ok, {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: 'Verity never became ready again',
    });
    const user = await http.signUp();
    const me = await http.gql('{ me { username } }', {}, { token: user.token });
    expect(me.data).toEqual({ me: { username: user.username } });

    verity.child.kill('SIGTERM');
    expect(await verity.exited).toEqual({ code: 0, signal: null });
    await waitFor(() => !isAlive(restarted), {
      message: 'the restarted redis-server outlived Verity',
    });
  });

  it('takes its embedded processes down with it when it is killed outright', async () => {
    const { verity, pid, ferretdbPid, redisPid } = await start();
    process.kill(pid, 'SIGKILL');
    await verity.exited;
    await waitFor(() => !isAlive(ferretdbPid) && !isAlive(redisPid), {
      message: 'an embedded process outlived a killed Verity',
    });
  });
});

describe('configuration', () => {
  it.each([
    ['PORT', 'eighty'],
    ['MONGODB_URI', 'postgres://localhost/db'],
    ['LOG_LEVEL', 'loud'],
    ['MAX_QUERY_DEPTH', '0'],
  ])('stops with a message naming %s when it is %s', async (name, value) => {
    const verity = spawnVerity({ [name]: value });
    expect((await verity.exited).code).toBe(1);
    expect(verity.stderr.join('\n')).toContain(`${name}:`);
  });
});
