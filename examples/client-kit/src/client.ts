import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink } from '@apollo/client';
import { ErrorLink } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { print } from '@apollo/client/utilities';
import { OperationTypeNode } from 'graphql';
import { createClient, type Client as WsClient } from 'graphql-ws';
import type { Subscription } from 'rxjs';
import {
  createVerityCache,
  newestCursor,
  normalizeTag,
  prependToFeed,
  removeFromFeeds,
  type FeedKey,
} from './cache.js';
import {
  HashtagFeedUpdatedDocument,
  HomeFeedUpdatedDocument,
  PublicFeedUpdatedDocument,
  TruthCountsChangedDocument,
  WaitlistPositionDocument,
} from './operations.js';
import type {
  HomeFeedUpdatedSubscription as HomeFeedUpdate,
  TruthCountsChangedSubscription as TruthCountsResult,
  WaitlistPositionSubscription as WaitlistPositionResult,
} from './gql/graphql.js';
import { createTokenStore, type TokenStore } from './token-store.js';

/** What a feed subscription delivers: a new truth with its cursor, or a deletion. */
export type FeedUpdate = HomeFeedUpdate['homeFeedUpdated'];

/** The WebSocket close codes Verity sends on top of graphql-ws's own. */
export const VerityCloseCode = {
  /** The token was refused (invalid); the socket will not work with it again. */
  InvalidSession: 4403,
  /** The client fell too far behind its events: reconnect after a longer pause and catch up. */
  SlowConsumer: 4420,
  /** The session expired: sign in again (or renew before it expires). */
  SessionExpired: 4440,
  /** The session was ended (`logOut`, `logOutEverywhere`): sign in again. */
  SessionRevoked: 4441,
  /** A backing service is down or the instance is full: reconnect with backoff. */
  TryAgainLater: 1013,
} as const;

/** How a session ended, as Verity tells it (WebSocket close or `extensions.reason`). */
export type SessionEndReason = 'invalid' | 'expired' | 'revoked';

const sessionEndByCloseCode: ReadonlyMap<number, SessionEndReason> = new Map([
  [VerityCloseCode.InvalidSession, 'invalid'],
  [VerityCloseCode.SessionExpired, 'expired'],
  [VerityCloseCode.SessionRevoked, 'revoked'],
]);

const closeCodeOf = (event: unknown): number | undefined =>
  typeof event === 'object' &&
  event !== null &&
  typeof (event as { code?: unknown }).code === 'number'
    ? (event as { code: number }).code
    : undefined;

/** When to try the socket again after it closed; delays grow with each failed attempt. */
export interface RetryPolicy {
  /** First delay after an ordinary drop (the server restarting, the network). Default 500 ms. */
  baseDelayMs?: number;
  /** The most any delay grows to. Default 30 s. */
  maxDelayMs?: number;
  /**
   * First delay after 4420 (the client could not keep up with its events), doubled for each
   * further attempt: reconnecting at once would only fall behind again. Default 5 s.
   */
  slowConsumerDelayMs?: number;
}

/**
 * The pause before reconnect attempt `retries` (0 for the first), before jitter: doubling from
 * the base delay, or from the slow-consumer delay while the last close was 4420, up to the most.
 */
export function reconnectDelayMs(
  policy: Required<RetryPolicy>,
  retries: number,
  afterSlowConsumer: boolean,
): number {
  const first = afterSlowConsumer ? policy.slowConsumerDelayMs : policy.baseDelayMs;
  return Math.min(first * 2 ** retries, policy.maxDelayMs);
}

export interface VerityClientOptions {
  /** `http(s)://host/graphql`. */
  httpUrl: string;
  /** `ws(s)://host/graphql`; by default `httpUrl` with `ws` for `http`. */
  wsUrl?: string;
  /** Where the session token lives; in memory by default. */
  tokens?: TokenStore;
  /** A WebSocket class: the browser's by default; `ws`'s default export on Node. */
  webSocketImpl?: unknown;
  /** The fetch to use; the global one by default. */
  fetch?: typeof fetch;
  retry?: RetryPolicy;
  /**
   * Called when Verity ends the session: a WebSocket closed with 4403, 4440 or 4441, or an HTTP
   * answer UNAUTHENTICATED with that reason. The kit has already cleared the token store.
   */
  onSessionEnded?: (reason: SessionEndReason) => void;
}

/** A live subscription the kit keeps running (across reconnects) until `stop`. */
export interface LiveHandle {
  stop(): void;
}

export interface VerityClient {
  readonly client: ApolloClient;
  readonly tokens: TokenStore;
  /** The graphql-ws client under the subscriptions (for its `on` events). */
  readonly ws: WsClient;
  /**
   * Signs in (a session token) or out (null): clears the cache, whose per-viewer fields (the
   * home feed, `viewerReaction`) belonged to the previous viewer, then stores the token, which
   * reconnects the socket with it. A renewed token of the same session can go straight to
   * `tokens.set`.
   */
  setSession(token: string | null): Promise<void>;
  /**
   * Keeps a cached feed live: every truth the feed subscription delivers is put at the top of
   * the cached feed (and removed when deleted). Subscribes with `after` = the newest cursor the
   * cache holds for that feed, and after every reconnect resubscribes with the newest one it
   * holds then, so the server sends what was missed, once, and nothing already shown.
   */
  followFeed(key: FeedKey, options?: { onError?: (error: Error) => void }): LiveHandle;
  /**
   * Keeps a truth's counts live: each `truthCountsChanged` event is written to the normalised
   * `TruthCounts` entry that every cached copy of the truth reads.
   */
  watchCounts(
    truthId: string,
    handlers?: {
      next?: (counts: TruthCountsResult['truthCountsChanged']) => void;
      onError?: (error: Error) => void;
    },
  ): LiveHandle;
  /**
   * Watches a waitlist ticket's position on a socket of its own, authenticated by the ticket
   * token (a waiting person has no session). Ends after the event with `admitted: true`.
   */
  watchWaitlist(
    ticketToken: string,
    handlers: {
      next: (ticket: WaitlistPositionResult['waitlistPosition']) => void;
      error?: (error: unknown) => void;
      complete?: () => void;
    },
  ): LiveHandle;
  /** Stops every live subscription, closes the socket and stops the client. */
  dispose(): Promise<void>;
}

/**
 * An Apollo Client for Verity: queries and mutations over HTTP, subscriptions over graphql-ws,
 * both authenticated from one token store, with Verity's cache policies.
 *
 * Reconnection: the socket is retried (without limit) after every close except a refused or
 * ended session (4403, 4440, 4441: the session is cleared as by `setSession(null)`, then
 * `onSessionEnded` called) and graphql-ws's own fatal codes. After 4420 the pause is longer.
 * Any change of token reconnects the socket with the new one.
 */
export function createVerityClient(options: VerityClientOptions): VerityClient {
  const tokens = options.tokens ?? createTokenStore();
  const retry: Required<RetryPolicy> = {
    baseDelayMs: options.retry?.baseDelayMs ?? 500,
    maxDelayMs: options.retry?.maxDelayMs ?? 30_000,
    slowConsumerDelayMs: options.retry?.slowConsumerDelayMs ?? 5_000,
  };
  const wsUrl = options.wsUrl ?? options.httpUrl.replace(/^http/, 'ws');
  // Called only once the client below exists (from socket and HTTP answers).
  const endSession = (reason: SessionEndReason) => {
    void setSession(null).then(() => options.onSessionEnded?.(reason));
  };

  // Closed for falling behind (4420), and not connected since: every retry waits longer.
  let slowConsumer = false;
  // Between `connecting` and `closed`: a socket that a new token must replace.
  let socketActive = false;
  const ws = createClient({
    url: wsUrl,
    ...(options.webSocketImpl ? { webSocketImpl: options.webSocketImpl } : {}),
    lazy: true,
    lazyCloseTimeout: 3_000,
    retryAttempts: Infinity,
    connectionParams: () => {
      const token = tokens.get();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    // graphql-ws retries close events only by default; a socket that fails with an error event
    // (connection refused or reset: a server restarting, a network drop) is retried too.
    shouldRetry: (event) => {
      const code = closeCodeOf(event);
      return code === undefined || !sessionEndByCloseCode.has(code);
    },
    retryWait: async (retries) => {
      const delay = reconnectDelayMs(retry, retries, slowConsumer);
      // Jitter spreads the reconnects of many clients dropped at once.
      await new Promise((resolve) => setTimeout(resolve, delay * (0.75 + Math.random() / 2)));
    },
    on: {
      connecting: () => {
        socketActive = true;
      },
      connected: () => {
        slowConsumer = false;
      },
      closed: (event) => {
        socketActive = false;
        const code = closeCodeOf(event);
        if (code === VerityCloseCode.SlowConsumer) slowConsumer = true;
        const reason = code === undefined ? undefined : sessionEndByCloseCode.get(code);
        // Not from inside graphql-ws's close handling: clearing the token reconnects.
        if (reason) setTimeout(() => endSession(reason), 0);
      },
    },
  });

  const authLink = new ApolloLink((operation, forward) => {
    const token = tokens.get();
    if (token) {
      operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
        headers: { ...headers, authorization: `Bearer ${token}` },
      }));
    }
    return forward(operation);
  });

  // Over HTTP a stale token is answered as anonymous; only what needs a session says why not.
  const sessionLink = new ErrorLink(({ error }) => {
    if (!CombinedGraphQLErrors.is(error)) return;
    for (const graphQLError of error.errors) {
      const reason = graphQLError.extensions?.['reason'];
      if (
        graphQLError.extensions?.['code'] === 'UNAUTHENTICATED' &&
        (reason === 'invalid' || reason === 'expired' || reason === 'revoked') &&
        tokens.get() !== null
      ) {
        endSession(reason);
        return;
      }
    }
  });

  const httpLink = new HttpLink({
    uri: options.httpUrl,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const client = new ApolloClient({
    cache: createVerityCache(),
    link: ApolloLink.split(
      ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
      new GraphQLWsLink(ws),
      ApolloLink.from([sessionLink, authLink, httpLink]),
    ),
  });

  const setSession = async (token: string | null) => {
    // First: answers in flight for the previous viewer are dropped with the cache.
    await client.clearStore();
    tokens.set(token);
  };
  const unsubscribeTokens = tokens.subscribe(() => {
    // The socket authenticated with the old token (or none): graphql-ws reconnects at once
    // (4499), sending the new one, and every subscription resumes on the new socket.
    if (socketActive) ws.terminate();
  });

  const live = new Set<LiveHandle>();
  const keep = (handle: LiveHandle): LiveHandle => {
    live.add(handle);
    return {
      stop() {
        live.delete(handle);
        handle.stop();
      },
    };
  };

  function followFeed(
    key: FeedKey,
    handlers: { onError?: (error: Error) => void } = {},
  ): LiveHandle {
    let subscription: Subscription | undefined;
    let lastCursor: string | undefined;
    let stopped = false;

    const onUpdate = (update: FeedUpdate | undefined) => {
      if (!update) return;
      if (update.__typename === 'TruthPosted') {
        lastCursor = update.cursor;
        prependToFeed(client.cache, key, update);
      } else if (update.__typename === 'TruthDeleted') {
        removeFromFeeds(client.cache, update.truthId);
      }
      // A TruthEdited needs nothing more: the cache keeps one Truth per id, which writing the
      // event's result has already updated.
    };
    const onResult = (result: { error?: { message: string } | undefined }) => {
      if (result.error) handlers.onError?.(new Error(result.error.message));
    };

    const subscribe = () => {
      // The newest truth this client holds: the cached feed's first edge, else the last live one.
      const after = newestCursor(client.cache, key) ?? lastCursor ?? null;
      const context = { queryDeduplication: false };
      switch (key.feed) {
        case 'homeFeed':
          subscription = client
            .subscribe({ query: HomeFeedUpdatedDocument, variables: { after }, context })
            .subscribe((result) => {
              onUpdate(result.data?.homeFeedUpdated);
              onResult(result);
            });
          break;
        case 'publicFeed':
          subscription = client
            .subscribe({ query: PublicFeedUpdatedDocument, variables: { after }, context })
            .subscribe((result) => {
              onUpdate(result.data?.publicFeedUpdated);
              onResult(result);
            });
          break;
        case 'hashtagFeed':
          subscription = client
            .subscribe({
              query: HashtagFeedUpdatedDocument,
              variables: { tag: normalizeTag(key.tag), after },
              context,
            })
            .subscribe((result) => {
              onUpdate(result.data?.hashtagFeedUpdated);
              onResult(result);
            });
          break;
      }
    };

    // graphql-ws resends a subscription on a new socket exactly as first sent, with the cursor
    // it started from. On a reconnect (not the first connection, nor one after a fatal close,
    // which ends the subscription) the old one is dropped before graphql-ws resends it, and a
    // new one starts from the newest cursor held now: the server then sends only what was missed.
    const offConnected = ws.on('connected', (_socket, _payload, wasRetry) => {
      if (!wasRetry || stopped || !subscription) return;
      subscription.unsubscribe();
      subscribe();
    });
    subscribe();
    return keep({
      stop() {
        stopped = true;
        offConnected();
        subscription?.unsubscribe();
      },
    });
  }

  return {
    client,
    tokens,
    ws,
    setSession: (token) => setSession(token),
    followFeed,
    watchCounts(truthId, handlers = {}) {
      const subscription = client
        .subscribe({ query: TruthCountsChangedDocument, variables: { truthId } })
        .subscribe((result) => {
          if (result.data) handlers.next?.(result.data.truthCountsChanged);
          if (result.error) handlers.onError?.(new Error(result.error.message));
        });
      return keep({ stop: () => subscription.unsubscribe() });
    },
    watchWaitlist(ticketToken, handlers) {
      const waitlistWs = createClient({
        url: wsUrl,
        ...(options.webSocketImpl ? { webSocketImpl: options.webSocketImpl } : {}),
        retryAttempts: Infinity,
        connectionParams: { ticketToken },
        retryWait: async (retries) => {
          const delay = Math.min(retry.baseDelayMs * 2 ** retries, retry.maxDelayMs);
          await new Promise((resolve) => setTimeout(resolve, delay));
        },
      });
      const dispose = waitlistWs.subscribe<WaitlistPositionResult>(
        { query: print(WaitlistPositionDocument), variables: { ticketToken } },
        {
          next: (result) => {
            if (result.data) handlers.next(result.data.waitlistPosition);
          },
          error: (error) => handlers.error?.(error),
          complete: () => {
            handlers.complete?.();
            void waitlistWs.dispose();
          },
        },
      );
      return keep({
        stop() {
          dispose();
          void waitlistWs.dispose();
        },
      });
    },
    async dispose() {
      for (const handle of [...live]) handle.stop();
      live.clear();
      unsubscribeTokens();
      client.stop();
      await ws.dispose();
    },
  };
}
