import { readFileSync } from 'node:fs';
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isSpecifiedDirective,
  isSpecifiedScalarType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { useVerity } from './helpers/server.js';

/**
 * Every part of Verity's own schema, by coordinate (`Type`, `Type.field`, `Type.field(arg:)`,
 * `Enum.VALUE`, `Input.field`, `@directive(arg:)`), with its description.
 */
function describedParts(schema: GraphQLSchema): Map<string, string | null | undefined> {
  const parts = new Map<string, string | null | undefined>();
  parts.set('schema', schema.description);
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || isSpecifiedScalarType(type)) continue;
    parts.set(type.name, type.description);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        parts.set(`${type.name}.${field.name}`, field.description);
        for (const arg of field.args) {
          parts.set(`${type.name}.${field.name}(${arg.name}:)`, arg.description);
        }
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        parts.set(`${type.name}.${field.name}`, field.description);
      }
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) {
        parts.set(`${type.name}.${value.name}`, value.description);
      }
    }
  }
  for (const directive of schema.getDirectives()) {
    if (isSpecifiedDirective(directive)) continue;
    parts.set(`@${directive.name}`, directive.description);
    for (const arg of directive.args) {
      parts.set(`@${directive.name}(${arg.name}:)`, arg.description);
    }
  }
  return parts;
}

/** The coordinates in `parts` without a description. */
const undescribed = (parts: Map<string, string | null | undefined>) =>
  [...parts].filter(([, description]) => !description?.trim()).map(([coordinate]) => coordinate);

describe('schema descriptions', () => {
  const verity = useVerity();

  it('describes every part in schema.graphql, as codegen and frontends read it', () => {
    const source = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    const parts = describedParts(buildSchema(source));
    expect(parts.size).toBeGreaterThan(250);
    expect(undescribed(parts)).toEqual([]);
  });

  it('describes every type, field, argument, enum value and input field, as an IDE reads them', async () => {
    const result = await verity.gql<IntrospectionQuery>(
      getIntrospectionQuery({ descriptions: true, schemaDescription: true }),
    );
    expect(result.errors).toBeUndefined();
    const parts = describedParts(buildClientSchema(result.data!));

    // The walk reaches every kind of part (so an empty walk cannot pass).
    for (const coordinate of [
      'schema',
      'Query.viewer',
      'Query.hashtagFeed(tag:)',
      'Role.ADMIN',
      'SignUpInput.password',
      'TruthCounts.id',
      'Node.id',
      'FeedUpdate',
      'DateTime',
      '@perViewer',
    ]) {
      expect(parts.has(coordinate), coordinate).toBe(true);
    }

    expect(undescribed(parts)).toEqual([]);
  });
});
