import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { buildSchema, isAbstractType } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import {
  createTokenStore,
  createVerityClient,
  HomeFeedDocument,
  possibleTypes,
  reconnectDelayMs,
  PostTruthDocument,
  TruthFieldsFragmentDoc,
  type VerityClient,
} from '../examples/client-kit/src/index.js';
import { useVerity, type TestServer } from './helpers/server.js';
import { act, channelReady, homeChannel, post, react } from './helpers/social.js';
import { waitFor } from './helpers/wait.js';

/**
 * The client kit (examples/client-kit) against a real Verity: Apollo Client 4 over HTTP and
 * graphql-ws, its cache policies, live feeds and reconnection.
 */

/** The `ws` WebSocket, recording every message the kit sends. */
function recordingWebSocket(sent: Record<string, any>[]) {
  return class RecordingWebSocket extends WebSocket {
    override send(data: any, ...rest: any[]): void {
      sent.push(JSON.parse(String(data)));
      (super.send as (...args: unknown[]) => void)(data, ...rest);
    }
  };
}

/**
 * A TCP proxy in front of Verity: `cut` drops every connection through it and refuses new ones
 * (as a network outage does), `restore` lets them through again.
 */
async function startProxy(target: URL) {
  const open = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        open.delete(from);
        to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    wsUrl: `ws://127.0.0.1:${port}${target.pathname}`,
    cut() {
      refusing = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

// @apollo/client's GraphQLWsLink tells a socket error from a GraphQL error by comparing with the
// global WebSocket, which Node 20 lacks (it is `ws` here, passed to the kit).
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

interface Kit extends VerityClient {
  /** HTTP requests the kit made. */
  readonly requests: { count: number };
  /** Messages the kit sent over its sockets. */
  readonly sent: Record<string, any>[];
}

describe('the client kit', () => {
  const verity = useVerity();
  const kits: VerityClient[] = [];

  afterEach(async () => {
    await Promise.all(kits.splice(0).map((kit) => kit.dispose()));
  });

  function kitFor(
    server: TestServer,
    token: string | null,
    wsUrl = server.wsUrl,
    onSessionEnded?: (reason: string) => void,
  ): Kit {
    const requests = { count: 0 };
    const sent: Record<string, any>[] = [];
    const tokens = createTokenStore();
    tokens.set(token);
    const kit = createVerityClient({
      httpUrl: server.url,
      wsUrl,
      tokens,
      webSocketImpl: recordingWebSocket(sent),
      fetch: (input, init) => {
        requests.count += 1;
        return fetch(input, init);
      },
      retry: { baseDelayMs: 50, maxDelayMs: 500 },
      ...(onSessionEnded ? { onSessionEnded } : {}),
    });
    kits.push(kit);
    return Object.assign(kit, { requests, sent });
  }

  it('normalises truthCountsChanged into the cached Truth.counts, with no refetch', async () => {
    const ada = await verity.signUp();
    const bob = await verity.signUp();
    const kit = kitFor(verity, ada.token);

    const posted = await kit.client.mutate({
      mutation: PostTruthDocument,
      variables: { input: { text: 'Counts come to you' } },
    });
    const truthId = posted.data!.postTruth.truth.id;
    const feed = kit.client.watchQuery({ query: HomeFeedDocument });
    const shown: number[] = [];
    const watching = feed.subscribe(({ data }) => {
      const edges = data?.homeFeed?.edges ?? [];
      const counts = edges.find((edge) => edge?.node?.id === truthId)?.node?.counts;
      if (counts?.reactions !== undefined) shown.push(counts.reactions);
    });
    await waitFor(() => shown.includes(0));

    const initial: number[] = [];
    kit.watchCounts(truthId, { next: (counts) => initial.push(counts.reactions) });
    await waitFor(() => initial.length > 0);
    const requestsBefore = kit.requests.count;

    await react(verity, bob.token, truthId, 'LOVE');

    const cachedTruth = () =>
      kit.client.cache.readFragment({
        fragment: TruthFieldsFragmentDoc,
        fragmentName: 'TruthFields',
        id: kit.client.cache.identify({ __typename: 'Truth', id: truthId })!,
      });
    await waitFor(() => cachedTruth()?.counts.reactions === 1);
    expect(cachedTruth()?.counts.byKind).toEqual([
      { __typename: 'ReactionCount', kind: 'LOVE', count: 1 },
    ]);
    // The truth's counts are one normalised entry, which the watched feed re-reads.
    const countsId = posted.data!.postTruth.truth.counts.id;
    expect(kit.client.cache.extract()).toHaveProperty(
      kit.client.cache.identify({ __typename: 'TruthCounts', id: countsId })!,
    );
    await waitFor(() => shown.at(-1) === 1);
    expect(kit.requests.count).toBe(requestsBefore);
    watching.unsubscribe();
  });

  /** The texts of a kit's cached home feed, newest first (null when it is not cached). */
  const cachedHomeFeed = (kit: VerityClient) =>
    kit.client.cache
      .readQuery({ query: HomeFeedDocument })
      ?.homeFeed.edges.map((edge) => edge.node.text) ?? null;

  it('puts a live truth at the top of the cached home feed, once, and takes a deleted one out', async () => {
    const ada = await verity.signUp();
    const bob = await verity.signUp();
    await act(verity, bob.token, 'follow', ada.id);
    await post(verity, ada.token, 'Before Bob looked');
    const kit = kitFor(verity, bob.token);
    await kit.client.query({ query: HomeFeedDocument });
    expect(cachedHomeFeed(kit)).toEqual(['Before Bob looked']);

    const errors: Error[] = [];
    kit.followFeed({ feed: 'homeFeed' }, { onError: (error) => errors.push(error) });
    await channelReady(verity, homeChannel(bob.id));
    const requestsBefore = kit.requests.count;

    const live = await post(verity, ada.token, 'Live to Bob');
    await waitFor(() => cachedHomeFeed(kit)?.[0] === 'Live to Bob');
    expect(cachedHomeFeed(kit)).toEqual(['Live to Bob', 'Before Bob looked']);
    // The relay read function gives the new first edge's cursor as the list's start.
    const page = kit.client.cache.readQuery({ query: HomeFeedDocument })!.homeFeed;
    expect(page.edges[0]!.node.author.username).toBe(ada.username);

    const deleted = await verity.gql(
      'mutation($input: DeleteTruthInput!) { deleteTruth(input: $input) { deletedTruthId } }',
      { input: { id: live.id } },
      { token: ada.token },
    );
    expect(deleted.errors).toBeUndefined();
    await waitFor(() => cachedHomeFeed(kit)?.length === 1);
    expect(cachedHomeFeed(kit)).toEqual(['Before Bob looked']);
    expect(kit.requests.count).toBe(requestsBefore);
    expect(errors).toEqual([]);
  });

  it('resubscribes after a reconnect from the newest cursor it holds, not the one it started from', async () => {
    const ada = await verity.signUp();
    const bob = await verity.signUp();
    await act(verity, bob.token, 'follow', ada.id);
    await post(verity, ada.token, 'First');
    const proxy = await startProxy(new URL(verity.wsUrl));
    try {
      const kit = kitFor(verity, bob.token, proxy.wsUrl);
      const page = await kit.client.query({ query: HomeFeedDocument });
      const firstCursor = page.data!.homeFeed.edges[0]!.cursor;
      const closes: number[] = [];
      kit.ws.on('closed', (event) => closes.push((event as { code: number }).code));

      const errors: Error[] = [];
      kit.followFeed({ feed: 'homeFeed' }, { onError: (error) => errors.push(error) });
      await channelReady(verity, homeChannel(bob.id));
      await post(verity, ada.token, 'Second, live');
      await waitFor(() => cachedHomeFeed(kit)?.[0] === 'Second, live');
      const newest = kit.client.cache.readQuery({ query: HomeFeedDocument })!.homeFeed.edges[0]!
        .cursor;

      proxy.cut();
      await waitFor(() => closes.length > 0);
      await post(verity, ada.token, 'Third, while Bob was away');
      proxy.restore();

      await waitFor(() => cachedHomeFeed(kit)?.[0] === 'Third, while Bob was away');
      expect(cachedHomeFeed(kit)).toEqual(['Third, while Bob was away', 'Second, live', 'First']);

      expect(errors).toEqual([]);
      const feedSubscribes = kit.sent.filter(
        (message) =>
          message['type'] === 'subscribe' && message['payload'].operationName === 'HomeFeedUpdated',
      );
      expect(feedSubscribes.map((message) => message['payload'].variables.after)).toEqual([
        firstCursor,
        newest,
      ]);
    } finally {
      await proxy.close();
    }
  });

  it('knows every union and interface member of the schema (fragments on them match)', () => {
    const schema = buildSchema(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));
    const abstract = Object.values(schema.getTypeMap()).filter(isAbstractType);
    expect(
      Object.fromEntries(
        abstract.map((type) => [
          type.name,
          schema
            .getPossibleTypes(type)
            .map((member) => member.name)
            .sort(),
        ]),
      ),
    ).toEqual(
      Object.fromEntries(
        Object.entries(possibleTypes).map(([name, members]) => [name, [...members].sort()]),
      ),
    );
  });

  it('stops reconnecting when the session is ended (4441), clears the token and says why', async () => {
    const bob = await verity.signUp();
    const ended: string[] = [];
    const kit = kitFor(verity, bob.token, verity.wsUrl, (reason) => ended.push(reason));
    let connections = 0;
    kit.ws.on('connected', () => (connections += 1));
    const errors: Error[] = [];
    kit.followFeed({ feed: 'homeFeed' }, { onError: (error) => errors.push(error) });
    await channelReady(verity, homeChannel(bob.id));

    const loggedOut = await verity.gql('mutation { logOut }', {}, { token: bob.token });
    expect(loggedOut.errors).toBeUndefined();

    await waitFor(() => ended.length > 0);
    expect(ended).toEqual(['revoked']);
    expect(kit.tokens.get()).toBeNull();
    expect(errors.map((error) => error.message)).toEqual([expect.stringContaining('4441')]);
    // A retry would have connected again within the kit's 50 ms first delay.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(connections).toBe(1);
  });

  it('waits longer to reconnect after 4420 (fell behind) than after an ordinary drop, and never after 4440', async () => {
    // Verity sends 4420 only to a client that cannot keep up, which a test client is not; a
    // stand-in speaking graphql-ws closes the kit's sockets with each code in turn.
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    const connections: { at: number; socket: WebSocket }[] = [];
    server.on('connection', (socket) => {
      connections.push({ at: Date.now(), socket });
      socket.on('message', (raw) => {
        if (JSON.parse((raw as Buffer).toString()).type === 'connection_init') {
          socket.send(JSON.stringify({ type: 'connection_ack' }));
        }
      });
    });
    const ended: string[] = [];
    const kit = createVerityClient({
      httpUrl: verity.url,
      wsUrl: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
      tokens: createTokenStore(),
      webSocketImpl: WebSocket,
      retry: { baseDelayMs: 20, slowConsumerDelayMs: 800, maxDelayMs: 5_000 },
      onSessionEnded: (reason) => ended.push(reason),
    });
    kits.push(kit);
    try {
      kit.watchCounts('a truth');
      await waitFor(() => connections.length === 1);

      const dropped = Date.now();
      connections[0]!.socket.close(1001, 'Going away');
      await waitFor(() => connections.length === 2);
      const afterDrop = connections[1]!.at - dropped;

      const tooSlow = Date.now();
      connections[1]!.socket.close(4420, 'Slow consumer');
      await waitFor(() => connections.length === 3, { timeoutMs: 5_000 });
      const afterTooSlow = connections[2]!.at - tooSlow;
      expect(afterTooSlow).toBeGreaterThanOrEqual(600); // 800 ms, less at most a quarter of jitter
      expect(afterDrop).toBeLessThan(afterTooSlow);

      connections[2]!.socket.close(4440, 'Session expired');
      await waitFor(() => ended.length > 0);
      expect(ended).toEqual(['expired']);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(connections).toHaveLength(3);
    } finally {
      await kit.dispose();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('doubles the pause for each failed attempt, from the slow-consumer delay after 4420, up to the most', () => {
    const policy = { baseDelayMs: 500, slowConsumerDelayMs: 5_000, maxDelayMs: 30_000 };
    expect([0, 1, 2, 3].map((retries) => reconnectDelayMs(policy, retries, false))).toEqual([
      500, 1_000, 2_000, 4_000,
    ]);
    expect([0, 1, 2, 3].map((retries) => reconnectDelayMs(policy, retries, true))).toEqual([
      5_000, 10_000, 20_000, 30_000,
    ]);
  });
});
