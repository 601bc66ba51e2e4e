import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';

/**
 * The names of the fields selected directly under the field being resolved, or under `path`
 * below it (`['edges', 'node']` in a connection), through fragments (whatever their type
 * conditions and directives say: a name listed here may go unresolved, never the other way
 * round). Resolvers use it to start, in one round trip, the reads that the fields below would
 * otherwise make one level at a time. Without `info` (a resolver called outside an execution),
 * none.
 */
export function selectedFieldNames(
  info: GraphQLResolveInfo | undefined,
  path: readonly string[] = [],
): Set<string> {
  const names = new Set<string>();
  if (!info) return names;
  const visit = (
    selectionSet: SelectionSetNode | undefined,
    depth: number,
    visited: ReadonlySet<string>,
  ) => {
    if (!selectionSet) return;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (depth === path.length) names.add(selection.name.value);
        else if (selection.name.value === path[depth]) {
          visit(selection.selectionSet, depth + 1, visited);
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        visit(selection.selectionSet, depth, visited);
      } else if (!visited.has(selection.name.value)) {
        const fragment = info.fragments[selection.name.value];
        visit(fragment?.selectionSet, depth, new Set([...visited, selection.name.value]));
      }
    }
  };
  for (const node of info.fieldNodes) visit(node.selectionSet, 0, new Set());
  return names;
}
