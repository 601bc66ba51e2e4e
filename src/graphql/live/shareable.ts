import {
  BREAK,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';

const cache = new WeakMap<DocumentNode, boolean>();

/**
 * Whether every subscriber of `document` may receive the same result for the same event: true
 * unless it selects a field marked `@perViewer` in the schema (anywhere in the document, which
 * errs on the side of executing per subscriber). Cached per parsed document.
 */
export function isShareable(schema: GraphQLSchema, document: DocumentNode): boolean {
  const cached = cache.get(document);
  if (cached !== undefined) return cached;
  const typeInfo = new TypeInfo(schema);
  let shareable = true;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        const field = typeInfo.getFieldDef();
        if (field?.astNode?.directives?.some((directive) => directive.name.value === 'perViewer')) {
          shareable = false;
          return BREAK;
        }
        return undefined;
      },
    }),
  );
  cache.set(document, shareable);
  return shareable;
}

/** Variables in a canonical JSON form (keys sorted at every level), for grouping operations. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}
