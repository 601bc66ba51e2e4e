import {
  defaultFieldResolver,
  getNamedType,
  isLeafType,
  isNonNullType,
  isObjectType,
  type ExecutionResult,
  type GraphQLFieldResolver,
  type GraphQLLeafType,
  type GraphQLOutputType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
} from 'graphql';
import { randomBytes } from 'node:crypto';

/**
 * Per-viewer fields spliced into a shared result.
 *
 * A subscription that selects per-viewer leaf fields (`viewerReaction`, `viewerIsFollowing`, ...)
 * gives each subscriber a result that differs from its neighbours' only in those few values.
 * Instead of executing the whole operation once per subscriber, the live hub executes it once
 * per event in *template* mode: each per-viewer leaf resolver records where it sits (its parent,
 * arguments and resolve info: a "site") and answers a placeholder. The result is serialised
 * once, cut at the sites into shared byte segments, and each subscriber's frame is those
 * segments with its own values in between, each value from the same resolver the full execution
 * would call, with the subscriber's context. Values load through the event's loaders, so every
 * subscriber's value for every site is one batched read.
 *
 * A field may also have a batch form (`PerViewerBatch`): the values of every subscriber of an
 * event at once, in one read, with no promise or loader key per subscriber. The hub uses it for
 * everyone who receives the event in the same pass.
 *
 * Only leaves are spliced (a value never changes the shape around it); a value that would not
 * serialise as the field's type (an error, a null for a non-null field) is not spliced: that
 * subscriber's result is executed in full instead, so errors and null propagation are exactly
 * graphql-js's.
 */

/**
 * A per-viewer leaf's values for many viewers at once (null: no session), in their order:
 * exactly what its resolver answers for each of them.
 */
export type PerViewerBatch = (
  parent: never,
  args: Record<string, unknown>,
  viewerIds: readonly (string | null)[],
  context: unknown,
) => Promise<readonly unknown[]>;

/** A per-viewer leaf field in a template result. */
export interface Site {
  readonly resolve: GraphQLFieldResolver<unknown, unknown>;
  readonly batch: PerViewerBatch | undefined;
  readonly parent: unknown;
  readonly args: Record<string, unknown>;
  readonly info: GraphQLResolveInfo;
  readonly type: GraphQLLeafType;
  readonly nonNull: boolean;
}

/** Collects the sites of one template execution (set as `liveTemplate` on its context). */
export class SiteRecorder {
  readonly sites: Site[] = [];
  readonly paths: (string | number)[][] = [];
  /** A site the recorder cannot hold a placeholder for: the template is unusable. */
  unsupported = false;

  record(
    resolve: GraphQLFieldResolver<unknown, unknown>,
    batch: PerViewerBatch | undefined,
    parent: unknown,
    args: Record<string, unknown>,
    info: GraphQLResolveInfo,
  ): unknown {
    const type = getNamedType(info.returnType) as GraphQLLeafType;
    const nonNull = isNonNullType(info.returnType);
    this.sites.push({ resolve, batch, parent, args, info, type, nonNull });
    const path: (string | number)[] = [];
    for (let at: GraphQLResolveInfo['path'] | undefined = info.path; at; at = at.prev) {
      path.push(at.key);
    }
    this.paths.push(path.reverse());
    if (!nonNull) return null;
    const placeholder = placeholderOf(type);
    if (placeholder === undefined) this.unsupported = true;
    return placeholder;
  }
}

/** A value that serialises as `type`, for a non-null site in a template. */
function placeholderOf(type: GraphQLLeafType): unknown {
  switch (type.name) {
    case 'Boolean':
      return false;
    case 'Int':
    case 'Float':
      return 0;
    case 'String':
    case 'ID':
      return '';
  }
  if ('getValues' in type) return type.getValues()[0]?.value;
  return undefined;
}

/** The context a template execution carries; resolvers of per-viewer leaves look for it. */
export interface TemplateContext {
  readonly liveTemplate?: SiteRecorder;
}

const perViewer = (directives: readonly { name: { value: string } }[] | undefined) =>
  directives?.some((directive) => directive.name.value === 'perViewer') ?? false;

/**
 * Whether `type` is a per-viewer leaf the hub can splice: a scalar or enum, optionally
 * non-null (a list of them is not: its length is per viewer too).
 */
export function isSpliceableType(type: GraphQLOutputType): boolean {
  const inner = isNonNullType(type) ? type.ofType : type;
  return isLeafType(inner);
}

/**
 * Wraps the resolver of every `@perViewer` leaf field so that a template execution records a
 * site there instead of resolving. Outside a template the wrapper only calls the resolver.
 * `batches`, by `Type.field`, are the batch forms of some of them. Must run before any
 * operation is compiled (graphql-jit reads resolvers when compiling).
 */
export function installSpliceSites(
  schema: GraphQLSchema,
  batches: Readonly<Record<string, PerViewerBatch>> = {},
): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (!perViewer(field.astNode?.directives) || !isSpliceableType(field.type)) continue;
      const resolve: GraphQLFieldResolver<unknown, unknown> = field.resolve ?? defaultFieldResolver;
      const batch = batches[`${type.name}.${field.name}`];
      field.resolve = (parent, args: Record<string, unknown>, context, info) => {
        const recorder = (context as TemplateContext).liveTemplate;
        return recorder
          ? recorder.record(resolve, batch, parent, args, info)
          : resolve(parent, args, context, info);
      };
    }
  }
}

/** A template result: shared bytes around the sites, in order. */
export interface Template {
  /** `sites.length + 1` segments. */
  readonly segments: readonly Buffer[];
  readonly sites: readonly Site[];
}

/**
 * Cuts a template execution's result at its sites. Null when it cannot be used (errors, a site
 * with no placeholder, a site not found in the data): then each subscriber executes in full.
 */
export function cutTemplate(result: ExecutionResult, recorder: SiteRecorder): Template | null {
  if (result.errors?.length || recorder.unsupported || !result.data) return null;
  const nonce = randomBytes(12).toString('hex');
  const data = result.data as Record<string, unknown>;
  for (let i = 0; i < recorder.sites.length; i++) {
    const path = recorder.paths[i]!;
    let holder: Record<string | number, unknown> | undefined = data;
    for (let k = 0; k < path.length - 1 && holder; k++) {
      holder = holder[path[k]!] as Record<string | number, unknown> | undefined;
    }
    const key = path[path.length - 1]!;
    if (!holder || typeof holder !== 'object' || !(key in holder)) return null;
    holder[key] = `\u0001${nonce}:${i}\u0001`;
  }
  const text = JSON.stringify(result);
  // JSON.stringify writes U+0001 as the six characters \u0001; a marker is that, the nonce and
  // the index, in quotes. The nonce is random per template, so no string in the data matches.
  const marker = new RegExp(`"\\\\u0001${nonce}:(\\d+)\\\\u0001"`, 'g');
  const segments: Buffer[] = [];
  const order: number[] = [];
  let from = 0;
  for (const match of text.matchAll(marker)) {
    segments.push(Buffer.from(text.slice(from, match.index)));
    order.push(Number(match[1]));
    from = match.index + match[0].length;
  }
  segments.push(Buffer.from(text.slice(from)));
  if (order.length !== recorder.sites.length) return null;
  return { segments, sites: order.map((index) => recorder.sites[index]!) };
}

const valueBytes = new Map<string, Buffer>();

/** A serialised value's bytes; the few common ones (true, false, null, an enum) are kept. */
function bytesOf(json: string): Buffer {
  let bytes = valueBytes.get(json);
  if (!bytes) {
    bytes = Buffer.from(json);
    if (json.length <= 32 && valueBytes.size < 1_000) valueBytes.set(json, bytes);
  }
  return bytes;
}

/** One site's value as JSON, or undefined when it cannot be spliced (see the module comment). */
function serialise(site: Site, value: unknown): Buffer | undefined {
  if (value instanceof Error) return undefined;
  if (value === null || value === undefined) return site.nonNull ? undefined : bytesOf('null');
  let serialised: unknown;
  try {
    serialised = site.type.serialize(value);
  } catch {
    return undefined;
  }
  if (serialised === null || serialised === undefined) return undefined;
  return bytesOf(JSON.stringify(serialised));
}

/**
 * The frame of serialised site values (`bytesOf(i)`: site i's), in parts to be written in order,
 * or null if one is missing.
 */
export function frameOf(
  template: Template,
  bytesOf: (site: number) => Buffer | undefined,
  prefix: Buffer,
  suffix: Buffer,
): Buffer[] | null {
  const { segments } = template;
  const parts: Buffer[] = [prefix, segments[0]!];
  for (let i = 1; i < segments.length; i++) {
    const bytes = bytesOf(i - 1);
    if (!bytes) return null;
    parts.push(bytes, segments[i]!);
  }
  parts.push(suffix);
  return parts;
}

/**
 * A column of values serialised: the same bytes for equal primitive values (a column is
 * mostly `true`, `false` and `null`); undefined where a value cannot be spliced.
 */
function serialiseColumn(site: Site, values: readonly unknown[]): (Buffer | undefined)[] {
  const known = new Map<unknown, Buffer | undefined>();
  return values.map((value) => {
    if (typeof value === 'object' && value !== null) return serialise(site, value);
    if (known.has(value)) return known.get(value);
    const bytes = serialise(site, value);
    known.set(value, bytes);
    return bytes;
  });
}

/**
 * Every site's values for many viewers, serialised: a column per site, a row per viewer; from
 * each site's batch form where it has one, else from its resolver per viewer (`contextOf(k)`).
 * Undefined where a value cannot be spliced (it failed, or is null for a non-null field).
 */
export async function resolveColumns(
  template: Template,
  viewerIds: readonly (string | null)[],
  batchContext: unknown,
  contextOf: (k: number) => unknown,
): Promise<(Buffer | undefined)[][]> {
  return Promise.all(
    template.sites.map(async (site): Promise<(Buffer | undefined)[]> => {
      if (site.batch) {
        try {
          const values = await site.batch(site.parent as never, site.args, viewerIds, batchContext);
          return serialiseColumn(site, values);
        } catch {
          return viewerIds.map(() => undefined);
        }
      }
      const values = await Promise.all(
        viewerIds.map(async (_viewerId, k) => {
          try {
            return await site.resolve(site.parent, site.args, contextOf(k), site.info);
          } catch (error) {
            return error instanceof Error ? error : new Error(String(error));
          }
        }),
      );
      return serialiseColumn(site, values);
    }),
  );
}
