import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { deleteKeys } from '../src/infra/redis.js';
import { isAlive, isRunning, spawnVerity, type VerityProcess } from './helpers/process.js';
import { redisEnv, testRedisClients } from './helpers/redis.js';
import { testJwtSecret, uniqueDbName } from './helpers/server.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * What the README recommends for production: `npm run build`, then `node dist/main.js` with
 * NODE_ENV=production. The build is the compiled JavaScript alone (no tsx), so this checks what
 * only it can get wrong: ESM import paths, and everything resolved relative to the code (the
 * schema, the IDE's assets, the embedded MongoDB's Go module).
 */
describe('the production build', () => {
  let dataDir: string;
  const running: VerityProcess[] = [];
  const dbNames: string[] = [];
  const namespaces: string[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'verity-prod-'));
    await promisify(execFile)('npm', ['run', 'build', '--silent'], {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    });
  }, 300_000);

  afterAll(async () => {
    for (const verity of running) {
      for (const line of verity.logs) {
        for (const pid of [line['pid'], line['childPid']]) {
          if (typeof pid === 'number' && isAlive(pid)) process.kill(pid, 'SIGKILL');
        }
      }
    }
    if (dbNames.length > 0) {
      const connection = await mongoose.createConnection(inject('mongoUri')).asPromise();
      for (const dbName of dbNames) await connection.useDb(dbName).dropDatabase();
      await connection.close();
    }
    const redis = testRedisClients('test:cleanup');
    for (const namespace of namespaces) await deleteKeys(redis, `${namespace}:*`);
    await redis.quit();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** `node dist/main.js` in production, on free ports, with metrics; its URLs once listening. */
  const start = async (env: Record<string, string>) => {
    const namespace = `test:${uniqueDbName('prod')}`;
    namespaces.push(namespace);
    const verity = spawnVerity(
      {
        NODE_ENV: 'production',
        JWT_SECRET: testJwtSecret,
        HOST: '127.0.0.1',
        PORT: '0',
        METRICS_PORT: '0',
        LOG_LEVEL: 'info',
        DATA_DIR: dataDir,
        CACHE_DIR: loadConfig().cacheDir,
        ...redisEnv(),
        REDIS_NAMESPACE: namespace,
        ...env,
      },
      ['node', '--initial-old-space-size=256', 'dist/main.js'],
    );
    running.push(verity);
    const listening = await verity.waitForLog((line) => line['msg'] === 'Verity is listening');
    const metrics = await verity.waitForLog((line) => line['msg'] === 'metrics are served');
    return { verity, url: listening['url'] as string, metricsUrl: metrics['url'] as string };
  };

  /** SIGTERM: a clean exit (code 0) after stopping. */
  const stop = async (verity: VerityProcess) => {
    verity.child.kill('SIGTERM');
    expect(await verity.exited).toEqual({ code: 0, signal: null });
    expect(verity.logs.some((line) => line['msg'] === 'stopped')).toBe(true);
    expect(verity.stderr).toEqual([]);
  };

  it('serves readiness, queries, the IDE and metrics against the MongoDB and Redis it is given, and stops cleanly on SIGTERM', async () => {
    const dbName = uniqueDbName('prod');
    dbNames.push(dbName);
    const { verity, url, metricsUrl } = await start({
      MONGODB_URI: inject('mongoUri'),
      MONGODB_DB: dbName,
      // Off by default in production (test/production-defaults.test.ts).
      GRAPHQL_IDE: 'true',
    });
    const base = url.replace(/\/graphql$/, '');

    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      ready: true,
      checks: { state: 'started', mongo: true, redis: true },
    });

    const answer = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-request-id')).toBeTruthy();
    expect(await answer.json()).toEqual({ data: { __typename: 'Query' } });

    // Production: introspection stays as configured, stack traces never leave.
    const broken = (await (
      await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ nothingHere }' }),
      })
    ).json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(broken.errors[0]!.extensions['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(broken.errors[0]!.extensions['stacktrace']).toBeUndefined();

    // The IDE's page and its assets come from the installed package, found from dist/.
    const ide = await fetch(url, { headers: { accept: 'text/html' } });
    expect(ide.status).toBe(200);
    expect(await ide.text()).toContain('<app-root>');
    const script = await fetch(`${url}/ide/main.js`);
    expect(script.status).toBe(200);
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);

    const scraped = await fetch(metricsUrl);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(
      /^verity_graphql_operation_duration_seconds_count\{transport="http",type="query",operation="\(anonymous\)",outcome="ok"\} 1$/m,
    );

    await stop(verity);
  });

  it('starts its embedded MongoDB from dist/ (the Go module found from the build) and stops it with itself', async () => {
    const { verity, url } = await start({});
    const ferretdb = await verity.waitForLog((line) =>
      String(line['msg']).startsWith('embedded MongoDB'),
    );
    const ferretdbPid = ferretdb['childPid'] as number;
    expect(isRunning(ferretdbPid)).toBe(true);

    const ready = await fetch(url.replace(/\/graphql$/, '/readyz'));
    expect(ready.status).toBe(200);

    // Production defaults: no IDE, no introspection.
    const ide = await fetch(url, { headers: { accept: 'text/html' } });
    expect(await ide.text()).not.toContain('<app-root>');
    const introspection = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }),
    });
    expect(introspection.status).toBe(400);

    await stop(verity);
    expect(isRunning(ferretdbPid)).toBe(false);
  });
});
