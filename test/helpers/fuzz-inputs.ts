import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  getNamedType,
  getNullableType,
  isAbstractType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  print,
  type DocumentNode,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import * as clientKit from '../../examples/client-kit/src/operations.js';
import { internalText } from './fuzz-oracle.js';

/**
 * Random and malformed inputs for test/fuzz.test.ts, built imperatively from fast-check's
 * `fc.gen()` (so that a failing input shrinks and replays from the run's seed): GraphQL
 * documents, variables, HTTP requests and WebSocket frame sequences.
 *
 * Every generator here promises one thing the fuzzer's database check relies on: nothing it
 * makes can be an accepted write. Mutations go out anonymously (or with a refused token), and
 * the victim's mutations always carry at least one input that is wrong by type or by Verity's
 * rules; a fuzzed mutation that changed the database is a defect.
 */

/** Draws values for one input; each draw is a fast-check value, so inputs shrink. */
export class Chooser {
  constructor(private readonly g: fc.GeneratorValue) {}

  /** An integer in [min, max]; shrinks towards min. */
  int(min: number, max: number): number {
    return this.g(fc.integer, { min, max });
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.int(0, 9_999) >= 10_000 * (1 - p);
  }

  /** One of `items`; shrinks towards the first. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** A value of `arbitrary`. */
  value<T>(arbitrary: fc.Arbitrary<T>): T {
    return this.g(() => arbitrary);
  }
}

// ---------------------------------------------------------------------------------------------
// Strings and values

const isClean = (text: string) => !internalText.test(text);

/** Strings that have broken servers before: empty, control, NUL, lone surrogates, RTL, huge. */
const nastyStrings = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uD800',
  'x\uDC00y',
  '\uFFFF\uFFFE',
  '\u202Egnp.exe',
  '💥🔥',
  'e\u0301\u0301\u0301',
  '\r\n\r\n',
  '"',
  '\\',
  '\\u0000',
  '{{x}}',
  '${x}',
  '{"$gt":""}',
  "'; DROP TABLE users; --",
  '<script>alert(1)</script>',
  '%00%ff',
  '../../../../etc/passwd',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e400',
  'true',
  '[]',
  '{}',
  '#hashtag',
  '@mention',
  'Bearer',
];

/** A string a client might send by mistake or malice; never holds the oracle's words. */
export const oddString: fc.Arbitrary<string> = fc
  .oneof(
    { arbitrary: fc.constantFrom(...nastyStrings), weight: 4 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 3 },
    { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom('x', 'é', '💥', '\u0000', ' '), fc.integer({ min: 100, max: 3_000 }))
        .map(([unit, count]) => unit.repeat(count)),
      weight: 1,
    },
  )
  .filter(isClean);

/** Numbers at the edges of GraphQL's Int and Float and of JavaScript's. */
const edgeNumbers = [
  0,
  -0,
  1,
  -1,
  1.5,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53,
  2 ** 53 + 2,
  1e21,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  -Number.MAX_VALUE,
];

const oddKey = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'valueOf',
    '__defineGetter__',
    '$where',
    '$gt',
    'input',
    'first',
    'query',
    '',
  ),
  fc.string({ maxLength: 12 }).filter(isClean),
);

const oddScalar: fc.Arbitrary<unknown> = fc.oneof(
  oddString,
  fc.constantFrom(...edgeNumbers),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);

/** Any JSON value, with odd strings, edge numbers and prototype keys; nested a little. */
export const oddValue: fc.Arbitrary<unknown> = fc.letrec<{
  value: unknown;
  array: unknown[];
  object: Record<string, unknown>;
}>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    oddScalar,
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(oddKey, tie('value'), { maxKeys: 4 }),
})).value;

/** An object with an own `__proto__` key, as `JSON.parse` makes one (not a prototype). */
export const withOwnKey = (key: string, value: unknown, rest: Record<string, unknown> = {}) => {
  const object: Record<string, unknown> = { ...rest };
  Object.defineProperty(object, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return object;
};

/** JSON text of a value nested `depth` levels deep in arrays or objects (too deep to stringify). */
export function deepJson(depth: number, inObjects: boolean): string {
  return inObjects
    ? `${'{"a":'.repeat(depth)}"bottom"${'}'.repeat(depth)}`
    : `${'['.repeat(depth)}"bottom"${']'.repeat(depth)}`;
}

// ---------------------------------------------------------------------------------------------
// GraphQL documents

/** The client kit's operations (examples/client-kit), as their source text. */
export const clientKitDocuments: readonly string[] = Object.entries(clientKit)
  .filter(([name]) => name.endsWith('Document'))
  .map(([, document]) => print(document as DocumentNode));

const sampleNames = [
  'me',
  'viewer',
  'user',
  'node',
  'truth',
  'homeFeed',
  'publicFeed',
  'id',
  'edges',
  'cursor',
  'text',
  '__typename',
  '__schema',
  '__type',
  'postTruth',
  'follow',
  'signUp',
  'input',
  'first',
  'after',
  'x',
  'Query',
  'Truth',
  'User',
  '__proto__',
  'constructor',
  'toString',
];

const soupTokens = [
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  ':',
  '$',
  '@',
  '!',
  '=',
  '...',
  '|',
  '&',
  ',',
  'query',
  'mutation',
  'subscription',
  'fragment',
  'on',
  'true',
  'false',
  'null',
  'schema',
  'type',
  'extend',
  'directive',
  'input',
  'enum',
  '0',
  '-1',
  '1.5e10',
  '99999999999999999999999999',
  '0x1F',
  '"str"',
  '"\\u0000"',
  '"\\uD800"',
  '"unterminated',
  '"""block"""',
  '"""',
  '#comment\n',
  '\u0000',
  '\uFEFF',
  '\u00A0',
  '💥',
  '\\',
  '.',
  '..',
  '-',
  '+',
  '%',
  '^',
  '\t',
  '\n',
  '\r',
  ...sampleNames,
];

/** A random sequence of GraphQL tokens and near-tokens. */
export function tokenSoup(c: Chooser): string {
  const count = c.chance(0.05) ? c.int(2_000, 4_000) : c.int(0, 60);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(c.pick(soupTokens));
    parts.push(c.pick([' ', '', '\n', ',']));
  }
  return parts.join('');
}

const excludedRootFields = new Set(['logOut', 'logOutEverywhere']);

/** A literal for `type`: valid-looking, or (with `odd`) of the wrong kind. */
function literalFor(c: Chooser, type: GraphQLInputType, depth = 0): string {
  if (c.chance(0.08)) return oddLiteral(c);
  const nullable = getNullableType(type);
  if (isListType(nullable)) {
    const count = c.int(0, 3);
    return `[${Array.from({ length: count }, () => literalFor(c, nullable.ofType, depth + 1)).join(', ')}]`;
  }
  if (isInputObjectType(nullable)) {
    if (depth > 3) return '{}';
    const fields = Object.values(nullable.getFields()).filter(
      (field) => isNonNullType(field.type) || c.chance(0.4),
    );
    return `{ ${fields.map((field) => `${field.name}: ${literalFor(c, field.type, depth + 1)}`).join(', ')} }`;
  }
  if (isEnumType(nullable)) return c.pick(nullable.getValues()).name;
  switch (nullable.name) {
    case 'Int':
      return String(c.pick([1, 0, -1, 20, 100, 101, 2 ** 31 - 1]));
    case 'Float':
      return String(c.pick([1.5, 0, -1e10]));
    case 'Boolean':
      return c.pick(['true', 'false']);
    case 'DateTime':
      return c.pick(['"2024-01-01T00:00:00.000Z"', '"yesterday"', '"2024-13-45T99:99:99Z"']);
    default:
      return stringLiteral(c);
  }
}

/** A GraphQL string literal of an odd string, or a broken one. */
function stringLiteral(c: Chooser): string {
  const text = c.value(oddString);
  if (c.chance(0.1)) return `"""${text.replaceAll('"""', '')}"""`;
  // JSON's escapes are GraphQL's; a lone surrogate becomes an escape GraphQL refuses.
  return JSON.stringify(text.length > 2_000 ? text.slice(0, 2_000) : text);
}

/** A literal of the wrong kind, or no literal at all. */
function oddLiteral(c: Chooser): string {
  return c.pick([
    '"x"',
    '1',
    '1.5',
    'true',
    'null',
    '[1, [2]]',
    '{ a: 1 }',
    'SOME_ENUM',
    '$undeclared',
    '99999999999999999999999',
    '-0',
    '1e400',
    '""',
    '"""a"""',
    '[]',
    '{}',
    '{ __proto__: 1 }',
  ]);
}

/** A variable value for `type`: plausible, or anything at all. */
function variableFor(c: Chooser, type: GraphQLInputType): unknown {
  if (c.chance(0.25)) return c.value(oddValue);
  const nullable = getNullableType(type);
  if (isListType(nullable)) {
    return Array.from({ length: c.int(0, 3) }, () => variableFor(c, nullable.ofType));
  }
  if (isInputObjectType(nullable)) {
    const value: Record<string, unknown> = {};
    for (const field of Object.values(nullable.getFields())) {
      if (isNonNullType(field.type) || c.chance(0.4)) {
        value[field.name] = variableFor(c, field.type);
      }
    }
    return value;
  }
  if (isEnumType(nullable)) return c.pick(nullable.getValues()).name;
  switch (nullable.name) {
    case 'Int':
      return c.pick(edgeNumbers);
    case 'Float':
      return c.pick(edgeNumbers);
    case 'Boolean':
      return c.pick([true, false]);
    default:
      return c.value(oddString);
  }
}

interface OperationShape {
  kind: 'query' | 'mutation' | 'subscription';
  maxDepth: number;
  /** Chance that a field gets an alias (`__proto__` among them). */
  aliasChance: number;
}

/** A random operation over the schema's fields, with its variables. */
export function randomOperation(
  c: Chooser,
  schema: GraphQLSchema,
  shape: OperationShape,
): { text: string; variables: Record<string, unknown> } {
  const root =
    shape.kind === 'query'
      ? schema.getQueryType()!
      : shape.kind === 'mutation'
        ? schema.getMutationType()!
        : schema.getSubscriptionType()!;
  const declarations: string[] = [];
  const variables: Record<string, unknown> = {};
  const fragments: string[] = [];

  const args = (field: GraphQLField<unknown, unknown>): string => {
    const parts: string[] = [];
    for (const arg of field.args) {
      if (!isNonNullType(arg.type) && !c.chance(0.5)) continue;
      if (c.chance(0.4)) {
        const name = `v${declarations.length}`;
        const declared = c.chance(0.9)
          ? String(arg.type)
          : c.pick(['Int', 'String!', '[ID]', 'Boolean']);
        declarations.push(`$${name}: ${declared}`);
        if (c.chance(0.85)) variables[name] = variableFor(c, arg.type);
        parts.push(`${arg.name}: $${name}`);
      } else {
        parts.push(`${arg.name}: ${literalFor(c, arg.type)}`);
      }
    }
    if (c.chance(0.03)) parts.push(`${c.pick(sampleNames)}: ${oddLiteral(c)}`);
    return parts.length === 0 ? '' : `(${parts.join(', ')})`;
  };

  const directive = (): string => {
    if (!c.chance(0.08)) return '';
    return c.pick([
      ' @include(if: true)',
      ' @skip(if: false)',
      ' @skip(if: true)',
      ' @include(if: "yes")',
      ' @skip',
      ' @deprecated',
      ' @perViewer',
      ' @unknown(x: 1)',
      ' @include(if: true) @include(if: false)',
      ' @defer',
      ' @stream(initialCount: 1)',
    ]);
  };

  const selection = (type: GraphQLNamedType, depth: number): string => {
    if (isAbstractType(type)) {
      const parts = ['__typename'];
      for (const possible of schema.getPossibleTypes(type)) {
        if (c.chance(0.5)) parts.push(`... on ${possible.name} ${selection(possible, depth)}`);
      }
      return `{ ${parts.join(' ')} }`;
    }
    if (!isObjectType(type)) return '';
    const fields = Object.values(type.getFields());
    const count = c.int(1, Math.min(4, fields.length));
    const parts: string[] = [];
    for (let i = 0; i < count; i++) parts.push(fieldText(type, c.pick(fields), depth));
    if (c.chance(0.05) && depth < shape.maxDepth) {
      const name = `F${fragments.length}`;
      fragments.push(`fragment ${name} on ${type.name} { __typename }`);
      parts.push(`...${name}`);
    }
    return `{ ${parts.join(' ')} }`;
  };

  const fieldText = (
    parent: GraphQLObjectType,
    field: GraphQLField<unknown, unknown>,
    depth: number,
  ): string => {
    const alias = c.chance(shape.aliasChance)
      ? `${c.pick(['a', 'b', '__proto__', 'constructor', 'toString', 'id', 'x1'])}: `
      : '';
    const named = getNamedType(field.type);
    let sub = '';
    if (!isScalarType(named) && !isEnumType(named)) {
      sub = depth >= shape.maxDepth ? '{ __typename }' : selection(named, depth + 1);
    }
    void parent;
    return `${alias}${field.name}${args(field)}${directive()} ${sub}`;
  };

  const fields = Object.values(root.getFields()).filter((f) => !excludedRootFields.has(f.name));
  const rootCount = c.chance(0.1) ? c.int(2, 5) : 1;
  const parts: string[] = [];
  for (let i = 0; i < rootCount; i++) parts.push(fieldText(root, c.pick(fields), 1));
  const name = c.chance(0.5) ? ` ${c.pick(['Op', 'Fuzz', '__proto__', 'query'])}` : '';
  const head = declarations.length > 0 ? `(${declarations.join(', ')})` : '';
  const keyword = shape.kind === 'query' && !name && !head && c.chance(0.5) ? '' : shape.kind;
  const operation = `${keyword}${keyword ? name : ''}${keyword ? head : ''} { ${parts.join(' ')} }`;
  return { text: [operation, ...fragments].join('\n'), variables };
}

/** `text` with 1 to 3 edits: ranges dropped or duplicated, names renamed, tokens inserted. */
export function mutateText(c: Chooser, text: string): string {
  let result = text;
  const edits = c.int(1, 3);
  for (let i = 0; i < edits; i++) {
    if (result.length === 0) break;
    const at = c.int(0, result.length - 1);
    const length = c.int(1, Math.min(40, result.length - at));
    switch (c.int(0, 5)) {
      case 0:
        result = result.slice(0, at) + result.slice(at + length);
        break;
      case 1:
        result =
          result.slice(0, at + length) + result.slice(at, at + length) + result.slice(at + length);
        break;
      case 2:
        result = `${result.slice(0, at)} ${c.pick(soupTokens)} ${result.slice(at)}`;
        break;
      case 3: {
        const names = [...new Set(result.match(/[_A-Za-z][_0-9A-Za-z]*/g) ?? [])];
        if (names.length === 0) break;
        const from = c.pick(names);
        result = result.replace(new RegExp(`\\b${from}\\b`), c.pick(sampleNames));
        break;
      }
      case 4: {
        // An argument's value of the wrong kind.
        const colon = result.indexOf(':', at);
        if (colon < 0) break;
        const end = result.slice(colon + 1).search(/[,)}]/);
        if (end < 0) break;
        result = `${result.slice(0, colon + 1)} ${oddLiteral(c)}${result.slice(colon + 1 + end)}`;
        break;
      }
      default: {
        // A field selected twice (with and without an alias or other arguments).
        const match = /\b([a-z]\w*)\b/.exec(result.slice(at));
        if (!match) break;
        const position = at + match.index;
        result = `${result.slice(0, position)}${match[1]} a: ${result.slice(position)}`;
      }
    }
  }
  return result;
}

/** Documents built to hit limits and validation's corners. */
export function specialDocument(c: Chooser): string {
  switch (c.int(0, 11)) {
    case 0: {
      const depth = c.int(10, 400);
      return `{ ${'truth(id: "x") { replyTo { '.repeat(depth)}id${' } }'.repeat(depth)} }`;
    }
    case 1: {
      const depth = c.int(10, 2_000);
      return `${'{ me '.repeat(depth)}{ id }${' }'.repeat(depth)}`;
    }
    case 2: {
      const count = c.int(20, 800);
      return `{ ${Array.from({ length: count }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    }
    case 3:
      return c.pick([
        'query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }',
        'query { ...A } fragment A on Query { me { ...C } } fragment C on User { ...A }',
        'fragment A on Query { ...A } query { ...A }',
        'query { me { ...U } } fragment U on User { followers { edges { node { ...U } } } }',
      ]);
    case 4:
      return c.pick([
        'query A { me { id } } query A { viewer { id } }',
        'query { me { id } } query { viewer { id } }',
        'query A { me { id } } mutation A { logOut }',
        'subscription { publicFeedUpdated { __typename } homeFeedUpdated { __typename } }',
        'subscription { publicFeedUpdated { __typename } }',
        'subscription S { truthCountsChanged(truthId: "x") { id } }',
        'subscription { __typename }',
        'unknown { me { id } }',
        'schema { query: Query }',
        'type Query { x: Int }',
        'extend type Query { x: Int }',
        '{}',
        '',
        ' ',
        '# only a comment',
        '{ __typename }',
        '{ __schema { types { name } } }',
        '{ __type(name: "User") { fields { name } } }',
        '{ __type(name: "\\u0000") { name } }',
      ]);
    case 5: {
      const count = c.int(5, 200);
      return `{ me ${Array.from({ length: count }, () => '@include(if: true)').join(' ')} { id } }`;
    }
    case 6:
      return `query(${Array.from({ length: c.int(5, 300) }, (_, i) => `$v${i}: Int`).join(', ')}) { __typename }`;
    case 7:
      return `{ ${'__typename '.repeat(c.int(100, 5_000))}}`;
    case 8:
      return `{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }`;
    case 9:
      return `query($__proto__: Int, $constructor: String) { publicFeed(first: $__proto__, after: $constructor) { edges { cursor } } }`;
    case 10:
      return `{ __proto__: me { id } constructor: viewer { id } toString: publicFeed(first: 1) { edges { cursor } } }`;
    default:
      return `{ ${'a: me { id } '.repeat(c.int(2, 40))}}`;
  }
}

export type DocumentKind = 'schema' | 'mutated' | 'soup' | 'special' | 'client-kit';

/** A document of any kind for HTTP or WebSocket, with variables; mutations are marked. */
export function randomDocument(
  c: Chooser,
  schema: GraphQLSchema,
  options: { subscriptions: boolean },
): { kind: DocumentKind; text: string; variables: unknown } {
  const kind = c.pick<DocumentKind>(['schema', 'mutated', 'soup', 'special', 'client-kit']);
  const operationKind = () =>
    c.pick<OperationShape['kind']>(
      options.subscriptions ? ['query', 'subscription', 'mutation'] : ['query', 'mutation'],
    );
  const shape = () => ({
    kind: operationKind(),
    maxDepth: c.chance(0.1) ? c.int(8, 20) : c.int(1, 4),
    aliasChance: c.chance(0.1) ? 0.9 : 0.1,
  });
  switch (kind) {
    case 'schema': {
      const { text, variables } = randomOperation(c, schema, shape());
      return { kind, text, variables: c.chance(0.1) ? c.value(oddValue) : variables };
    }
    case 'mutated': {
      const base = c.chance(0.5)
        ? c.pick(clientKitDocuments)
        : randomOperation(c, schema, shape()).text;
      return { kind, text: mutateText(c, base), variables: c.chance(0.5) ? c.value(oddValue) : {} };
    }
    case 'soup':
      return { kind, text: tokenSoup(c), variables: {} };
    case 'special':
      return { kind, text: specialDocument(c), variables: c.chance(0.2) ? c.value(oddValue) : {} };
    case 'client-kit': {
      const text = c.pick(clientKitDocuments);
      const variables: Record<string, unknown> = {};
      for (const match of text.matchAll(/\$(\w+):/g)) {
        if (c.chance(0.8)) variables[match[1]!] = c.value(oddValue);
      }
      return { kind, text, variables };
    }
  }
}

/** Whether a document might run a mutation (it is then never sent with a working session). */
export const mayMutate = (text: string) => /mutation/i.test(text) || !/^\s*(\{|query)/.test(text);

// ---------------------------------------------------------------------------------------------
// Mutations of the victim with inputs that must be refused

/** What the victim group needs to know about the world. */
export interface World {
  victimUserId: string;
  victimUsername: string;
  /** A truth of another user (the victim may not delete it). */
  otherTruthId: string;
  /** A Truth global id whose truth does not exist, and a User one. */
  missingTruthId: string;
  missingUserId: string;
  /** Tokens that are refused: forged, expired, of another kind. */
  refusedTokens: readonly string[];
}

/** Values of a type the field refuses whatever the rules: null, wrong kinds, edges. */
function wrongTypeValue(c: Chooser, type: GraphQLInputType): unknown {
  const nullable = getNullableType(type);
  if (isNonNullType(type) && c.chance(0.3)) return null;
  if (isListType(nullable)) return [[wrongTypeValue(c, nullable.ofType)]];
  if (isInputObjectType(nullable)) {
    return c.pick<unknown>([
      'an object, as a string',
      42,
      [{}],
      true,
      withOwnKey('__proto__', { polluted: true }),
      withOwnKey('constructor', { prototype: { polluted: true } }),
      { unknownField: 1 },
    ]);
  }
  if (isEnumType(nullable))
    return c.pick<unknown>(['like', 'LIKES', 0, '', ['LIKE'], { kind: 'LIKE' }]);
  switch (nullable.name) {
    case 'Int':
      return c.pick<unknown>(['1', 1.5, 2 ** 31, -(2 ** 31) - 1, 1e21, true, [1], { n: 1 }]);
    case 'Boolean':
      return c.pick<unknown>(['true', 1, 0, [true], {}]);
    case 'ID':
      return c.pick<unknown>([true, 1.5, [], {}, { id: '1' }, [['x']]]);
    default:
      return c.pick<unknown>([
        1,
        1.5,
        true,
        [],
        {},
        ['a'],
        { s: 'x' },
        withOwnKey('__proto__', 'x'),
      ]);
  }
}

const globalId = (type: string, hex: string) => Buffer.from(`${type}:${hex}`).toString('base64url');

/** Type-correct values each input field refuses by Verity's rules (see schema.graphql). */
function ruleBreakers(world: World): Record<string, readonly unknown[]> {
  const badTruthIds = [
    '',
    'x',
    '💥',
    'a'.repeat(5_000),
    globalId('Truth', 'zz'),
    globalId('User', world.victimUserId),
    world.missingTruthId,
  ];
  const badUserIds = ['', 'x', globalId('Truth', 'zz'), world.missingUserId, world.victimUserId];
  return {
    'SignUpInput.username': ['a b', 'ab', 'x'.repeat(31), '', 'bad-name', 'ünï', 'a\u0000b'],
    'SignUpInput.email': ['not-an-email', '', '@', 'a@', 'a@b@c', `${'a'.repeat(400)}@x.io`],
    'SignUpInput.password': ['short', '', 'x'.repeat(9)],
    'SignUpInput.displayName': ['', ' ', 'x'.repeat(51)],
    'JoinWaitlistInput.username': ['a b', 'ab', 'x'.repeat(31), ''],
    'JoinWaitlistInput.email': ['not-an-email', '', '@'],
    'CompleteSignUpInput.ticketToken': ['', 'garbage', 'a.b.c', ...world.refusedTokens],
    'PostTruthInput.text': ['', ' ', '\n\t', 'x'.repeat(1_001)],
    'PostTruthInput.replyToId': badTruthIds,
    'PostTruthInput.quoteOfId': badTruthIds,
    'PostTruthInput.idempotencyKey': ['', 'k'.repeat(101)],
    'DeleteTruthInput.id': [...badTruthIds, world.otherTruthId],
    'RetruthInput.truthId': badTruthIds,
    'ReactInput.truthId': badTruthIds,
    'RemoveReactionInput.truthId': badTruthIds.filter((id) => id !== world.missingTruthId),
    'UserActionInput.userId': badUserIds,
    'MarkNotificationsReadInput.ids': [[''], ['x'], [globalId('User', world.victimUserId)]],
    'SetWaitlistCapacityInput.maxActiveAccounts': [-1, 0, 5],
    'LogInInput.login': ['', 'nobody_here_at_all', world.victimUsername],
    'LogInInput.password': ['', 'not the password at all'],
    'UpdateProfileInput.displayName': ['', ' ', 'x'.repeat(51)],
    'UpdateProfileInput.bio': ['x'.repeat(161)],
    'UpdateProfileInput.avatarUrl': [
      'http://example.com/a.png',
      'javascript:alert(1)',
      'not a url',
      'ftp://example.com/a.png',
      `https://example.com/${'a'.repeat(3_000)}`,
    ],
  };
}

/** A value `type` accepts, for the fields left right; plausible, never a working write alone. */
function plausibleValue(c: Chooser, key: string, type: GraphQLInputType, world: World): unknown {
  const nullable = getNullableType(type);
  if (isEnumType(nullable)) return c.pick(nullable.getValues()).value as unknown;
  if (isListType(nullable)) return [];
  switch (nullable.name) {
    case 'Int':
      return 1;
    case 'Boolean':
      return false;
    case 'ID':
      return key.endsWith('userId') ? world.missingUserId : world.missingTruthId;
    default:
      return key.endsWith('email') ? 'fuzz@example.com' : `fuzz_${c.int(0, 99)}`;
  }
}

/**
 * A mutation of the victim's with variables at least one of which Verity must refuse, by type
 * (null where required, wrong kinds, unknown or prototype keys) or by its rules (a username
 * with a space, a text of 1,001 characters, a truth of someone else's, a missing id).
 */
export function refusedMutation(
  c: Chooser,
  schema: GraphQLSchema,
  world: World,
): { field: string; text: string; variables: Record<string, unknown> } {
  const fields = Object.values(schema.getMutationType()!.getFields()).filter(
    (field) => field.args.length > 0,
  );
  const field = c.pick(fields);
  const arg = field.args[0]!;
  const text = `mutation Refused($${arg.name}: ${String(arg.type)}) { ${field.name}(${arg.name}: $${arg.name}) { __typename } }`;
  const breakers = ruleBreakers(world);
  const nullable = getNullableType(arg.type);
  if (!isInputObjectType(nullable)) {
    return { field: field.name, text, variables: { [arg.name]: wrongTypeValue(c, arg.type) } };
  }
  if (c.chance(0.2)) {
    return { field: field.name, text, variables: { [arg.name]: wrongTypeValue(c, arg.type) } };
  }
  const input: Record<string, unknown> = {};
  const inputFields = Object.values(nullable.getFields());
  for (const inputField of inputFields) {
    const key = `${nullable.name}.${inputField.name}`;
    if (isNonNullType(inputField.type) || c.chance(0.3)) {
      input[inputField.name] = plausibleValue(c, key, inputField.type, world);
    }
  }
  // At least one field wrong; a second now and then, so that faults are reported together.
  const wrongCount = c.chance(0.3) ? 2 : 1;
  for (let i = 0; i < wrongCount; i++) {
    const inputField = c.pick(inputFields);
    const key = `${nullable.name}.${inputField.name}`;
    const rules = breakers[key];
    const useRules = rules !== undefined && c.chance(0.6);
    if (useRules) input[inputField.name] = c.pick(rules);
    else if (isNonNullType(inputField.type) && c.chance(0.3)) delete input[inputField.name];
    else input[inputField.name] = wrongTypeValue(c, inputField.type);
  }
  if (c.chance(0.1)) {
    return {
      field: field.name,
      text,
      variables: withOwnKey('__proto__', { polluted: true }, { [arg.name]: input }),
    };
  }
  return { field: field.name, text, variables: { [arg.name]: input } };
}

// ---------------------------------------------------------------------------------------------
// HTTP requests

/** One HTTP request as the fuzzer sends it. */
export interface HttpCase {
  kind: string;
  method: string;
  /** Path and query string, from the server's root. */
  target: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const json = (value: unknown) => JSON.stringify(value);

/** A malformed `extensions.persistedQuery`, or a well-formed one that names nothing. */
function persistedQuery(c: Chooser, query: string | undefined): unknown {
  return c.pick<unknown>([
    'abc',
    42,
    true,
    [],
    [1, 'x'],
    {},
    { version: '1' },
    { version: 2, sha256Hash: sha256(query ?? '') },
    { version: 1 },
    { version: 1, sha256Hash: 5 },
    { version: 1, sha256Hash: '' },
    { version: 1, sha256Hash: ['a'] },
    { version: 1, sha256Hash: { a: 1 } },
    { version: 1, sha256Hash: 'zz' },
    { version: 1, sha256Hash: 'f'.repeat(64) },
    { version: 1, sha256Hash: sha256('not the query') },
    { version: 1, sha256Hash: '\u0000'.repeat(64) },
    { version: null, sha256Hash: null },
    withOwnKey('__proto__', { version: 1 }),
    { version: 1, sha256Hash: 'a'.repeat(10_000) },
  ]);
}

/** A JSON POST body: broken JSON, wrong shapes, odd fields, batches, persisted queries. */
function postBody(c: Chooser, query: string): string {
  const valid = json({ query });
  switch (c.int(0, 9)) {
    case 0:
      return c.pick([
        '',
        '{',
        '}',
        '{"query":',
        '{"query": "{ __typename }",}',
        "{'query': '{ __typename }'}",
        '{"query": "{ __typename }"} trailing',
        '{"query": NaN}',
        '{"query": "\\x00"}',
        '{"query": "\\uD800"}',
        '{"query": "\\u"}',
        '\uFEFF{"query": "{ __typename }"}',
        '/* comment */ {"query": "{ __typename }"}',
        '{"query": "{ __typename }", "query": "{ me { id } }"}',
        'nul\u0000l',
        valid.slice(0, c.int(0, valid.length - 1)),
      ]);
    case 1:
      return c.pick(['null', 'true', '42', '"a string"', '[]', '[[]]', '{}', '-0', '1e400']);
    case 2:
      return json({
        query: c.pick<unknown>([5, ['{ __typename }'], { a: 1 }, null, true, '', ' ', 1e300]),
      });
    case 3:
      return json({
        query,
        variables: c.pick<unknown>(['{"first": 1}', [1], 5, true, '', c.value(oddValue)]),
        operationName: c.pick<unknown>([5, {}, [], '', 'NoSuchOperation', null, '__proto__']),
      });
    case 4:
      return json({
        query: c.chance(0.5) ? query : undefined,
        extensions: c.chance(0.8)
          ? { persistedQuery: persistedQuery(c, query) }
          : c.pick<unknown>(['x', 5, [], null, withOwnKey('__proto__', { persistedQuery: 1 })]),
      });
    case 5:
      return json(Array.from({ length: c.int(1, c.chance(0.1) ? 500 : 5) }, () => ({ query })));
    case 6: {
      // Number literals JSON.parse turns into Infinity, -0 or an imprecise integer.
      const number = c.pick(['1e400', '-1e400', '-0', '123456789012345678901234567890', '1e-400']);
      return `{"query": "query($n: Int, $f: Float) { publicFeed(first: $n) { edges { cursor } } }", "variables": {"n": ${number}, "f": ${number}}}`;
    }
    case 7: {
      const size = c.pick([1_000, 50_000, 99_000, 100_500, 300_000]);
      return json({ query: `{ __typename }${' '.repeat(size)}` });
    }
    case 8: {
      const depth = c.pick([100, 1_000, 20_000]);
      const value = deepJson(depth, c.chance(0.5));
      return `{"query": "query($v: String) { __typename }", "variables": {"v": ${value}}}`;
    }
    default:
      return json({ query, variables: c.value(oddValue), extensions: c.value(oddValue) });
  }
}

const contentTypes = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/json;;;',
  'application/json; boundary=x',
  'application/graphql',
  'application/graphql-response+json',
  'application/vnd.api+json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=----x',
  'text/plain',
  'text/plain; charset=utf-8',
  'text/html',
  '*/*',
  'json',
  '',
  'application/json'.repeat(200),
];

/**
 * `value` percent-encoded as UTF-8; a lone surrogate, which UTF-8 cannot hold, as the three
 * bytes a careless encoder writes for it (not valid UTF-8: the server must cope).
 */
function percentEncoded(value: string): string {
  let encoded = '';
  for (const character of value) {
    try {
      encoded += encodeURIComponent(character);
    } catch {
      const code = character.charCodeAt(0);
      const bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
      encoded += bytes.map((byte) => `%${byte.toString(16).toUpperCase()}`).join('');
    }
  }
  return encoded;
}

/** A GET request's query string: missing, odd or broken parameters, persisted queries. */
function getSearch(c: Chooser, query: string): string {
  const param = (name: string, value: string) => `${name}=${percentEncoded(value)}`;
  switch (c.int(0, 7)) {
    case 0:
      return `?${param('query', query)}`;
    case 1:
      return c.pick([
        '',
        '?',
        '?query',
        '?query=',
        '?query=%ZZ',
        '?query=%',
        '?query[]=a&query[]=b',
        '?query[a]=1',
        '?query=%7B__typename%7D&query=%7Bme%7Bid%7D%7D',
        '?query=%00',
        '?query=mutation%7BlogOut%7D',
        '?variables=%7B',
        '?__proto__[polluted]=1&query=%7B__typename%7D',
        '?constructor[prototype][polluted]=1&query=%7B__typename%7D',
        `?query=${'%20'.repeat(4_000)}%7B__typename%7D`,
      ]);
    case 2:
      return `?${param('query', query)}&${param('variables', c.pick(['notjson', '[1]', '5', 'null', '"x"', json(c.value(oddValue))]))}`;
    case 3:
      return `?${param('query', query)}&${param('operationName', c.value(oddString).slice(0, 200))}`;
    case 4:
      return `?${c.chance(0.5) ? `${param('query', query)}&` : ''}${param('extensions', json({ persistedQuery: persistedQuery(c, query) }))}`;
    case 5:
      return `?${param('query', query)}&${param('extensions', c.pick(['notjson', '[]', '5', '{"persistedQuery":', json(c.value(oddValue))]))}`;
    case 6:
      return `?${param('query', `mutation { follow(input: { userId: "x" }) { me { id } } }`)}`;
    default:
      return `?${param(c.pick(['query', 'Query', 'q', '']), query)}&${param(c.value(oddKey), c.value(oddString).slice(0, 300))}`;
  }
}

/** Any HTTP request to the API: methods, paths, content types, encodings, bodies, queries. */
export function httpRequest(c: Chooser, schema: GraphQLSchema): HttpCase {
  const document = randomDocument(c, schema, { subscriptions: true });
  const query = document.text;
  const kind = c.pick(['post-body', 'content-type', 'get', 'method', 'path', 'encoding']);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  switch (kind) {
    case 'post-body':
      return { kind, method: 'POST', target: '/graphql', headers, body: postBody(c, query) };
    case 'content-type': {
      const type = c.pick(contentTypes);
      const body = c.pick([json({ query }), `query=${percentEncoded(query)}`, query, '']);
      return {
        kind,
        method: 'POST',
        target: '/graphql',
        headers: type === '' ? {} : { 'content-type': type },
        body,
      };
    }
    case 'get': {
      const headers: Record<string, string> = {};
      if (c.chance(0.8)) headers['apollo-require-preflight'] = 'true';
      if (c.chance(0.2)) {
        headers['accept'] = c.pick(['text/html', 'application/json', '*/*', 'image/png']);
      }
      return {
        kind,
        method: 'GET',
        target: `/graphql${getSearch(c, query)}`,
        headers,
      };
    }
    case 'method': {
      const method = c.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND']);
      return {
        kind,
        method,
        target: '/graphql',
        headers: c.chance(0.5)
          ? { ...headers, 'access-control-request-method': c.pick(['POST', 'DELETE', 'X']) }
          : headers,
        ...(method === 'HEAD' || method === 'TRACE' ? {} : { body: json({ query }) }),
      };
    }
    case 'path': {
      const target = c.pick([
        '/graphql/',
        '/GRAPHQL',
        '/graphql/x',
        '//graphql',
        '/graphql%00',
        '/graphql/../graphql',
        '/%2e%2e/graphql',
        '/graphql;x',
        '/graph%71l',
        '/',
        '/index.html',
        '/assets/../../package.json',
        '/healthz?x=%ZZ',
        '/readyz/extra',
        '/metrics',
        '/__proto__',
        `/${'a'.repeat(5_000)}`,
        '/graphql?query=%7B__typename%7D#fragment',
      ]);
      return c.chance(0.5)
        ? { kind, method: 'GET', target, headers: {} }
        : { kind, method: 'POST', target, headers, body: json({ query }) };
    }
    default: {
      const encoding = c.pick(['gzip', 'deflate', 'br', 'identity', 'x-unknown', 'gzip, gzip', '']);
      const raw = new TextEncoder().encode(json({ query }));
      const body = c.chance(0.5) ? raw : new Uint8Array([0x1f, 0x8b, 8, 0, ...raw.slice(0, 20)]);
      return {
        kind,
        method: 'POST',
        target: '/graphql',
        headers: { ...headers, 'content-encoding': encoding },
        body,
      };
    }
  }
}

/** Authorization values a client may send by mistake or to probe: wrong schemes, huge, forged. */
export function authorizationValue(c: Chooser, refusedTokens: readonly string[]): string {
  const jwt = (header: unknown, payload: unknown, signature = 'c2ln') =>
    `${Buffer.from(json(header)).toString('base64url')}.${Buffer.from(json(payload)).toString('base64url')}.${signature}`;
  return c.pick([
    '',
    'Bearer',
    'Bearer ',
    'bearer',
    'Basic dXNlcjpwYXNzd29yZA==',
    'Token abc',
    'Bearer a b c',
    'Bearer Bearer x',
    'Bearer x, Bearer y',
    `Bearer ${'a'.repeat(c.pick([100, 5_000, 15_000]))}`,
    'Bearer a.b.c',
    'Bearer ...',
    'Bearer eyJ',
    'Bearer e30.e30.',
    `Bearer ${jwt({ alg: 'none' }, { sub: '0123456789abcdef01234567', kind: 'session' }, '')}`,
    `Bearer ${jwt({ alg: 'HS256', crit: ['x'] }, { kind: 'session' })}`,
    `Bearer ${jwt({ alg: 'RS256' }, { kind: 'session' })}`,
    `Bearer ${jwt({ alg: 'HS256' }, [1, 2])}`,
    `Bearer ${jwt({ alg: 'HS256' }, 'x')}`,
    `Bearer ${jwt('x', {})}`,
    `Bearer ${Buffer.from('not json').toString('base64url')}.e30.x`,
    ...refusedTokens.map((token) => `Bearer ${token}`),
    ...refusedTokens,
    `Bearer ${refusedTokens[0] ?? ''}x`,
  ]);
}

/** Headers a client or proxy might send: odd auth, content types, accept, forwarding, origin. */
export function headerRequest(
  c: Chooser,
  refusedTokens: readonly string[],
): { headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const set = (name: string, values: readonly string[]) => {
    if (c.chance(0.5)) headers[name] = c.pick(values);
  };
  headers['authorization'] = authorizationValue(c, refusedTokens);
  set('content-type', contentTypes);
  set('accept', [
    'text/html',
    'application/graphql-response+json',
    'application/json;q=0',
    'multipart/mixed; deferSpec=20220824',
    'multipart/mixed; subscriptionSpec=1.0',
    'text/event-stream',
    'application/xml',
    '*/*;q=0',
    '',
    ';;;',
  ]);
  set('x-forwarded-for', [
    'garbage',
    '999.999.999.999',
    '::1, ::ffff:127.0.0.1',
    `${'1.2.3.4, '.repeat(500)}5.6.7.8`,
    ', , ,',
    'unknown',
    '127.0.0.1\tx',
  ]);
  set('origin', [
    'null',
    'http://evil.example',
    'http://localhost:1',
    'file://',
    'garbage',
    `http://${'a'.repeat(3_000)}.example`,
  ]);
  set('x-request-id', ['', 'a b', 'x'.repeat(5_000), '../../etc', '\u00e9\u00ff', 'ok-id-1']);
  set('apollo-require-preflight', ['', 'false', 'x']);
  set('x-apollo-operation-name', ['', 'x'.repeat(2_000)]);
  set('cookie', ['a=b; __proto__=1', 'x'.repeat(4_000)]);
  const body = c.pick([
    json({ query: '{ me { id } viewer { roles } }' }),
    json({ query: '{ publicFeed(first: 2) { edges { cursor } } }' }),
    json({ query: 'mutation { follow(input: { userId: "x" }) { me { id } } }' }),
    json({
      query: 'mutation { updateProfile(input: { bio: "changed by a refused token" }) { id } }',
    }),
    json({ query: 'mutation { logOutEverywhere }' }),
  ]);
  return { headers, body };
}

// ---------------------------------------------------------------------------------------------
// WebSocket frames

/** One frame of a fuzzed WebSocket conversation. */
export type WsFrame =
  | { readonly text: string }
  | { readonly binary: Uint8Array }
  /** A text frame whose bytes are not UTF-8. */
  | { readonly invalidUtf8: Uint8Array };

/** A WebSocket conversation: the subprotocol and headers of the upgrade, then frames. */
export interface WsCase {
  protocols: string[];
  headers: Record<string, string>;
  frames: WsFrame[];
  /** Sent connection_init first (else the server must close it: 4408 or another code). */
  initialises: boolean;
}

const text = (value: unknown): WsFrame => ({
  text: typeof value === 'string' ? value : json(value),
});

/**
 * A graphql-ws conversation: odd connection_init payloads (non-objects, huge or forged
 * authorization), subscribes before init, duplicate and huge ids, payloads of wrong shapes,
 * unknown message types, broken JSON, binary and non-UTF-8 frames.
 */
export function wsConversation(
  c: Chooser,
  schema: GraphQLSchema,
  tokens: { sandbox: string; refused: readonly string[] },
): WsCase {
  const protocols = c.chance(0.93)
    ? ['graphql-transport-ws']
    : c.pick([
        [],
        ['graphql-ws'],
        ['graphql-transport-ws', 'graphql-ws'],
        ['x'],
        ['GRAPHQL-TRANSPORT-WS'],
      ]);
  const headers: Record<string, string> = {};
  if (c.chance(0.1)) headers['authorization'] = authorizationValue(c, tokens.refused);
  if (c.chance(0.1)) headers['origin'] = c.pick(['null', 'http://evil.example', 'garbage']);

  const authorization = (): unknown =>
    c.pick<unknown>([
      `Bearer ${tokens.sandbox}`,
      tokens.sandbox,
      undefined,
      authorizationValue(c, tokens.refused),
      42,
      ['Bearer x'],
      { token: 'x' },
      null,
      `Bearer ${'a'.repeat(c.pick([10_000, 60_000, 70_000]))}`,
    ]);
  const initPayload = (): unknown => {
    // Mostly one that is accepted, so that what follows meets an acknowledged connection.
    if (c.chance(0.6)) {
      return c.pick<unknown>([
        { authorization: `Bearer ${tokens.sandbox}` },
        { token: tokens.sandbox },
        {},
        undefined,
      ]);
    }
    return c.pick<unknown>([
      { authorization: authorization() },
      { authorization: authorization(), ticketToken: c.pick<unknown>(['garbage', 5, '', null]) },
      { Authorization: authorization() },
      { token: authorization() },
      { ticketToken: c.pick<unknown>(['garbage', 5, '', null, ...tokens.refused]) },
      undefined,
      null,
      'a string',
      42,
      [],
      [{ authorization: `Bearer ${tokens.sandbox}` }],
      withOwnKey('__proto__', { authorization: `Bearer ${tokens.sandbox}` }),
      c.value(oddValue),
    ]);
  };
  const init = (): WsFrame => {
    const payload = initPayload();
    return text(
      payload === undefined ? { type: 'connection_init' } : { type: 'connection_init', payload },
    );
  };

  const ids: string[] = [];
  const id = (): unknown => {
    if (ids.length > 0 && c.chance(0.1)) return c.pick(ids);
    const fresh = c.pick<unknown>([
      ...Array.from({ length: 30 }, () => `op-${ids.length}`),
      '',
      ' ',
      'x'.repeat(c.pick([200, 5_000])),
      '__proto__',
      'constructor',
      'hasOwnProperty',
      '💥\u0000',
      42,
      null,
      undefined,
      {},
    ]);
    if (typeof fresh === 'string') ids.push(fresh);
    return fresh;
  };
  const subscribePayload = (): unknown => {
    if (c.chance(0.08)) {
      return c.pick<unknown>([
        undefined,
        null,
        'x',
        [],
        {},
        { query: 5 },
        { query: null },
        { query: ['{ __typename }'] },
        { query: '{ __typename }', variables: 'x' },
        { query: '{ __typename }', variables: [1] },
        { query: '{ __typename }', operationName: 5 },
        { query: '{ __typename }', extensions: 'x' },
        {
          query: '{ __typename }',
          extensions: { requestId: c.pick<unknown>([5, {}, 'x'.repeat(500)]) },
        },
        withOwnKey('__proto__', { query: '{ __typename }' }),
      ]);
    }
    // Never a mutation the sandbox could make: those come from the refusing generators.
    const document = randomDocument(c, schema, { subscriptions: true });
    if (mayMutate(document.text) && !/^\s*subscription/.test(document.text)) {
      return { query: document.text.replace(/mutation/gi, 'subscription'), variables: {} };
    }
    return {
      query: document.text,
      ...(isRecord(document.variables) ? { variables: document.variables } : {}),
      ...(c.chance(0.1) ? { operationName: c.pick<unknown>(['Op', 'Nope', null]) } : {}),
    };
  };
  const subscribe = (): WsFrame => {
    const message: Record<string, unknown> = { type: 'subscribe' };
    const subscribeId = id();
    if (subscribeId !== undefined) message['id'] = subscribeId;
    const payload = subscribePayload();
    if (payload !== undefined) message['payload'] = payload;
    return text(message);
  };
  const other = (): WsFrame =>
    c.pick<WsFrame>([
      text({ type: 'ping' }),
      text({ type: 'ping', payload: { a: 1 } }),
      text({ type: 'ping', payload: 'x' }),
      text({ type: 'pong' }),
      text({ type: 'pong', payload: [] }),
      text({ type: 'complete', id: ids[0] ?? 'nope' }),
      text({ type: 'complete' }),
      text({ type: 'complete', id: 5 }),
      text({ type: 'connection_ack' }),
      text({ type: 'next', id: 'x', payload: {} }),
      text({ type: 'error', id: 'x', payload: [] }),
      text({ type: 'start', id: '1', payload: { query: '{ __typename }' } }),
      text({ type: 'stop', id: '1' }),
      text({ type: 'connection_terminate' }),
      text({ type: 'ka' }),
      text({ type: '' }),
      text({ type: 5 }),
      text({ type: null }),
      text({ type: '__proto__' }),
      text({}),
      text('null'),
      text('[]'),
      text('"x"'),
      text('1'),
      text('{'),
      text(''),
      text('{"type":"ping"} trailing'),
      text(c.value(oddString)),
      { binary: new TextEncoder().encode(json({ type: 'ping' })) },
      { binary: c.value(fc.uint8Array({ maxLength: 64 })) },
      { invalidUtf8: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) },
      text({
        type: 'subscribe',
        id: 'big',
        payload: { query: `{ __typename ${' '.repeat(70_000)}}` },
      }),
    ]);

  const frames: WsFrame[] = [];
  if (c.chance(0.93)) {
    if (c.chance(0.1)) frames.push(c.chance(0.5) ? subscribe() : other());
    frames.push(init());
  }
  const count = c.int(0, 5);
  for (let i = 0; i < count; i++) {
    const roll = c.int(0, 19);
    frames.push(roll < 15 ? subscribe() : roll < 19 ? other() : init());
  }
  return {
    protocols,
    headers,
    frames,
    initialises: frames.some(
      (frame) => 'text' in frame && frame.text.includes('"connection_init"'),
    ),
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
