import type {
  GatewayExecutionResult,
  GatewayExecutor,
  GatewayInterface,
  GatewaySchemaLoadOrUpdateCallback,
} from '@apollo/server-gateway-interface';
import {
  GraphQLError,
  OperationTypeNode,
  execute,
  printSchema,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';

/** A compile that failed, remembered so the document is not compiled again. */
const notCompilable = Symbol('not compilable');

/**
 * graphql-jit's errors leave `extensions` undefined where graphql-js always sets an object, and
 * Apollo's error formatting relies on it (graphql-jit#234): rebuilt as graphql-js errors.
 */
function asGraphQLJsError(error: GraphQLError): GraphQLError {
  const rebuilt = new GraphQLError(error.message, {
    path: error.path,
    originalError: error.originalError,
    ...(error.extensions ? { extensions: error.extensions } : {}),
  });
  (rebuilt as { locations?: GraphQLError['locations'] }).locations = error.locations;
  return rebuilt;
}

/**
 * How Apollo Server runs HTTP operations: queries that are asked for again and again run as
 * JavaScript compiled for their exact selection (graphql-jit), everything else through graphql-js.
 *
 * graphql-js walks the document for every field of every result: a home feed page (some 400
 * fields) spends most of its execution time there, not in resolvers. A compiled query does that
 * walk once. Compiling costs far more than one execution, so a document compiles only once it
 * has been asked for `compileAfter` times (one-off documents never pay for it; 0 never compiles),
 * and compiled queries are kept in a bounded LRU keyed by Apollo's hash of the query text and the
 * operation name. Only queries compile: they have no side effects, so a query whose variables
 * the compiled form rejects is simply run again through graphql-js, which words the errors as
 * clients see them everywhere else. Mutations and subscriptions always take graphql-js.
 *
 * Apollo Server 5 takes a custom executor through its `gateway` option (its migration guide's
 * replacement for the removed `executor`); parsing, validation, the document cache, plugins and
 * error formatting stay Apollo's.
 */
export function createCompiledExecutionGateway(
  schema: GraphQLSchema,
  options: { compileAfter: number; maxCompiledQueries: number },
): GatewayInterface {
  const { compileAfter, maxCompiledQueries } = options;
  /** How often each not yet compiled document has been asked for. */
  const sightings = new LRUCache<string, number>({ max: maxCompiledQueries * 4 });
  const compiled = new LRUCache<string, CompiledQuery | typeof notCompilable>({
    max: maxCompiledQueries,
  });
  let onSchema: GatewaySchemaLoadOrUpdateCallback | undefined;

  const compiledFor = (
    key: string,
    request: Parameters<GatewayExecutor>[0],
  ): CompiledQuery | undefined => {
    if (compileAfter === 0) return undefined;
    const known = compiled.get(key);
    if (known) return known === notCompilable ? undefined : known;
    const seen = (sightings.get(key) ?? 0) + 1;
    if (seen < compileAfter) {
      sightings.set(key, seen);
      return undefined;
    }
    sightings.delete(key);
    const result = compileQuery(schema, request.document, request.operationName ?? undefined, {
      disablingCapturingStackErrors: true,
    });
    const query = isCompiledQuery(result) ? result : undefined;
    compiled.set(key, query ?? notCompilable);
    return query;
  };

  const executor: GatewayExecutor = async (request) => {
    const runWithGraphQLJs = () =>
      execute({
        schema,
        document: request.document,
        contextValue: request.context,
        variableValues: request.request.variables,
        operationName: request.operationName,
      }) as GatewayExecutionResult | Promise<GatewayExecutionResult>;

    // No operation: graphql-js reports why (several operations and no name, or no such name).
    const operation = request.operation as OperationDefinitionNode | undefined;
    if (operation?.operation !== OperationTypeNode.QUERY) return runWithGraphQLJs();
    const query = compiledFor(`${request.queryHash}:${request.operationName ?? ''}`, request);
    if (!query) return runWithGraphQLJs();
    const result = await query.query(undefined, request.context, request.request.variables ?? {});
    // Rejected variables: no resolver ran; graphql-js words the errors as it does elsewhere.
    if (!('data' in result) && result.errors) return runWithGraphQLJs();
    return result.errors ? { ...result, errors: result.errors.map(asGraphQLJsError) } : result;
  };

  return {
    onSchemaLoadOrUpdate(callback) {
      onSchema = callback;
      return () => {
        onSchema = undefined;
      };
    },
    load() {
      onSchema?.({ apiSchema: schema, coreSupergraphSdl: printSchema(schema) });
      return Promise.resolve({ executor });
    },
    stop: () => Promise.resolve(),
  };
}
