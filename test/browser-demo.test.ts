import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBuild } from '../scripts/build-web.js';
import express from 'express';
import { loadConfig } from '../src/config.js';
import { createWebRouter, webBuildDirectory } from '../src/transport/web.js';
import { launchChromium } from './helpers/browser.js';
import { uniqueUsername } from './helpers/graphql.js';
import { useVerity } from './helpers/server.js';

/**
 * The live demo web client (web/, on the client kit) in headless Chromium against a real
 * Verity: served by Verity at `/`, and from another origin calling Verity across origins.
 * Screenshots go to test-results/screenshots/ (git-ignored).
 */

const screenshots = fileURLToPath(new URL('../test-results/screenshots/', import.meta.url));

let browser: Browser;

beforeAll(async () => {
  // `npm test` built it already (pretest); a file run on its own builds it here if stale.
  await ensureWebBuild({ quiet: true });
  await mkdir(screenshots, { recursive: true });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

/** A page that fails the test on any request leaving the given origins, or any page error. */
async function openPage(context: BrowserContext, origins: string[]) {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const offsite: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (!['data:', 'blob:'].includes(url.protocol) && !origins.includes(url.host)) {
      offsite.push(request.url());
    }
  });
  page.on('websocket', (socket) => {
    if (!origins.includes(new URL(socket.url()).host)) offsite.push(socket.url());
  });
  page.on('pageerror', (error) => errors.push(error.message));

  return { page, offsite, errors };
}

const truthCard = (page: Page, text: string) =>
  page.getByTestId('truth').filter({ has: page.getByText(text, { exact: true }) });

async function signIn(page: Page, login: string, password: string) {
  const form = page.getByTestId('sign-in');
  await form.getByLabel('Username or email').fill(login);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByTestId('signed-in-as').textContent()).toBe(`@${login}`);
}

describe('the live demo web client at /', () => {
  const verity = useVerity();

  it('tells the story of two people live: B follows A, A posts, B sees it arrive and reacts, A sees the count move', async () => {
    const origin = new URL(verity.url).host;
    const home = new URL('/', verity.url).href;
    const contextA = await browser.newContext({ viewport: { width: 900, height: 760 } });
    const contextB = await browser.newContext({ viewport: { width: 900, height: 760 } });
    try {
      const a = await openPage(contextA, [origin]);
      const b = await openPage(contextB, [origin]);
      const response = await a.page.goto(home);
      expect(response?.headers()['content-type']).toMatch(/text\/html/);
      await b.page.goto(home);

      // A signs up in the page; B already has an account and signs in.
      const ada = `ada_${Date.now().toString(36)}`;
      const signUp = a.page.getByTestId('sign-up');
      await signUp.getByLabel('Username').fill(ada);
      await signUp.getByLabel('Email').fill(`${ada}@example.com`);
      await signUp.getByLabel('Password').fill('analytical engine');
      await signUp.getByRole('button', { name: 'Sign up' }).click();
      await expect.poll(() => a.page.getByTestId('signed-in-as').textContent()).toBe(`@${ada}`);
      const bob = await verity.signUp();
      await signIn(b.page, bob.username, bob.password);

      // B follows A from the page.
      const follow = b.page.getByTestId('follow');
      await follow.getByLabel('Follow').fill(ada);
      await follow.getByRole('button', { name: 'Follow' }).click();
      await expect
        .poll(() => b.page.getByTestId('status').textContent())
        .toContain(`You follow @${ada}`);
      // B's timeline is live once its feed subscription is open.
      await expect
        .poll(() => b.page.getByTestId('timeline').textContent())
        .toContain('Nothing yet');
      const homeFeedFetches = () =>
        b.page.evaluate(
          () =>
            performance
              .getEntriesByType('resource')
              .filter((entry) => entry.name.endsWith('/graphql')).length,
        );
      const fetchesBefore = await homeFeedFetches();

      // A posts; B sees the truth arrive without asking.
      const text = `Hello from @${ada}, live`;
      const compose = a.page.getByTestId('compose');
      await compose.getByPlaceholder('What is true?').fill(text);
      await compose.getByRole('button', { name: 'Post' }).click();
      await truthCard(b.page, text).waitFor({ timeout: 15_000 });
      await truthCard(a.page, text).waitFor({ timeout: 15_000 });
      expect(await homeFeedFetches()).toBe(fetchesBefore);
      await b.page.screenshot({ path: path.join(screenshots, 'demo-b-sees-the-truth.png') });

      // B reacts; A sees the count move on its own copy.
      await truthCard(b.page, text).getByTestId('react').click();
      await expect
        .poll(() => truthCard(b.page, text).getByTestId('react').textContent())
        .toBe('♥ 1');
      await expect
        .poll(() => truthCard(a.page, text).getByTestId('react').textContent(), { timeout: 15_000 })
        .toBe('♥ 1');
      await a.page.screenshot({ path: path.join(screenshots, 'demo-a-sees-the-count.png') });

      expect([...a.offsite, ...b.offsite]).toEqual([]);
      expect([...a.errors, ...b.errors]).toEqual([]);
      expect(await a.page.getByTestId('status').getAttribute('class')).not.toContain('error');
    } finally {
      await contextA.close();
      await contextB.close();
    }
  });
});

describe('the waitlist in the demo', () => {
  const admin = uniqueUsername('adm');
  // Admission only through admitNext, so that the test moves the line.
  const verity = useVerity({
    env: { ADMIN_USERNAMES: admin, WAITLIST_ADMISSION_RATE_PER_MINUTE: '0' },
  });

  it('shows the position fall live as the line moves, then finishes the sign-up', async () => {
    const adminToken = (await verity.signUp({ username: admin })).token;
    const admitNext = async (count: number) => {
      const result = await verity.gql(
        'mutation($count: Int!) { admitNext(count: $count) { admittedThrough } }',
        { count },
        { token: adminToken },
      );
      expect(result.errors).toBeUndefined();
    };
    for (const name of [uniqueUsername('w'), uniqueUsername('w')]) {
      const joined = await verity.gql(
        'mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { ticket } }',
        { input: { email: `${name}@example.com`, username: name } },
      );
      expect(joined.errors).toBeUndefined();
    }

    const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
    try {
      const { page, offsite, errors } = await openPage(context, [new URL(verity.url).host]);
      await page.goto(new URL('/', verity.url).href);
      const username = uniqueUsername('grace');
      const join = page.getByTestId('join-waitlist');
      await join.getByLabel('Email').fill(`${username}@example.com`);
      await join.getByLabel('Username').fill(username);
      await join.getByRole('button', { name: 'Join' }).click();
      const position = page.getByTestId('waitlist-position');
      await expect.poll(() => position.textContent()).toBe('3');

      await admitNext(1);
      await expect.poll(() => position.textContent(), { timeout: 10_000 }).toBe('2');
      await page.screenshot({ path: path.join(screenshots, 'demo-waitlist.png') });
      await admitNext(2);
      await expect.poll(() => position.textContent(), { timeout: 10_000 }).toBe('0');

      const complete = page.getByTestId('complete-sign-up');
      await complete.getByLabel('Password').fill('a long enough password');
      await complete.getByRole('button', { name: 'Create my account' }).click();
      await expect.poll(() => page.getByTestId('signed-in-as').textContent()).toBe(`@${username}`);
      expect(offsite).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

/**
 * A static server on another port serving the demo's build, its page naming Verity's API on the
 * other origin (as a build hosted elsewhere does).
 */
async function serveDemoElsewhere(apiUrl: string): Promise<{ origin: string; server: Server }> {
  const server = createServer((req, res) => {
    void (async () => {
      const pathname = new URL(req.url ?? '/', 'http://x').pathname;
      if (pathname === '/') {
        const html = await readFile(path.join(webBuildDirectory, 'index.html'), 'utf8');
        res.setHeader('content-type', 'text/html');
        res.end(html.replace('<head>', `<head><meta name="verity-api" content="${apiUrl}">`));
        return;
      }
      const file = path.join(webBuildDirectory, path.normalize(pathname));
      if (!file.startsWith(webBuildDirectory) || !existsSync(file)) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader(
        'content-type',
        file.endsWith('.js')
          ? 'text/javascript'
          : file.endsWith('.css')
            ? 'text/css'
            : 'text/plain',
      );
      res.end(await readFile(file));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `127.0.0.1:${port}`, server };
}

describe('a page on another origin', () => {
  const verity = useVerity();

  it('calls Verity over HTTP (CORS) and WebSocket: signs in, posts, and sees its truth arrive live', async () => {
    const { origin, server } = await serveDemoElsewhere(verity.url);
    const context = await browser.newContext();
    try {
      const verityOrigin = new URL(verity.url).host;
      expect(origin).not.toBe(verityOrigin);
      const { page, offsite, errors } = await openPage(context, [origin, verityOrigin]);
      const allowed: (string | undefined)[] = [];
      page.on('response', (response) => {
        if (new URL(response.url()).host === verityOrigin) {
          allowed.push(response.headers()['access-control-allow-origin']);
        }
      });
      const sockets: string[] = [];
      page.on('websocket', (socket) => sockets.push(socket.url()));

      await page.goto(`http://${origin}/`);
      const user = await verity.signUp();
      await signIn(page, user.username, user.password);
      const compose = page.getByTestId('compose');
      await compose.getByPlaceholder('What is true?').fill('Across origins');
      await compose.getByRole('button', { name: 'Post' }).click();
      await truthCard(page, 'Across origins').waitFor({ timeout: 15_000 });
      await page.screenshot({ path: path.join(screenshots, 'demo-cross-origin.png') });

      expect(allowed.length).toBeGreaterThan(0);
      expect(new Set(allowed)).toEqual(new Set([`http://${origin}`]));
      expect(sockets).toEqual([verity.wsUrl]);
      expect(offsite).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('serving the demo', () => {
  const verity = useVerity();
  const noDemo = useVerity({ env: { WEB_DEMO: 'false' } });

  it('serves the page and its content-hashed assets from Verity, and nothing at / when switched off', async () => {
    const page = await fetch(new URL('/', verity.url));
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(new URL(script!, verity.url));
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');

    const off = await fetch(new URL('/', noDemo.url));
    expect(off.status).toBe(404);
  });

  it('is on with the IDE unless WEB_DEMO says otherwise', () => {
    expect(loadConfig({}).web.demo).toBe(true);
    expect(loadConfig({ GRAPHQL_IDE: 'false' }).web.demo).toBe(false);
    expect(loadConfig({ GRAPHQL_IDE: 'false', WEB_DEMO: 'true' }).web.demo).toBe(true);
    expect(loadConfig({ WEB_DEMO: 'false' }).web.demo).toBe(false);
    expect(() => loadConfig({ WEB_DEMO: 'maybe' })).toThrow(/WEB_DEMO/);
  });

  it('says how to build the page when it is not built', async () => {
    const app = express().use(
      createWebRouter({ directory: path.join(screenshots, 'no-such-build') }),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const answer = await fetch(`http://127.0.0.1:${port}/`);
      expect(answer.status).toBe(503);
      expect(await answer.text()).toContain('npm run web:build');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
