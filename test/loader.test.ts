import DataLoader from 'dataloader';
import { describe, expect, it } from 'vitest';
import { createLoader, whenLoaded } from '../src/graphql/loader.js';

/** src/graphql/loader.ts: values already in the process come back synchronously. */
describe('loaders in front of the process copies', () => {
  const setup = (cache: boolean) => {
    const stored = new Map([
      ['a', 'A'],
      ['b', 'B'],
      ['c', 'C'],
    ]);
    const held = new Map<string, string>();
    const batches: string[][] = [];
    const batch = new DataLoader<string, string>(
      (keys) => {
        batches.push([...keys]);
        return Promise.resolve(keys.map((key) => stored.get(key) ?? new Error(`no ${key}`)));
      },
      { cache },
    );
    const loader = createLoader(batch, (key) => held.get(key), { cache });
    return { loader, held, stored, batches };
  };

  it('answers held values synchronously and batches the rest', async () => {
    const { loader, held, batches } = setup(true);
    held.set('a', 'A (held)');
    expect(loader.load('a')).toBe('A (held)');
    const b = loader.load('b');
    const c = loader.load('c');
    expect(b).toBeInstanceOf(Promise);
    expect(await Promise.all([b, c])).toEqual(['B', 'C']);
    expect(batches).toEqual([['b', 'c']]);
    expect(whenLoaded(loader.load('a'), (value) => `${value}!`)).toBe('A (held)!');
    expect(await whenLoaded(loader.load('b'), (value) => `${value}!`)).toBe('B!');
  });

  it('keeps the first value seen for a key for the rest of a caching scope', async () => {
    const { loader, held, stored } = setup(true);
    held.set('a', 'first');
    expect(loader.load('a')).toBe('first');
    held.set('a', 'second');
    expect(loader.load('a')).toBe('first');

    expect(await loader.load('b')).toBe('B');
    held.set('b', 'held later');
    stored.set('b', 'changed');
    // Seen once, now synchronous, and still the same value.
    expect(loader.load('b')).toBe('B');

    loader.prime('c', 'primed');
    expect(loader.load('c')).toBe('primed');
  });

  it('reads again on every load when the scope does not cache', async () => {
    const { loader, held, stored } = setup(false);
    held.set('a', 'first');
    expect(loader.load('a')).toBe('first');
    held.set('a', 'second');
    expect(loader.load('a')).toBe('second');
    expect(await loader.load('b')).toBe('B');
    stored.set('b', 'changed');
    expect(await loader.load('b')).toBe('changed');
  });

  it('reads a key found missing (null) once per caching scope, by load or by loadMany', async () => {
    const reads: string[][] = [];
    const batch = new DataLoader<string, string | null>(
      (keys) => {
        reads.push([...keys]);
        return Promise.resolve(keys.map((key) => (key === 'a' ? 'A' : null)));
      },
      { cache: false },
    );
    const loader = createLoader(batch, () => undefined, { cache: true });
    expect(await loader.loadMany(['a', 'gone'])).toEqual(['A', null]);
    expect(loader.load('gone')).toBeNull();
    expect(await loader.loadMany(['gone', 'a'])).toEqual([null, 'A']);
    expect(reads).toEqual([['a', 'gone']]);
  });

  it('puts an Error in place of what failed to load, as DataLoader does', async () => {
    const { loader, held } = setup(true);
    held.set('a', 'A');
    const [a, missing, b] = await loader.loadMany(['a', 'zz', 'b']);
    expect(a).toBe('A');
    expect(missing).toBeInstanceOf(Error);
    expect(b).toBe('B');
  });
});
