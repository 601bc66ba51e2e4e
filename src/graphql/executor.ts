import type {
  GatewayExecutionResult,
  GatewayInterface,
  GatewaySchemaLoadOrUpdateCallback,
} from '@apollo/server-gateway-interface';
import {
  GraphQLError,
  OperationTypeNode,
  execute,
  getOperationAST,
  printSchema,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
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

export interface ExecutorOptions {
  /** Compile a document's operation once it has run this many times; 0 never compiles. */
  compileAfter: number;
  /** Compiled operations kept (least recently used go first). */
  maxCompiled: number;
  /** The kinds of operation that may compile (the others always run on graphql-js). */
  compiles: readonly OperationTypeNode[];
}

/**
 * Runs operations, compiled once they are hot, otherwise through graphql-js. Like graphql-js's
 * `execute`, it answers at once (no promise) when every resolver did: a live event's execution
 * for one subscriber (a waitlist position) then costs no promise and no later turn.
 */
export type Executor = (
  args: ExecutionArgs,
  operation?: OperationDefinitionNode | null,
) => PromiseOrValue<ExecutionResult>;

export type PromiseOrValue<T> = T | Promise<T>;

export const isPromise = <T>(value: PromiseOrValue<T>): value is Promise<T> =>
  typeof (value as { then?: unknown } | null)?.then === 'function';

/**
 * Executes operations as graphql-js would, running the hot ones as JavaScript compiled for their
 * exact selection (graphql-jit).
 *
 * graphql-js walks the document for every field of every result: a home feed page (some 400
 * fields) spends most of its execution time there, not in resolvers; so does every subscriber's
 * execution of an event with per-viewer fields. A compiled operation does that walk once.
 * Compiling costs far more than one execution, so an operation compiles only once it has run
 * `compileAfter` times (one-off documents never pay for it), and compiled operations are kept
 * in a bounded LRU keyed by the document object (both transports keep one object per cached
 * document text) and the operation name.
 *
 * Executions must be free of side effects (queries, subscription events): a result with errors
 * and no data (variables the compiled form rejects, before any resolver ran) is produced again by
 * graphql-js, which words errors as clients see them everywhere else.
 */
export function createExecutor(schema: GraphQLSchema, options: ExecutorOptions): Executor {
  const { compileAfter, maxCompiled, compiles } = options;
  // Keyed by document object, then operation name. Runs are counted apart, so that a stream of
  // one-off documents cannot push hot compiled operations out.
  const compiled = new LRUCache<DocumentNode, Map<string, CompiledQuery | typeof notCompilable>>({
    max: maxCompiled,
  });
  const runs = new LRUCache<DocumentNode, Map<string, number>>({ max: maxCompiled * 4 });

  /** Counts a run of an operation that may compile, and compiles it once it is hot. */
  const compileWhenHot = (args: ExecutionArgs, name: string): CompiledQuery | undefined => {
    let counts = runs.get(args.document);
    if (!counts) runs.set(args.document, (counts = new Map()));
    const count = (counts.get(name) ?? 0) + 1;
    counts.set(name, count);
    if (count < compileAfter) return undefined;
    counts.delete(name);
    const result = compileQuery(schema, args.document, args.operationName ?? undefined, {
      disablingCapturingStackErrors: true,
    });
    const query = isCompiledQuery(result) ? result : undefined;
    let byName = compiled.get(args.document);
    if (!byName) compiled.set(args.document, (byName = new Map()));
    byName.set(name, query ?? notCompilable);
    return query;
  };

  /** The compiled form of `args`' operation, when it is compilable and hot. */
  const compiledFor = (
    args: ExecutionArgs,
    known: OperationDefinitionNode | null | undefined,
  ): CompiledQuery | undefined => {
    const name = args.operationName ?? '';
    // The hot path (every request, every subscriber's event) ends here.
    const ready = compiled.get(args.document)?.get(name);
    if (ready) return ready === notCompilable ? undefined : ready;
    // No operation: graphql-js reports why (several operations and no name, or no such name).
    const operation =
      known === undefined ? getOperationAST(args.document, args.operationName) : known;
    if (!operation || !compiles.includes(operation.operation)) return undefined;
    return compileWhenHot(args, name);
  };

  return (args, known) => {
    const query = compileAfter === 0 ? undefined : compiledFor(args, known);
    if (!query) return execute(args);
    const finish = (result: ExecutionResult): PromiseOrValue<ExecutionResult> => {
      if (!('data' in result) && result.errors) return execute(args);
      return result.errors ? { ...result, errors: result.errors.map(asGraphQLJsError) } : result;
    };
    const result = query.query(args.rootValue, args.contextValue, args.variableValues ?? {});
    return isPromise(result) ? result.then(finish) : finish(result);
  };
}

/**
 * How Apollo Server runs HTTP operations: queries through `createExecutor` (mutations and
 * subscriptions on graphql-js). Apollo Server 5 takes a custom executor through its `gateway`
 * option (its migration guide's replacement for the removed `executor`); parsing, validation,
 * the document cache, plugins and error formatting stay Apollo's.
 */
export function createCompiledExecutionGateway(
  schema: GraphQLSchema,
  options: Omit<ExecutorOptions, 'compiles'>,
): GatewayInterface {
  const run = createExecutor(schema, { ...options, compiles: [OperationTypeNode.QUERY] });
  let onSchema: GatewaySchemaLoadOrUpdateCallback | undefined;
  return {
    onSchemaLoadOrUpdate(callback) {
      onSchema = callback;
      return () => {
        onSchema = undefined;
      };
    },
    load() {
      onSchema?.({ apiSchema: schema, coreSupergraphSdl: printSchema(schema) });
      return Promise.resolve({
        executor: (request) =>
          Promise.resolve(
            run(
              {
                schema,
                document: request.document,
                contextValue: request.context,
                variableValues: request.request.variables,
                // The name the client asked for: Apollo's own `operationName` is null when the
                // document holds no such operation, and graphql-js would then run the only one.
                operationName: request.request.operationName ?? null,
              },
              // Apollo leaves it unset when the document names no usable operation.
              (request.operation as OperationDefinitionNode | undefined) ?? null,
            ),
          ) as Promise<GatewayExecutionResult>,
      });
    },
    stop: () => Promise.resolve(),
  };
}
