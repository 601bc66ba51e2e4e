import {
  GraphQLError,
  TypeInfo,
  ValidationContext,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  getOperationAST,
  visit,
  type ASTNode,
  type DocumentNode,
  type GraphQLField,
  type GraphQLSchema,
} from 'graphql';
import { createComplexityRule, type ComplexityEstimator } from 'graphql-query-complexity';
import { ErrorCode } from './errors.js';
import { defaultPageSize, maxPageSize } from './pagination.js';

/**
 * How many items a list field that is not a connection holds at most, by `Type.field`: each
 * item's selection is counted that many times. A composite list missing here counts as a full
 * page (`maxPageSize`); test/query-cost.test.ts fails when the schema gains one, so that its
 * size is decided, not guessed.
 */
export const listSizes: Readonly<Record<string, number>> = {
  // parseMentions keeps ten (modules/truths/truth.text.ts).
  'Truth.mentions': 10,
  // One per ReactionKind.
  'TruthCounts.byKind': 6,
  // maxMediaPerTruth (modules/media/media.service.ts).
  'Truth.media': 4,
  // A reply chain has no length limit: a long one counts as a full page.
  'Thread.ancestors': maxPageSize,
  // maxEditsPerTruth earlier versions (modules/truths/truth.edit.service.ts).
  'Truth.edits': 10,
  // maxPinnedTruths (modules/bookmarks/bookmark.model.ts).
  'User.pinnedTruths': 3,
  'PinPayload.pinnedTruths': 3,
  // For `all: true`, the unread among the newest 500 kept.
  'MarkNotificationsReadPayload.notifications': 500,
  // Search and suggestions take `first`, at most 20 (modules/discover/discover.resolvers.ts).
  'Query.searchUsers': 20,
  'Query.searchHashtags': 20,
  'Query.suggestedAccounts': 20,
  // Ten of each are shown (modules/discover/discover.service.ts, `trendsShown`).
  'Trends.hashtags': 10,
  'Trends.truths': 10,
};

/** Evaluated selections (each fragment counted where it is spread) past which cost is not computed. */
const maxEvaluatedSelections = 10_000;

/** A Relay connection field: it takes `first` and returns a `…Connection` object. */
const isConnectionField = (field: GraphQLField<unknown, unknown>) =>
  getNamedType(field.type).name.endsWith('Connection') &&
  field.args.some((arg) => arg.name === 'first');

/** The page a connection's `first` asks for, as the resolver reads it (pagination.ts). */
function pageSizeOf(first: unknown): number {
  if (typeof first !== 'number' || !Number.isInteger(first)) return defaultPageSize;
  // Outside 1..maxPageSize the resolver refuses the page, so nothing under it runs.
  return Math.min(Math.max(first, 0), maxPageSize);
}

/**
 * The cost model, as one estimator: every field costs 1 plus what is selected under it; a
 * connection's selection counts once per item of the page it asks for (`first`, or its default
 * page size), and so does a list's, once per item it may hold (`listSizes`), except a
 * connection's `edges`, already counted by the connection. Introspection (`__schema`,
 * `__type`) costs 1 whatever it selects: it reads the schema in memory, and the token limit and
 * GRAPHQL_INTROSPECTION bound it.
 */
const fieldCost: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  if (field.name === '__schema' || field.name === '__type') return 1;
  if (isConnectionField(field)) return 1 + pageSizeOf(args['first']) * childComplexity;
  const listed = getNullableType(field.type);
  if (isListType(listed) && isCompositeType(getNamedType(listed))) {
    if (field.name === 'edges' && type.name.endsWith('Connection')) return 1 + childComplexity;
    return 1 + (listSizes[`${type.name}.${field.name}`] ?? maxPageSize) * childComplexity;
  }
  return 1 + childComplexity;
};

/** Cost memos kept per document, at most (a document's pages and variants). */
const memosPerDocument = 64;

/**
 * The variables an operation's cost can depend on: those in a `first` argument or a directive
 * (`@skip`, `@include`). The rest (cursors, ids, inputs) change the answer, not its cost.
 */
function costVariables(document: DocumentNode): string[] {
  const names = new Set<string>();
  const collect = (node: ASTNode) =>
    visit(node, {
      Variable(variable) {
        names.add(variable.name.value);
      },
    });
  visit(document, {
    Argument(argument) {
      if (argument.name.value === 'first') collect(argument.value);
    },
    Directive(directive) {
      collect(directive);
    },
  });
  return [...names];
}

/** What operation costs are remembered by, per document: its cost-relevant variables. */
interface DocumentMemo {
  readonly variables: readonly string[];
  readonly costs: Map<string, number>;
}

/**
 * Prices operations against `maxCost`, on HTTP and WebSocket alike. A document's cost with the
 * same operation and cost-relevant variable values is remembered (documents are the parsed
 * objects both transports cache), so a hot query is priced once per page size, not per request.
 */
export function createCostLimit(options: { schema: GraphQLSchema; maxCost: number }) {
  const { schema, maxCost } = options;
  const memos = new WeakMap<DocumentNode, DocumentMemo>();

  /**
   * The cost of running `operationName` of a valid `document` with `variables` (as the client
   * sent them): for a subscription, the cost of one event. Infinity when the document spreads
   * its fragments into more than `maxEvaluatedSelections` selections. Never throws.
   *
   * Variables count with their values, as execution will see them: `first: $n` costs what `$n`
   * asks for, not the largest page. Variables that cannot be coerced, or a field whose
   * arguments cannot, count nothing: execution refuses the operation, or the field, before
   * anything under it runs. Such a price is never remembered.
   */
  function costOf(
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Readonly<Record<string, unknown>> | null | undefined,
  ): number {
    let memo = memos.get(document);
    if (!memo) {
      memo = { variables: costVariables(document), costs: new Map() };
      memos.set(document, memo);
    }
    const key = JSON.stringify([
      operationName ?? null,
      ...memo.variables.map((name) =>
        variables && Object.hasOwn(variables, name) ? variables[name] : { absent: true },
      ),
    ]);
    const known = memo.costs.get(key);
    if (known !== undefined) return known;

    const operation = getOperationAST(document, operationName);
    if (!operation) return 0;
    let coerced = true;
    const context = new ValidationContext(schema, document, new TypeInfo(schema), () => {
      coerced = false;
    });
    let cost: number;
    try {
      const visitor = createComplexityRule({
        maximumComplexity: Number.MAX_SAFE_INTEGER,
        estimators: [fieldCost],
        variables: { ...variables },
        maxQueryNodes: maxEvaluatedSelections,
        // graphql-query-complexity reads `operation.name.value` when given a name; an
        // anonymous operation is its document's only one.
        ...(operationName ? { operationName } : {}),
      })(context);
      // The operation alone: walking the whole document would visit every node for nothing.
      visitor.onOperationDefinitionEnter(operation);
      cost = visitor.complexity;
    } catch {
      cost = Infinity;
    }
    if (coerced) {
      if (memo.costs.size >= memosPerDocument) memo.costs.clear();
      memo.costs.set(key, cost);
    }
    return cost;
  }

  return {
    maxCost,
    costOf,
    /** The error for this operation when it costs more than `maxCost`, else undefined. */
    check(
      document: DocumentNode,
      operationName: string | null | undefined,
      variables: Readonly<Record<string, unknown>> | null | undefined,
    ): GraphQLError | undefined {
      const cost = costOf(document, operationName, variables);
      return cost > maxCost ? costError(cost, maxCost) : undefined;
    },
  };
}

/** Prices operations: see `createCostLimit`. */
export type CostLimit = ReturnType<typeof createCostLimit>;

/**
 * The error for an operation over its budget, before it runs: GRAPHQL_VALIDATION_FAILED (a
 * client error, HTTP 400) with `extensions.cost` (null when too large to count) and
 * `extensions.maxCost`.
 */
export function costError(cost: number, maxCost: number): GraphQLError {
  const counted = Number.isFinite(cost);
  return new GraphQLError(
    counted
      ? `The operation costs ${cost}, more than the ${maxCost} Verity allows. Ask for smaller pages (first) or fewer nested connections.`
      : `The operation costs more than the ${maxCost} Verity allows. Ask for smaller pages (first) or fewer nested connections.`,
    {
      extensions: {
        code: ErrorCode.GRAPHQL_VALIDATION_FAILED,
        cost: counted ? cost : null,
        maxCost,
        http: { status: 400 },
      },
    },
  );
}
