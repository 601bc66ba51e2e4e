/** Where a session token is kept: `localStorage` in a browser, memory in Node or tests. */
export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * The session token the client sends: `Authorization: Bearer <token>` over HTTP and
 * `{ authorization: "Bearer <token>" }` in the graphql-ws `connectionParams`. Listeners hear of
 * every change (sign-in, renewal, sign-out) after it is stored.
 */
export interface TokenStore {
  get(): string | null;
  set(token: string | null): void;
  /** Calls `listener(next, previous)` after each change; returns the unsubscribe function. */
  subscribe(listener: (next: string | null, previous: string | null) => void): () => void;
}

/** A token store over `storage` (by default in memory), under `key`. */
export function createTokenStore(
  options: { storage?: TokenStorage; key?: string } = {},
): TokenStore {
  const key = options.key ?? 'verity.token';
  const memory = new Map<string, string>();
  const storage: TokenStorage = options.storage ?? {
    getItem: (name) => memory.get(name) ?? null,
    setItem: (name, value) => void memory.set(name, value),
    removeItem: (name) => void memory.delete(name),
  };
  const listeners = new Set<(next: string | null, previous: string | null) => void>();
  return {
    get: () => storage.getItem(key),
    set(token) {
      const previous = storage.getItem(key);
      if (token === previous) return;
      if (token === null) storage.removeItem(key);
      else storage.setItem(key, token);
      for (const listener of [...listeners]) listener(token, previous);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
