import {
  BREAK,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import { isSpliceableType } from './splice.js';

/**
 * How subscribers of one operation may share an event's execution:
 * - `shared`: it selects no `@perViewer` field; every subscriber gets the same bytes;
 * - `spliced`: its only `@perViewer` fields are leaves (scalars, enums); one execution, and
 *   each subscriber gets the shared bytes with its own values spliced in (./splice.ts);
 * - `personal`: it selects a `@perViewer` field with a selection of its own (`me`, a page of a
 *   feed); it executes once per subscriber.
 * Decided over the whole document (which errs on the side of less sharing), once per parsed
 * document.
 */
export type LiveShape = 'shared' | 'spliced' | 'personal';

const cache = new WeakMap<DocumentNode, LiveShape>();

export function liveShape(schema: GraphQLSchema, document: DocumentNode): LiveShape {
  const cached = cache.get(document);
  if (cached !== undefined) return cached;
  const typeInfo = new TypeInfo(schema);
  let shape: LiveShape = 'shared';
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        const field = typeInfo.getFieldDef();
        if (!field?.astNode?.directives?.some((directive) => directive.name.value === 'perViewer'))
          return undefined;
        if (!isSpliceableType(field.type)) {
          shape = 'personal';
          return BREAK;
        }
        shape = 'spliced';
        return undefined;
      },
    }),
  );
  cache.set(document, shape);
  return shape;
}

/** Variables in a canonical JSON form (keys sorted at every level), for grouping operations. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}
