import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { OperationTypeNode, buildSchema, getOperationAST, parse, type DocumentNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../src/infra/logger.js';
import { uniqueUsername } from './helpers/graphql.js';
import {
  Chooser,
  headerRequest,
  httpRequest,
  mayMutate,
  randomDocument,
  refusedMutation,
  wsConversation,
  type HttpCase,
  type World,
  type WsCase,
} from './helpers/fuzz-inputs.js';
import {
  Tally,
  clientCloseCodes,
  errorProblems,
  internalTextIn,
  short,
} from './helpers/fuzz-oracle.js';
import { useVerity } from './helpers/server.js';
import { post } from './helpers/social.js';
import { waitFor } from './helpers/wait.js';
import {
  expiredSessionToken,
  forgedSessionToken,
  sessionTokenFor,
  userIdHex,
} from './helpers/tokens.js';

/*
 * A fuzzer against one running instance: thousands of random and malformed GraphQL documents,
 * variables, HTTP requests, headers and WebSocket frames, each held to what a client's mistake
 * may get: no 5xx, no internal text, typed error codes, documented close codes, no error in the
 * log, and a database left as it was.
 *
 * Replay: the seed is printed first; FUZZ_SEED=<seed> runs the same inputs again (fast-check
 * also prints the failing input's `path`), and FUZZ_RUNS=<factor> scales how many are sent.
 */

const seed = Number(process.env['FUZZ_SEED'] ?? 20_261_201);
const scale = Number(process.env['FUZZ_RUNS'] ?? 1);
if (!Number.isInteger(seed) || !(scale > 0)) throw new Error('FUZZ_SEED must be an integer');
const runs = (count: number) => Math.max(1, Math.round(count * scale));
/**
 * Each input is a round trip to the server, so a failure is reported as found, not shrunk
 * (shrinking would send thousands more); the report holds the whole input.
 */
const replay = { endOnFailure: true };

const schema = buildSchema(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));

interface LogLine {
  level: number;
  msg?: string;
  requestId?: string;
  connectionId?: string;
  [key: string]: unknown;
}

const logLines: LogLine[] = [];
const logger = createLogger({
  level: 'warn',
  name: 'fuzz',
  destination: { write: (line: string) => void logLines.push(JSON.parse(line) as LogLine) },
});

/** Error (50) and fatal (60) lines logged from `mark` on. */
const errorLinesSince = (mark: number) => logLines.slice(mark).filter((line) => line.level >= 50);

const tally = new Tally();
const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).join();

/** What every input is held to besides its own checks: no error logged, no prototype touched. */
function commonProblems(mark: number): string[] {
  const problems = errorLinesSince(mark).map(
    (line) => `logged at error level: ${short(line, 1_000)}`,
  );
  if (Object.getOwnPropertyNames(Object.prototype).join() !== prototypeKeys) {
    problems.push('Object.prototype changed');
  }
  if (({} as Record<string, unknown>)['polluted'] !== undefined) {
    problems.push('Object.prototype polluted');
  }
  return problems;
}

/** Runs a property over `params.numRuns` inputs, noting how long they took. */
async function fuzz(
  group: string,
  property: fc.IAsyncProperty<[fc.GeneratorValue]>,
  params: fc.Parameters<[fc.GeneratorValue]>,
): Promise<void> {
  const started = performance.now();
  try {
    await fc.assert(property, params);
  } finally {
    tally.add('seconds by group', group, Math.round((performance.now() - started) / 100) / 10);
  }
}

/** Fails the property with the input and everything wrong with its answer. */
function verdict(input: unknown, problems: string[]): void {
  if (problems.length === 0) return;
  throw new Error(`${problems.join('\n')}\ninput: ${short(input, 2_000)}`);
}

describe('fuzzing: malformed input never breaks Verity', () => {
  const verity = useVerity({
    logger,
    // No fuzzed connection waits the default 3 s for its connection_init.
    env: { WS_CONNECTION_INIT_TIMEOUT_MS: '100' },
  });

  let world: World;
  let sandboxToken: string;
  let victimToken: string;
  let origin: string;
  let requestCount = 0;

  /** Every collection's documents, hashed: what no refused input may change. */
  const snapshot = async () => {
    const db = verity.app.internals.connection.db!;
    const collections = (await db.listCollections().toArray()).map(({ name }) => name).sort();
    const state: Record<string, string> = {};
    for (const name of collections) {
      const documents = await db.collection(name).find().sort({ _id: 1 }).toArray();
      state[name] =
        `${documents.length} ${createHash('sha256').update(JSON.stringify(documents)).digest('hex').slice(0, 16)}`;
    }
    return state;
  };

  /** The victim as the victim sees itself, through the API. */
  const victimView = async () => {
    const result = await verity.gql(
      `{ me { id username displayName bio avatarUrl followerCount followingCount truthCount
          truths(first: 50) { edges { node { id text counts { reactions retruths } } } } }
         notifications(first: 50) { unreadCount edges { node { id read } } } }`,
      {},
      { token: victimToken },
    );
    expect(result.errors).toBeUndefined();
    return result.data;
  };

  let before: { database: Record<string, string>; victim: unknown };

  beforeAll(async () => {
    origin = new URL(verity.url).origin;
    console.log(
      `fuzz seed ${seed} (replay: FUZZ_SEED=${seed} npx vitest run test/fuzz.test.ts; FUZZ_RUNS scales the counts)`,
    );
    const victim = await verity.signUp({ username: uniqueUsername('victim') });
    const other = await verity.signUp();
    const sandbox = await verity.signUp();
    const revoked = await verity.signUp();
    victimToken = victim.token;
    sandboxToken = sandbox.token;
    const otherTruth = await post(verity, other.token, 'a truth the victim may not delete #fuzz');
    await post(verity, victim.token, 'the victim’s own truth #fuzz');
    const follow = await verity.gql(
      'mutation($input: UserActionInput!) { follow(input: $input) { me { id } } }',
      { input: { userId: other.id } },
      { token: victim.token },
    );
    expect(follow.errors).toBeUndefined();
    const logOut = await verity.gql('mutation { logOut }', {}, { token: revoked.token });
    expect(logOut.data).toEqual({ logOut: true });
    const ticket = await verity.gql(
      'mutation($input: JoinWaitlistInput!) { joinWaitlist(input: $input) { ticketToken } }',
      { input: { email: 'fuzz-waiting@example.com', username: uniqueUsername('wait') } },
    );
    const ticketToken = ticket.data?.['joinWaitlist']?.ticketToken as string;
    expect(ticketToken).toBeTypeOf('string');
    // The waitlist's timer admits the ticket by itself: once it has, the database holds still.
    await waitFor(async () => {
      const status = await verity.gql(
        'query($t: String!) { waitlistTicket(ticketToken: $t) { admitted } }',
        {
          t: ticketToken,
        },
      );
      return status.data?.['waitlistTicket']?.admitted === true;
    });
    const missingUser = '0123456789abcdef01234567';
    world = {
      victimUserId: victim.id,
      victimUsername: victim.username,
      otherTruthId: otherTruth.id,
      missingTruthId: Buffer.from(`Truth:${'f'.repeat(24)}`).toString('base64url'),
      missingUserId: Buffer.from(`User:${missingUser}`).toString('base64url'),
      refusedTokens: [
        await forgedSessionToken(userIdHex(victim.id)),
        await expiredSessionToken(userIdHex(victim.id)),
        await sessionTokenFor(missingUser),
        revoked.token,
        ticketToken,
      ],
    };
    before = { database: await snapshot(), victim: await victimView() };
  });

  afterAll(() => {
    console.log(`fuzz seed ${seed}: what was sent and how Verity answered\n${tally.toString()}`);
    const warnings = logLines.filter((line) => line.level === 40);
    if (warnings.length > 0) {
      const byMessage = new Tally();
      for (const line of warnings) byMessage.add('warnings logged', line.msg ?? '(no msg)');
      console.log(byMessage.toString());
    }
  });

  /** Holds the database and the victim's own view to what they were before any input. */
  const expectNothingChanged = async () => {
    expect(await snapshot()).toEqual(before.database);
    expect(await victimView()).toEqual(before.victim);
    expect(verity.app.state).toBe('started');
    const health = await fetch(`${origin}/healthz`);
    expect(health.status).toBe(200);
  };

  /** Sends one HTTP request and returns everything wrong with the answer. */
  async function sendHttp(
    group: string,
    request: HttpCase,
  ): Promise<{ problems: string[]; answer?: { errors?: unknown; data?: unknown } }> {
    tally.add('inputs by kind', `${group}: ${request.kind}`);
    const requestId = `fuzz-${++requestCount}`;
    const mark = logLines.length;
    let response: Response;
    try {
      response = await fetch(`${origin}${request.target}`, {
        method: request.method,
        headers: { 'x-request-id': requestId, ...request.headers },
        ...(request.body === undefined ? {} : { body: request.body }),
        redirect: 'manual',
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      // undici refuses some requests itself (a header value it will not send); the server
      // never saw those. Anything else (a reset, a timeout) is the server's doing.
      if (error instanceof TypeError && (!cause || cause.code === 'UND_ERR_INVALID_ARG')) {
        tally.add('http status', 'not sent (refused by the client)');
        return { problems: [] };
      }
      const code = cause?.code ?? (error as Error).name;
      tally.add('http status', `no answer: ${code}`);
      return { problems: [`no answer: ${code} ${cause?.message ?? (error as Error).message}`] };
    }
    const body = await response.text();
    tally.add('http status', response.status);
    const problems: string[] = [];
    if (response.status >= 500) problems.push(`HTTP ${response.status}: ${short(body)}`);
    const type = response.headers.get('content-type') ?? '';
    // The IDE's and the demo's pages are HTML and scripts (a GET that accepts HTML, `/`).
    const isPage = /^text\/html|javascript|text\/css/.test(type) && response.status === 200;
    const leaked = isPage ? undefined : internalTextIn(body);
    if (leaked) problems.push(`internal text ${JSON.stringify(leaked)} in ${short(body, 1_000)}`);
    let parsed: { errors?: unknown; data?: unknown } | undefined;
    if (/json/.test(type) && body !== '') {
      try {
        parsed = JSON.parse(body) as NonNullable<typeof parsed>;
      } catch {
        problems.push(`JSON content type, not JSON: ${short(body)}`);
      }
      if (!parsed) tally.add('error codes', '(not JSON)');
      else if (parsed.errors !== undefined) problems.push(...errorProblems(parsed.errors, tally));
      else if (Array.isArray(parsed)) tally.add('error codes', '(a batch answered)');
      else tally.add('error codes', '(none: data only)');
    }
    problems.push(...commonProblems(mark));
    return { problems, ...(parsed ? { answer: parsed } : {}) };
  }

  it('answers random, mutated and broken GraphQL documents over HTTP with typed errors only', async () => {
    await fuzz(
      'documents',
      fc.asyncProperty(fc.gen(), async (g) => {
        const c = new Chooser(g);
        const document = randomDocument(c, schema, { subscriptions: true });
        // A document that may mutate goes out anonymously or with a refused token.
        const token = mayMutate(document.text)
          ? c.pick([undefined, ...world.refusedTokens])
          : c.pick([undefined, sandboxToken, victimToken, ...world.refusedTokens]);
        const request: HttpCase = {
          kind: document.kind,
          method: 'POST',
          target: '/graphql',
          headers: {
            'content-type': 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify({ query: document.text, variables: document.variables }),
        };
        verdict(request, (await sendHttp('document', request)).problems);
      }),
      { seed, numRuns: runs(1_000), ...replay },
    );
    await expectNothingChanged();
  }, 120_000);

  it('refuses a signed-in user’s mutations with wrong variables, and changes nothing', async () => {
    await fuzz(
      'refused mutations',
      fc.asyncProperty(fc.gen(), async (g) => {
        const c = new Chooser(g);
        const mutation = refusedMutation(c, schema, world);
        const request: HttpCase = {
          kind: mutation.field,
          method: 'POST',
          target: '/graphql',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${victimToken}` },
          body: JSON.stringify({ query: mutation.text, variables: mutation.variables }),
        };
        const { problems, answer } = await sendHttp('refused mutation', request);
        // Refused, or (a retry's idempotent no-op: nothing of the victim's to mark read or
        // undo) accepted without changing anything; the database check below holds both.
        tally.add('refused mutations', answer?.errors ? 'refused' : 'accepted as a no-op');
        // An accepted one is checked at once, so that the input that wrote is the one reported.
        if (
          !answer?.errors &&
          JSON.stringify(await snapshot()) !== JSON.stringify(before.database)
        ) {
          problems.push(`accepted, and the database changed: ${short(answer, 1_000)}`);
        }
        verdict(mutation, problems);
      }),
      { seed: seed + 1, numRuns: runs(500), ...replay },
    );
    await expectNothingChanged();
  }, 120_000);

  it('answers malformed HTTP requests (bodies, content types, GET, methods, paths) with 4xx', async () => {
    await fuzz(
      'requests',
      fc.asyncProperty(fc.gen(), async (g) => {
        const request = httpRequest(new Chooser(g), schema);
        verdict(request, (await sendHttp('request', request)).problems);
      }),
      { seed: seed + 2, numRuns: runs(850), ...replay },
    );
    await expectNothingChanged();
  }, 120_000);

  it('answers odd headers (authorization, content type, accept, forwarding, origin) without a 5xx', async () => {
    await fuzz(
      'headers',
      fc.asyncProperty(fc.gen(), async (g) => {
        const { headers, body } = headerRequest(new Chooser(g), world.refusedTokens);
        const request: HttpCase = {
          kind: 'headers',
          method: 'POST',
          target: '/graphql',
          headers,
          body,
        };
        verdict(request, (await sendHttp('header', request)).problems);
      }),
      { seed: seed + 3, numRuns: runs(400), ...replay },
    );
    await expectNothingChanged();
  }, 120_000);

  it('closes WebSockets that send malformed frames with documented codes, answering typed errors', async () => {
    await fuzz(
      'websocket',
      fc.asyncProperty(fc.gen(), async (g) => {
        const conversation = wsConversation(new Chooser(g), schema, {
          sandbox: sandboxToken,
          refused: world.refusedTokens,
        });
        verdict(conversation, await converse(conversation));
      }),
      { seed: seed + 4, numRuns: runs(450), ...replay },
    );
    await expectNothingChanged();
  }, 180_000);

  /** Holds a conversation and returns everything wrong with how the server took it. */
  async function converse(conversation: WsCase): Promise<string[]> {
    tally.add('inputs by kind', `websocket: ${conversation.frames.length} frames`);
    const connectionId = `fuzz-ws-${++requestCount}`;
    const mark = logLines.length;
    const problems: string[] = [];
    const socket = new WebSocket(
      `${origin.replace(/^http/, 'ws')}/graphql`,
      conversation.protocols,
      {
        headers: { 'x-request-id': connectionId, ...conversation.headers },
      },
    );
    // Subscribe ids whose operation answers at once (not a subscription): waited for.
    const pending = new Set<string>();
    let acknowledged = false;
    let onAcknowledged = () => undefined as void;
    const acknowledgement = new Promise<void>((resolve) => (onAcknowledged = resolve));
    let probed = false;
    let lastMessageAt = Date.now();
    let closedBy: { code: number; reason: string } | undefined;
    const closed = new Promise<void>((resolve) => {
      socket.on('close', (code, reason) => {
        closedBy = { code, reason: reason.toString() };
        resolve();
      });
    });
    socket.on('error', () => undefined);
    socket.on('message', (data: Buffer, isBinary) => {
      lastMessageAt = Date.now();
      const raw = data.toString();
      const leaked = internalTextIn(raw);
      if (leaked) problems.push(`internal text ${JSON.stringify(leaked)} in ${short(raw, 1_000)}`);
      if (isBinary) problems.push('a binary frame from the server');
      let message: { type?: unknown; id?: unknown; payload?: unknown };
      try {
        message = JSON.parse(raw) as typeof message;
      } catch {
        problems.push(`a frame that is not JSON: ${short(raw)}`);
        return;
      }
      tally.add('ws messages', String(message.type));
      if (message.type === 'connection_ack') {
        acknowledged = true;
        onAcknowledged();
      }
      if (message.type === 'pong' && short(message.payload) === '{"fuzz":"end"}') probed = true;
      if (typeof message.id === 'string') pending.delete(message.id);
      if (message.type === 'error') problems.push(...errorProblems(message.payload, tally));
      if (message.type === 'next') {
        const { errors } = (message.payload ?? {}) as { errors?: unknown };
        if (errors !== undefined) problems.push(...errorProblems(errors, tally));
      }
    });
    let upgradeRefused = false;
    const opened = await new Promise<boolean>((resolve) => {
      socket.once('open', () => resolve(true));
      socket.once('close', () => resolve(false));
      socket.once('unexpected-response', (_request, response) => {
        upgradeRefused = true;
        tally.add('ws close codes', `upgrade refused: HTTP ${response.statusCode}`);
        if ((response.statusCode ?? 0) >= 500)
          problems.push(`upgrade: HTTP ${response.statusCode}`);
        resolve(false);
      });
    });
    if (opened) {
      let initSent = false;
      for (const frame of conversation.frames) {
        if (socket.readyState !== WebSocket.OPEN) break;
        if ('text' in frame) {
          socket.send(frame.text);
          trackSubscribe(frame.text, pending);
          // As a client would, wait for the first connection_init's answer before going on.
          if (!initSent && frame.text.includes('"connection_init"')) {
            initSent = true;
            await Promise.race([acknowledgement, closed, delay(2_000)]);
          }
        } else if ('binary' in frame) {
          socket.send(frame.binary, { binary: true });
        } else {
          socket.send(frame.invalidUtf8, { binary: false });
        }
      }
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: 'ping', payload: { fuzz: 'end' } }));
      }
      // Until the server closes it, or has answered the probe and every operation that answers
      // at once; a connection that never sent connection_init is held to its timeout.
      const deadline = Date.now() + 5_000;
      while (!closedBy && Date.now() < deadline) {
        const settled = probed && pending.size === 0 && Date.now() - lastMessageAt > 10;
        if (settled && (acknowledged || conversation.initialises)) break;
        await Promise.race([closed, delay(5)]);
      }
      if (!closedBy) {
        if (!acknowledged && !conversation.initialises) {
          problems.push('a connection that never sent connection_init was not closed');
        }
        if (pending.size > 0) problems.push(`no answer for operations ${short([...pending])}`);
        socket.close(1000, 'fuzz case done');
        await closed;
        tally.add('ws close codes', 'closed by the client');
      } else {
        tally.add('ws close codes', closedBy.code);
        if (!clientCloseCodes.has(closedBy.code)) {
          problems.push(`closed with ${closedBy.code} ${closedBy.reason}`);
        }
        const leaked = internalTextIn(closedBy.reason);
        if (leaked) problems.push(`internal text in the close reason: ${closedBy.reason}`);
      }
    } else {
      await closed;
      // The server answered the upgrade without a subprotocol the client asked for: the `ws`
      // client drops such a handshake itself.
      if (!upgradeRefused) tally.add('ws close codes', 'handshake dropped by the client');
    }
    problems.push(...commonProblems(mark));
    return problems;
  }
});

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Notes a subscribe frame's id as pending when its operation answers at once, and forgets one
 * the client completes.
 */
function trackSubscribe(text: string, pending: Set<string>): void {
  let message: { type?: unknown; id?: unknown; payload?: { query?: unknown } };
  try {
    message = JSON.parse(text) as typeof message;
  } catch {
    return;
  }
  if (typeof message !== 'object' || message === null || typeof message.id !== 'string') return;
  // The client's own complete ends the operation with no answer.
  if (message.type === 'complete') pending.delete(message.id);
  if (message.type !== 'subscribe') return;
  const query = message.payload?.query;
  if (typeof query !== 'string') return;
  let document: DocumentNode;
  try {
    document = parse(query);
  } catch {
    pending.add(message.id);
    return;
  }
  const operation = getOperationAST(document, null);
  if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) pending.add(message.id);
}
