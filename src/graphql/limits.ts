import { ApolloServerValidationErrorCode } from '@apollo/server/errors';
import {
  GraphQLError,
  Kind,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { ErrorCode } from './errors.js';

/** Limits applied to every document, on HTTP and WebSocket alike. */
export interface DocumentLimits {
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
}

function limitError(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.GRAPHQL_VALIDATION_FAILED } });
}

/**
 * Rejects operations nested deeper than `maxDepth` fields. Fragments are followed, each at
 * most once per path, so a fragment cycle (which validation also reports) cannot recurse
 * forever, and each fragment's depth is measured once per document: followed anew at every
 * spread, twenty fragments that each spread the next twice took a second (a million visits).
 * The rule reports errors and never throws: on graphql-ws a throwing rule closes the socket
 * with 4500.
 *
 * Introspection (`__schema`, `__type`) is not counted: the standard introspection query that
 * every IDE sends nests `ofType` about ten levels deep, it never touches the database, and the
 * token limit and GRAPHQL_INTROSPECTION bound it instead.
 */
export function depthLimitRule(maxDepth: number): ValidationRule {
  return (context: ValidationContext) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        fragments.set(definition.name.value, definition);
      }
    }

    // A fragment's depth does not depend on where it is spread (inside a cycle it may be
    // undercounted, but a document with a cycle is refused anyway).
    const fragmentDepths = new Map<string, number>();
    const depthOf = (selectionSet: SelectionSetNode, visiting: Set<string>): number => {
      let deepest = 0;
      for (const selection of selectionSet.selections) {
        let depth = 0;
        if (selection.kind === Kind.FIELD) {
          const name = selection.name.value;
          if (name === '__schema' || name === '__type') continue;
          depth = selection.selectionSet ? 1 + depthOf(selection.selectionSet, visiting) : 1;
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          depth = depthOf(selection.selectionSet, visiting);
        } else {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          const known = fragmentDepths.get(name);
          if (known !== undefined) {
            depth = known;
          } else if (fragment && !visiting.has(name)) {
            visiting.add(name);
            depth = depthOf(fragment.selectionSet, visiting);
            visiting.delete(name);
            fragmentDepths.set(name, depth);
          }
        }
        if (depth > deepest) deepest = depth;
        if (deepest > maxDepth) return deepest;
      }
      return deepest;
    };

    return {
      OperationDefinition(operation) {
        const depth = depthOf(operation.selectionSet, new Set());
        if (depth > maxDepth) {
          context.reportError(
            limitError(
              `The operation is nested more than ${maxDepth} levels deep, the most Verity allows.`,
            ),
          );
        }
      },
    };
  };
}

/** Rejects documents with more than `maxAliases` aliased fields (alias-based amplification). */
export function aliasLimitRule(maxAliases: number): ValidationRule {
  return (context: ValidationContext) => {
    let aliases = 0;
    let reported = false;
    return {
      Field(node) {
        if (!node.alias) return;
        aliases += 1;
        if (aliases > maxAliases && !reported) {
          reported = true;
          context.reportError(
            limitError(
              `The document uses more than ${maxAliases} aliases, the most Verity allows.`,
            ),
          );
        }
      },
    };
  };
}

/**
 * Refuses `__schema` and `__type` (but not `__typename`) when GRAPHQL_INTROSPECTION is off, for
 * the WebSocket path: over HTTP Apollo's `introspection` option adds its own rule, and
 * graphql-ws applies none of Apollo's settings. The error carries Apollo's
 * `validationErrorCode`, so a client sees the same refusal on both transports.
 */
export const noIntrospectionRule: ValidationRule = (context) => ({
  Field(node) {
    const name = node.name.value;
    if (name !== '__schema' && name !== '__type') return;
    context.reportError(
      new GraphQLError(
        `GraphQL introspection is disabled on this server, but the operation selects ${name}.`,
        {
          nodes: [node],
          extensions: {
            code: ErrorCode.GRAPHQL_VALIDATION_FAILED,
            validationErrorCode: ApolloServerValidationErrorCode.INTROSPECTION_DISABLED,
          },
        },
      ),
    );
  },
});

/** The validation rules that enforce `limits`, in addition to the GraphQL specification's. */
export function limitRules(limits: DocumentLimits): ValidationRule[] {
  return [depthLimitRule(limits.maxDepth), aliasLimitRule(limits.maxAliases)];
}
