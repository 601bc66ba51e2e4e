import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser.js';
import { useVerity } from './helpers/server.js';

describe('the GraphQL IDE at GET /graphql', () => {
  const verity = useVerity();
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('renders from Verity alone, signs up, queries with the saved token and runs a live subscription', async () => {
    const origin = new URL(verity.url).host;
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const offsite: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (!['data:', 'blob:'].includes(url.protocol) && url.host !== origin)
        offsite.push(request.url());
    });
    const frames: string[] = [];
    page.on('websocket', (socket) => {
      if (new URL(socket.url()).host !== origin) offsite.push(socket.url());
      socket.on('framereceived', (frame) => frames.push(String(frame.payload)));
    });

    const response = await page.goto(verity.url);
    expect(response?.headers()['content-type']).toMatch(/text\/html/);
    await page.getByText('Send Request').waitFor();

    const signedUp = page.waitForResponse(
      (r) => r.request().postData()?.includes('signUp(') === true,
    );
    await page.getByText('(Send mutation SignUp)').click();
    expect((await signedUp).status()).toBe(200);
    const ada = await verity.gql('{ user(username: "ada") { username } }');
    expect(ada.data).toEqual({ user: { username: 'ada' } });

    // The post-request script saved the session token; the next request carries it.
    const me = page.waitForResponse(
      (r) => r.request().postData()?.includes('"operationName":"Me"') === true,
    );
    await page.getByText('(Send query Me)').click();
    const meResponse = await me;
    expect(meResponse.status()).toBe(200);
    const authorization = meResponse.request().headers()['authorization'] ?? '';
    expect(authorization).toMatch(/^Bearer ey/);
    const viaToken = await verity.gql(
      '{ me { username } }',
      {},
      { token: authorization.slice('Bearer '.length) },
    );
    expect(viaToken.data).toEqual({ me: { username: 'ada' } });

    await page.getByText('(Send subscription WatchAda)').click();
    await expect
      .poll(() => frames.some((f) => f.includes('"userUpdated"') && f.includes('"bio":""')), {
        timeout: 15_000,
      })
      .toBe(true);

    const logIn = await verity.gql<{ logIn: { token: string } }>(
      'mutation { logIn(input: { login: "ada", password: "analytical engine" }) { token } }',
    );
    await verity.gql(
      'mutation { updateProfile(input: { bio: "Live in the IDE" }) { bio } }',
      {},
      { token: logIn.data!.logIn.token },
    );
    await expect
      .poll(() => frames.some((f) => f.includes('"bio":"Live in the IDE"')), { timeout: 15_000 })
      .toBe(true);

    await page.close();
    expect(offsite).toEqual([]);
  });

  it('leaves GET queries from API clients to Apollo', async () => {
    const response = await fetch(`${verity.url}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
  });
});
