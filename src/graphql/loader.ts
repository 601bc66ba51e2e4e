/**
 * What resolvers load through: a batch loader (DataLoader) in front of which values this process
 * already holds (src/infra/near-cache.ts) are answered synchronously, with no batch, no promise
 * and no microtask. On a warm feed page that is nearly every field with data, and graphql-jit's
 * compiled code keeps a field that resolves synchronously on its synchronous path.
 *
 * With `cache` (one HTTP request, or one live event), the first value seen for a key is the
 * value for the rest of the scope, as with DataLoader's own cache: a change that arrives in the
 * middle of a response does not show one truth with two different counts.
 */
export interface Loader<V> {
  load(key: string): V | Promise<V>;
  /** Like DataLoader's: an Error in place of a value that failed to load. */
  loadMany(keys: readonly string[]): Promise<(V | Error)[]>;
  prime(key: string, value: V): void;
}

/** The value of `key` if it is already in this process, else undefined. */
export type Peek<V> = (key: string) => V | undefined;

export function createLoader<V>(
  batch: { load(key: string): Promise<V> },
  peek: Peek<V>,
  options: { cache: boolean },
): Loader<V> {
  const seen = options.cache ? new Map<string, V>() : null;
  /** The value of `key` if this scope or this process already holds it, else undefined. */
  const held = (key: string): V | undefined => {
    if (seen?.has(key)) return seen.get(key)!;
    const near = peek(key);
    if (near !== undefined) seen?.set(key, near);
    return near;
  };
  const fetch = (key: string): Promise<V> => {
    if (!seen) return batch.load(key);
    return batch.load(key).then((value) => {
      if (!seen.has(key)) seen.set(key, value);
      return seen.get(key)!;
    });
  };
  const load = (key: string): V | Promise<V> => {
    // Not `??`: a value held may be null (a user who does not exist).
    const value = held(key);
    return value !== undefined ? value : fetch(key);
  };
  return {
    load,
    // One promise for the list and one per key that must be read: a list of people or truths
    // this process has not seen is read key by key through the batch, and one it holds costs
    // no promise per key.
    loadMany(keys) {
      const values: (V | Error)[] = new Array<V | Error>(keys.length);
      const reads: Promise<void>[] = [];
      keys.forEach((key, i) => {
        const value = held(key);
        if (value !== undefined) {
          values[i] = value;
          return;
        }
        reads.push(
          fetch(key).then(
            (loaded) => {
              values[i] = loaded;
            },
            (error: unknown) => {
              values[i] = error instanceof Error ? error : new Error(String(error));
            },
          ),
        );
      });
      return reads.length === 0 ? Promise.resolve(values) : Promise.all(reads).then(() => values);
    },
    prime(key, value) {
      // `load` looks in `seen` before the batch loader, whose cache a primed key never reaches.
      if (seen && !seen.has(key)) seen.set(key, value);
    },
  };
}

/** `then` for a value that may already be there: synchronous when it is. */
export function whenLoaded<V, R>(value: V | Promise<V>, next: (loaded: V) => R): R | Promise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}
