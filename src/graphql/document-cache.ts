import {
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { ErrorCode } from './errors.js';

export type PreparedDocument =
  | { readonly ok: true; readonly document: DocumentNode }
  | { readonly ok: false; readonly errors: readonly GraphQLError[] };

/**
 * Parses and validates documents once per distinct source text, for the WebSocket path (Apollo
 * keeps its own cache for HTTP). Validation depends only on the schema and the rules, both fixed
 * for the cache's life, so failures are cached too. Bounded by total source length.
 */
export function createDocumentCache(options: {
  schema: GraphQLSchema;
  rules: readonly ValidationRule[];
  maxTokens: number;
  maxSourceBytes?: number;
}) {
  const rules = [...specifiedRules, ...options.rules];
  const cache = new LRUCache<string, PreparedDocument>({
    maxSize: options.maxSourceBytes ?? 8 * 1024 * 1024,
    sizeCalculation: (_value, key) => Math.max(1, key.length),
  });

  return {
    prepare(source: string): PreparedDocument {
      const cached = cache.get(source);
      if (cached) return cached;
      let prepared: PreparedDocument;
      try {
        const document = parse(source, { maxTokens: options.maxTokens });
        const errors = validate(options.schema, document, rules);
        prepared =
          errors.length === 0
            ? { ok: true, document }
            : {
                ok: false,
                errors: errors.map(
                  (error) =>
                    new GraphQLError(error.message, {
                      nodes: error.nodes ?? null,
                      extensions: {
                        ...error.extensions,
                        code: ErrorCode.GRAPHQL_VALIDATION_FAILED,
                      },
                    }),
                ),
              };
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        prepared = {
          ok: false,
          errors: [
            new GraphQLError(error.message, {
              extensions: { code: ErrorCode.GRAPHQL_PARSE_FAILED },
            }),
          ],
        };
      }
      cache.set(source, prepared);
      return prepared;
    },
    get size() {
      return cache.size;
    },
  };
}

export type DocumentCache = ReturnType<typeof createDocumentCache>;
