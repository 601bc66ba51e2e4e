/**
 * Redis Cluster hash slots, computed here as Redis computes them (CRC16-XMODEM of the key's hash
 * tag, or of the whole key when it has none, modulo 16,384), so that Verity can group keys by
 * slot before it sends them: a Lua script or a multi-key command must keep every key in one.
 *
 * Verity's keys carry hash tags on a single Redis too (harmless there), so one naming serves
 * both: a key's tag is the id of the entity it belongs to (`{<userId>}`, `{<truthId>}`), and
 * keys that scripts combine without an entity share a named tag (`{waitlist}`, `{mod}`).
 */

export const slotCount = 16_384;

const table = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  table[i] = crc & 0xffff;
}

function crc16(text: string, from: number, to: number): number {
  let crc = 0;
  // Keys are ASCII almost always; others are hashed over their UTF-8 bytes, as Redis does.
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      crc = ((crc << 8) ^ table[((crc >> 8) ^ code) & 0xff]!) & 0xffff;
      continue;
    }
    for (const byte of Buffer.from(text.slice(i, i + 1))) {
      crc = ((crc << 8) ^ table[((crc >> 8) ^ byte) & 0xff]!) & 0xffff;
    }
  }
  return crc;
}

/** The hash slot of `key` (its `{tag}` if it has a non-empty one). */
export function slotOf(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(key, open + 1, close) % slotCount;
  }
  return crc16(key, 0, key.length) % slotCount;
}

let tags: string[] | undefined;

/**
 * A short hash tag whose slot is `slot` (`{<tag>}` in a key puts the key there): the per-slot
 * keys and channels of the read model (its completeness markers, its publication channels).
 */
export function tagOfSlot(slot: number): string {
  if (!tags) {
    const found: string[] = new Array<string>(slotCount);
    let missing = slotCount;
    for (let i = 0; missing > 0; i++) {
      const tag = `s${i.toString(36)}`;
      const at = crc16(tag, 0, tag.length) % slotCount;
      if (found[at] === undefined) {
        found[at] = tag;
        missing--;
      }
    }
    tags = found;
  }
  return tags[slot]!;
}

/** The slot every key of `keys` is in; throws when they span several (a Redis CROSSSLOT). */
export function commonSlot(keys: readonly string[]): number {
  const slot = keys.length > 0 ? slotOf(keys[0]!) : 0;
  for (let i = 1; i < keys.length; i++) {
    if (slotOf(keys[i]!) !== slot) {
      throw new Error(`keys in different hash slots: ${keys[0]} and ${keys[i]}`);
    }
  }
  return slot;
}

/** `items` grouped by the slot `keyOf` gives each, in their order within each group. */
export function groupBySlot<T>(items: readonly T[], keyOf: (item: T) => string): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = slotOf(keyOf(item));
    const group = groups.get(slot);
    if (group) group.push(item);
    else groups.set(slot, [item]);
  }
  return groups;
}
