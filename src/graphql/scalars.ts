import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

function toDate(value: unknown): Date {
  if (typeof value === 'string') {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime()) && /^\d{4}-\d{2}-\d{2}T/.test(value)) return date;
  }
  throw new GraphQLError(`DateTime expects an ISO 8601 string, got ${JSON.stringify(value)}`);
}

/** ISO 8601 timestamps in UTC. Serialises `Date` objects and ISO strings alike. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  // graphql-tools copies every property of a scalar given as a resolver over the type built
  // from schema.graphql, the description too: without this one, introspection (and so the
  // IDE) would show none. The same text as in schema.graphql.
  description:
    'An instant in time, as an ISO 8601 string in UTC, for example 2022-02-21T05:00:00.000Z.',
  serialize(value) {
    if (value instanceof Date) return value.toISOString();
    if (typeof value === 'string') return new Date(value).toISOString();
    throw new TypeError(`DateTime cannot serialise ${typeof value}`);
  },
  parseValue: toDate,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime expects a string');
    return toDate(ast.value);
  },
});
