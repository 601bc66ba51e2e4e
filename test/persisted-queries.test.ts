import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { signUpMutation, uniqueUsername } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Every line the instance logs, parsed. */
const logged: Record<string, unknown>[] = [];
const logger = pino(
  { level: 'debug' },
  { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) },
);

const malformed: [string, unknown][] = [
  ['a string', 'x'],
  ['an array', [1]],
  ['version 2', { version: 2, sha256Hash: sha256('{ __typename }') }],
  ['no version', { sha256Hash: sha256('{ __typename }') }],
  ['a numeric hash', { version: 1, sha256Hash: 123 }],
  ['no hash', { version: 1 }],
];

interface Reply {
  status: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
}

describe('automatic persisted queries over HTTP', () => {
  const verity = useVerity({ logger });

  const post = async (body: Record<string, unknown>): Promise<Reply> => {
    const response = await fetch(verity.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Reply['body'] };
  };

  const get = async (params: Record<string, unknown>): Promise<Reply> => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      search.set(key, typeof value === 'string' ? value : JSON.stringify(value));
    }
    const response = await fetch(`${verity.url}?${search.toString()}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    return { status: response.status, body: (await response.json()) as Reply['body'] };
  };

  beforeEach(() => {
    logged.length = 0;
  });

  const userCount = () => verity.app.internals.models.User.countDocuments().exec();
  const errorLines = () => logged.filter((line) => Number(line['level']) >= 50);

  describe.each(malformed)('with extensions.persistedQuery as %s', (_label, persistedQuery) => {
    const expectRefused = (reply: Reply) => {
      expect(reply.status).toBe(400);
      expect(reply.body.data).toBeUndefined();
      expect(reply.body.errors).toHaveLength(1);
      expect(reply.body.errors![0]!.extensions?.code).toBe('BAD_REQUEST');
      expect(reply.body.errors![0]!.message).toMatch(/persistedQuery/);
    };

    it('refuses a POST with or without a query with 400 BAD_REQUEST, runs nothing, and logs no error', async () => {
      const before = await userCount();
      const username = uniqueUsername();
      const variables = {
        input: { username, email: `${username}@example.com`, password: 'a fine passphrase 42' },
      };
      expectRefused(await post({ extensions: { persistedQuery } }));
      expectRefused(
        await post({ query: signUpMutation, variables, extensions: { persistedQuery } }),
      );
      expect(await userCount()).toBe(before);
      expect(errorLines()).toEqual([]);
    });

    it('refuses a GET with or without a query with 400 BAD_REQUEST, and logs no error', async () => {
      expectRefused(await get({ extensions: { persistedQuery } }));
      expectRefused(await get({ query: '{ __typename }', extensions: { persistedQuery } }));
      expect(errorLines()).toEqual([]);
    });
  });

  it('refuses a hash that does not match the query with 400 BAD_REQUEST, and logs no error', async () => {
    const reply = await post({
      query: '{ __typename }',
      extensions: { persistedQuery: { version: 1, sha256Hash: sha256('{ me { id } }') } },
    });
    expect(reply.status).toBe(400);
    expect(reply.body.errors?.map((error) => error.extensions?.code)).toEqual(['BAD_REQUEST']);
    expect(errorLines()).toEqual([]);
  });

  it('still registers a query by its hash and then runs it from the hash alone, over POST and GET', async () => {
    const query = `{ __typename ${uniqueUsername('apq')}: __typename }`;
    const persistedQuery = { version: 1, sha256Hash: sha256(query) };

    const unknown = await post({ extensions: { persistedQuery } });
    expect(unknown.body.errors?.map((error) => error.extensions?.code)).toEqual([
      'PERSISTED_QUERY_NOT_FOUND',
    ]);

    const registered = await post({ query, extensions: { persistedQuery } });
    expect(registered.status).toBe(200);
    expect(registered.body.data?.['__typename']).toBe('Query');

    expect((await post({ extensions: { persistedQuery } })).body.data?.['__typename']).toBe(
      'Query',
    );
    expect((await get({ extensions: { persistedQuery } })).body.data?.['__typename']).toBe('Query');
    expect(errorLines()).toEqual([]);
  });
});
