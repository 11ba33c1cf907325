type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | boolean | number | ((event: Event) => void) | undefined>;

/** An element with attributes (`on*` are listeners, booleans toggle) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
  return element;
}

/** Terms and what they say, set out as a notice; `label` names the list for assistive technology where the page does not. */
export function noticeList(label: string | undefined, rows: readonly (readonly [string, Child])[]): HTMLDListElement {
  return h('dl', { class: 'notice', 'aria-label': label }, ...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

let fieldIds = 0;

/** A labelled form control. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  control.id ||= `field-${++fieldIds}`;
  const hintElement = hint ? h('small', { id: `${control.id}-hint` }, hint) : null;
  if (hintElement) control.setAttribute('aria-describedby', hintElement.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintElement);
}

/** A region that screen readers announce when its text changes. */
export function status(className = 'status'): HTMLElement {
  return h('p', { class: className, role: 'status', 'aria-live': 'polite' });
}

export function say(element: HTMLElement, text: string, kind: 'info' | 'error' | 'ok' = 'info'): void {
  element.textContent = text;
  element.dataset.kind = kind;
}

export function formValues(form: HTMLFormElement): Record<string, string> {
  const values: Record<string, string> = {};
  new FormData(form).forEach((value, key) => {
    if (typeof value === 'string') values[key] = value.trim();
  });
  return values;
}

/** Rows under their column headers; with `empty`, a list with no rows is that sentence instead of an empty table. */
export function table(headers: string[], rows: Child[][], caption: string, empty?: string): HTMLElement {
  if (rows.length === 0 && empty !== undefined) return h('p', {}, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, ...headers.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((cell) => h('td', {}, cell))))),
    ),
  );
}

/**
 * A destructive action behind a confirmation: `label` asks `question`, and only "Yes, …" runs it (issue 16: one
 * click disabled an account or revoked an integration). The slot shows the button again either way.
 */
export function confirmed(label: string, question: string, yes: string, run: () => void, keep = 'Cancel'): HTMLElement {
  const slot = h('div', { class: 'actions' });
  const idle = (): void => slot.replaceChildren(h('button', { type: 'button', class: 'danger', onclick: ask }, label));
  const ask = (): void => {
    const confirm = h('button', { type: 'button', class: 'danger', onclick: () => (idle(), run()) }, yes);
    slot.replaceChildren(h('span', { role: 'alert' }, question), confirm, h('button', { type: 'button', class: 'secondary', onclick: idle }, keep));
    confirm.focus();
  };
  idle();
  return slot;
}
