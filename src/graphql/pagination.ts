import { badUserInput, validateTogether } from '../lib/errors.js';
import { opaqueId } from '../lib/ids.js';

/** The page size when a client gives none, and the most it may ask for. */
export const defaultPageSize = 20;
export const maxPageSize = 100;

/** A forward page request, validated: `after` is the decoded ObjectId hex of the cursor. */
export interface PageRequest {
  first: number;
  after: string | null;
}

const cursorPrefix = 'v1:';

/** An opaque cursor for an item whose position is its ObjectId. */
export function encodeCursor(idHex: string): string {
  return opaqueId(`${cursorPrefix}${idHex}`);
}

/** The ObjectId hex inside a cursor Verity issued; BAD_USER_INPUT for anything else. */
export function decodeCursor(cursor: string, field = 'after'): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = decoded.startsWith(cursorPrefix) ? decoded.slice(cursorPrefix.length) : '';
  if (!/^[0-9a-f]{24}$/.test(id)) throw badUserInput('That cursor is not valid.', field);
  return id;
}

/** Validates `first` (1..100) and decodes `after`. */
export function pageRequest(args: { first?: number | null; after?: string | null }): PageRequest {
  const [first, after] = validateTogether(
    () => {
      const first = args.first ?? defaultPageSize;
      if (!Number.isInteger(first) || first < 1 || first > maxPageSize) {
        throw badUserInput(`first must be from 1 to ${maxPageSize}.`, 'first');
      }
      return first;
    },
    () => (args.after ? decodeCursor(args.after) : null),
  );
  return { first, after };
}

/** What services return for a page: `first` items at most, and whether more exist. */
export interface Page<T> {
  items: T[];
  hasNextPage: boolean;
}

/**
 * A Relay connection from a page. `cursorOf` gives each item's position id; forward
 * pagination only, so `hasPreviousPage` says whether the page started after a cursor.
 */
export function toConnection<T>(
  page: Page<T>,
  request: PageRequest,
  cursorOf: (item: T) => string,
) {
  const edges = page.items.map((node) => ({ node, cursor: encodeCursor(cursorOf(node)) }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: request.after !== null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
