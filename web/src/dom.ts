type Child = Node | string | null | undefined | false;

/**
 * Creates an element with attributes and children. Text is always set as text, never parsed as
 * HTML, so what people post cannot inject markup.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) {
    if (child) element.append(child);
  }
  return element;
}

/** A form whose submit handler gets its named fields; the submit button is disabled meanwhile. */
export function form(
  attributes: Record<string, string | boolean | undefined>,
  onSubmit: (fields: Record<string, string>, form: HTMLFormElement) => Promise<void>,
  ...children: Child[]
): HTMLFormElement {
  const element = h('form', attributes, ...children);
  element.addEventListener('submit', (event) => {
    event.preventDefault();
    const fields = Object.fromEntries(
      [...new FormData(element).entries()].map(([name, value]) => [
        name,
        typeof value === 'string' ? value : value.name,
      ]),
    );
    const buttons = [...element.querySelectorAll('button')];
    for (const button of buttons) button.disabled = true;
    void onSubmit(fields, element).finally(() => {
      for (const button of buttons) button.disabled = false;
    });
  });
  return element;
}

/** A labelled input. */
export const field = (
  label: string,
  name: string,
  type = 'text',
  extra: Record<string, string> = {},
) =>
  h('label', {}, label, h('input', { name, type, required: true, autocomplete: 'off', ...extra }));
