import {
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * The root fields `operation` selects, in document order, through fragments and whatever their
 * directives say (a field under `@skip` is still listed): each aliased copy is its own entry.
 */
export function rootFields(
  document: DocumentNode,
  operation: OperationDefinitionNode,
): FieldNode[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    }
  }
  const fields: FieldNode[] = [];
  const visited = new Set<string>();
  const visit = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        fields.push(selection);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        visit(selection.selectionSet);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment && !visited.has(fragment.name.value)) {
          visited.add(fragment.name.value);
          visit(fragment.selectionSet);
        }
      }
    }
  };
  visit(operation.selectionSet);
  return fields;
}

/** The names of the root fields `operation` selects (see `rootFields`). */
export const rootFieldNames = (
  document: DocumentNode,
  operation: OperationDefinitionNode,
): Set<string> => new Set(rootFields(document, operation).map((field) => field.name.value));
