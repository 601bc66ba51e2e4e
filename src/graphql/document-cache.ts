import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  SingleFieldSubscriptionsRule,
  parse,
  specifiedRules,
  validate,
  type DirectiveNode,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { ErrorCode } from './errors.js';

/**
 * The first `@skip` or `@include` among a selection set's own fields and fragments, if any:
 * on a subscription's root, what graphql-js 16's validation cannot check (see below).
 */
export function rootSkipOrInclude(
  selectionSet: SelectionSetNode,
  document: DocumentNode,
  visited = new Set<string>(),
): DirectiveNode | undefined {
  for (const selection of selectionSet.selections) {
    const directive = selection.directives?.find(
      (d) => d.name.value === 'skip' || d.name.value === 'include',
    );
    if (directive) return directive;
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      const found = rootSkipOrInclude(selection.selectionSet, document, visited);
      if (found) return found;
    } else if (selection.kind === Kind.FRAGMENT_SPREAD && !visited.has(selection.name.value)) {
      visited.add(selection.name.value);
      const fragment = document.definitions.find(
        (d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value,
      );
      const found =
        fragment?.kind === Kind.FRAGMENT_DEFINITION
          ? rootSkipOrInclude(fragment.selectionSet, document, visited)
          : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * graphql-js 16's SingleFieldSubscriptionsRule, with `@skip` and `@include` refused on a
 * subscription's root fields first, as the GraphQL specification's later drafts (and
 * graphql-js 17) refuse them. The rule applies them with no variables: it throws for one with a
 * variable or a wrong `if`, and passes a subscription whose only field they skip, whose
 * execution then fails inside graphql-js (an internal error).
 */
const singleFieldSubscriptionsRule: ValidationRule = (context) => {
  const original = SingleFieldSubscriptionsRule(context) as {
    OperationDefinition: (node: OperationDefinitionNode) => void;
  };
  return {
    OperationDefinition(node) {
      if (node.operation === OperationTypeNode.SUBSCRIPTION) {
        const directive = rootSkipOrInclude(node.selectionSet, context.getDocument());
        if (directive) {
          context.reportError(
            new GraphQLError(`A subscription's root field may not use @${directive.name.value}.`, {
              nodes: directive,
            }),
          );
          return;
        }
      }
      original.OperationDefinition(node);
    },
  };
};

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
  const rules = [
    ...specifiedRules.map((rule) =>
      rule === SingleFieldSubscriptionsRule ? singleFieldSubscriptionsRule : rule,
    ),
    ...options.rules,
  ];
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
