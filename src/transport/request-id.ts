import { randomUUID } from 'node:crypto';

/** The header that carries a request's id in and out (HTTP requests, WebSocket upgrades). */
export const requestIdHeader = 'X-Request-Id';

/**
 * A client's or proxy's id is kept when it is sane: 1 to 128 letters, digits or `_ . : = + / @ -`
 * (UUIDs, trace ids, load balancers' ids), nothing that could forge a log line or a header.
 */
const saneRequestId = /^[\w.:=+/@-]{1,128}$/;

/**
 * A new UUID as one flat string. `randomUUID()` builds its text by concatenation, which V8 keeps
 * as a tree of some 25 string pieces (about 850 bytes); a subscription holds two of these ids
 * (its connection's and its own) for its whole life, so they are copied out flat once.
 */
const newRequestId = () => Buffer.from(randomUUID(), 'latin1').toString('latin1');

/** The incoming id if it is a sane one, else a new UUID. */
export function requestIdFrom(incoming: unknown): string {
  return typeof incoming === 'string' && saneRequestId.test(incoming) ? incoming : newRequestId();
}
