/**
 * Where Redis memory goes: every key of a namespace, grouped into families by its name with the
 * ids taken out (`<ns>:m:tl:{<hex>}` → `m:tl:{<id>}`), with each family's keys, elements and bytes
 * (MEMORY USAGE, which samples the elements of big keys). SCAN, never KEYS: the server keeps
 * answering while it is counted.
 */
import type { Redis } from 'ioredis';

export interface KeyFamily {
  family: string;
  type: string;
  keys: number;
  /** Members, fields, entries or bytes (for a string), summed. */
  elements: number;
  bytes: number;
  /** The biggest key of the family, by bytes. */
  largest: { key: string; bytes: number; elements: number };
}

/** A key name with its ids, numbers and addresses replaced, so that a family is one name. */
export function familyOf(key: string, namespace: string): string {
  const rest = key.startsWith(`${namespace}:`) ? key.slice(namespace.length + 1) : key;
  return rest
    .split(':')
    .map((segment) => {
      if (/^\{?[0-9a-f]{24}\}?$/.test(segment)) return segment.startsWith('{') ? '{<id>}' : '<id>';
      if (/^-?\d+$/.test(segment)) return '<n>';
      if (segment.includes('@')) return '<email>';
      if (/^[0-9a-f-]{32,}$/i.test(segment)) return '<token>';
      if (/\d/.test(segment) && segment.length > 3) return '<name>';
      return segment;
    })
    .join(':');
}

const cardinality: Record<string, string> = {
  zset: 'zcard',
  set: 'scard',
  hash: 'hlen',
  list: 'llen',
  string: 'strlen',
  stream: 'xlen',
};

/** Every key of `namespace`, by family, biggest family first. */
export async function redisFootprint(redis: Redis, namespace: string): Promise<KeyFamily[]> {
  const families = new Map<string, KeyFamily>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 2_000);
    cursor = next;
    if (keys.length === 0) continue;
    const types = (await redis.pipeline(keys.map((key) => ['type', key])).exec())!.map(([, type]) =>
      String(type),
    );
    const figures = (await redis
      .pipeline(
        keys.flatMap((key, k) => [
          ['memory', 'usage', key],
          [cardinality[types[k]!] ?? 'exists', key],
        ]),
      )
      .exec())!.map(([, value]) => Number(value ?? 0));
    keys.forEach((key, k) => {
      const name = familyOf(key, namespace);
      const bytes = figures[2 * k]!;
      const elements = figures[2 * k + 1]!;
      let family = families.get(name);
      if (!family) {
        family = {
          family: name,
          type: types[k]!,
          keys: 0,
          elements: 0,
          bytes: 0,
          largest: { key, bytes, elements },
        };
        families.set(name, family);
      }
      family.keys += 1;
      family.elements += elements;
      family.bytes += bytes;
      if (bytes > family.largest.bytes) family.largest = { key, bytes, elements };
    });
  } while (cursor !== '0');
  return [...families.values()].sort((a, b) => b.bytes - a.bytes);
}
