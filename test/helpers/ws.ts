import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface LiveSubscription<T = Record<string, any>> {
  /** The next result; rejects on a GraphQL error, on completion, or after `timeoutMs`. */
  next(timeoutMs?: number): Promise<FormattedExecutionResult<T, unknown>>;
  /** Results received and not yet taken. */
  readonly pending: number;
  close(): void;
}

/** How often a client's socket opened and closed. */
export interface SocketCounts {
  opened: number;
  closed: number;
}

export interface ConnectionOutcome {
  acknowledged: boolean;
  closeCode?: number;
  closeReason?: string;
}

export interface WsClients {
  /**
   * A graphql-ws client that sends `Bearer <token>` in connectionParams (none when null). With
   * `sockets`, it counts there how often its socket opened and closed; `headers` go with the
   * upgrade request (`X-Forwarded-For`, say).
   */
  connect(
    token: string | null,
    options?: {
      connectionParams?: Record<string, unknown>;
      sockets?: SocketCounts;
      headers?: Record<string, string>;
    },
  ): Client;
  /** Whether a connection with these params is acknowledged, or how it is closed. */
  connectionOutcome(
    connectionParams: Record<string, unknown> | undefined,
  ): Promise<ConnectionOutcome>;
  subscribe<T = Record<string, any>>(
    client: Client,
    query: string,
    variables?: Record<string, unknown>,
  ): LiveSubscription<T>;
  /** Runs a query or mutation over the socket and returns its single result. */
  execute(
    client: Client,
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<FormattedExecutionResult<Record<string, any>, unknown>>;
  closeAll(): Promise<void>;
}

export class SubscriptionError extends Error {
  constructor(
    readonly errors: readonly { message: string; extensions?: Record<string, unknown> }[],
  ) {
    super(`subscription failed: ${JSON.stringify(errors)}`);
  }
}

export function createWsClients(url: string): WsClients {
  const clients = new Set<Client>();

  const connect: WsClients['connect'] = (token, options = {}) => {
    const { headers } = options;
    const client = createClient({
      url,
      webSocketImpl: headers
        ? class extends WebSocket {
            constructor(address: string, protocols?: string | string[]) {
              super(address, protocols, { headers });
            }
          }
        : WebSocket,
      retryAttempts: 0,
      lazy: true,
      // Keep the socket between operations, as an app would; closeAll() disposes it.
      lazyCloseTimeout: 60_000,
      connectionParams: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...options.connectionParams,
      },
      ...(options.sockets
        ? {
            on: {
              connected: () => (options.sockets!.opened += 1),
              closed: () => (options.sockets!.closed += 1),
            },
          }
        : {}),
    });
    clients.add(client);
    return client;
  };

  const subscribe: WsClients['subscribe'] = <T>(
    client: Client,
    query: string,
    variables?: Record<string, unknown>,
  ) => {
    const results: FormattedExecutionResult<T, unknown>[] = [];
    let failure: Error | undefined;
    let waiter: { resolve: () => void } | undefined;
    const wake = () => {
      waiter?.resolve();
      waiter = undefined;
    };
    const dispose = client.subscribe<T>(
      { query, ...(variables ? { variables } : {}) },
      {
        next: (result) => {
          results.push(result);
          wake();
        },
        error: (error: unknown) => {
          if (Array.isArray(error)) {
            failure = new SubscriptionError(error as { message: string }[]);
          } else if (error instanceof Error) {
            failure = error;
          } else {
            const { code, reason } = (error ?? {}) as { code?: number; reason?: string };
            failure = Object.assign(new Error(`socket closed: ${code} ${reason}`), {
              closeCode: code,
            });
          }
          wake();
        },
        complete: () => {
          failure ??= new Error('the subscription completed');
          wake();
        },
      },
    );
    return {
      async next(timeoutMs = 10_000) {
        const deadline = Date.now() + timeoutMs;
        while (results.length === 0) {
          if (failure) throw failure;
          const remaining = deadline - Date.now();
          if (remaining <= 0) throw new Error(`no subscription event within ${timeoutMs} ms`);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, remaining);
            waiter = {
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            };
          });
        }
        return results.shift()!;
      },
      get pending() {
        return results.length;
      },
      close: dispose,
    };
  };

  return {
    connect,
    subscribe,
    async execute(client, query, variables) {
      const subscription = subscribe(client, query, variables);
      try {
        return await subscription.next();
      } catch (error) {
        if (error instanceof SubscriptionError) return { errors: error.errors };
        throw error;
      } finally {
        subscription.close();
      }
    },
    connectionOutcome(connectionParams) {
      return new Promise((resolve) => {
        const client = createClient({
          url,
          webSocketImpl: WebSocket,
          retryAttempts: 0,
          lazy: false,
          // The close is the outcome under test, not an error to print.
          onNonLazyError: () => undefined,
          ...(connectionParams ? { connectionParams } : {}),
          on: {
            connected: () => {
              resolve({ acknowledged: true });
              void client.dispose();
            },
            closed: (event) => {
              const { code, reason } = event as { code: number; reason: string };
              resolve({ acknowledged: false, closeCode: code, closeReason: String(reason) });
            },
          },
        });
        clients.add(client);
      });
    },
    async closeAll() {
      await Promise.all(
        [...clients].map(async (client) => {
          await client.dispose();
        }),
      );
      clients.clear();
    },
  };
}
