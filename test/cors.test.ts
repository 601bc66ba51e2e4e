import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { useVerity } from './helpers/server.js';

const preflight = (url: string, origin: string) =>
  fetch(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });

const post = (url: string, origin: string) =>
  fetch(url, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ __typename }' }),
  });

describe('CORS, by default outside production: any localhost origin', () => {
  const verity = useVerity();

  it('answers a preflight from a local dev server and lets its POST through', async () => {
    const origin = 'http://localhost:5173';
    const answer = await preflight(verity.url, origin);
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(origin);
    expect(answer.headers.get('access-control-allow-methods')).toContain('POST');
    expect(answer.headers.get('access-control-allow-headers')?.toLowerCase()).toContain(
      'authorization',
    );
    const response = await post(verity.url, origin);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('gives another origin no CORS headers (the browser keeps the answer from the page)', async () => {
    const answer = await preflight(verity.url, 'https://elsewhere.example');
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    const response = await post(verity.url, 'https://elsewhere.example');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS with CORS_ORIGINS', () => {
  const verity = useVerity({
    env: { CORS_ORIGINS: 'https://app.example.com/, https://b.example' },
  });

  it('allows exactly the listed origins', async () => {
    for (const origin of ['https://app.example.com', 'https://b.example']) {
      const answer = await preflight(verity.url, origin);
      expect(answer.headers.get('access-control-allow-origin')).toBe(origin);
    }
    const local = await preflight(verity.url, 'http://localhost:5173');
    expect(local.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS settings', () => {
  const env = { JWT_SECRET: 'x'.repeat(40) };

  it('allow no other origin in production unless configured, and refuse a malformed list', () => {
    expect(loadConfig({ ...env, NODE_ENV: 'production' }).http.corsOrigins).toEqual([]);
    expect(loadConfig({ ...env, NODE_ENV: 'production', CORS_ORIGINS: '*' }).http.corsOrigins).toBe(
      true,
    );
    expect(() => loadConfig({ ...env, CORS_ORIGINS: 'not an origin' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ ...env, CORS_ORIGINS: 'https://a.example/path' })).toThrow(
      /CORS_ORIGINS/,
    );
  });
});
