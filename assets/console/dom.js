// Building the page. Every element is made here with text set through
// `textContent` (or attributes), never from markup: names, emails and audit
// details are user input, and this way they cannot become HTML.

/** `h('button', {class: 'x', onclick: f}, 'text', child)` → an element. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends strings (as text), nodes and nested arrays of them. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces everything inside `element` with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

/** `<code>` around a name, e.g. a permission. */
export const code = (text) => h('code', {}, text);

/** A notice that the caller lacks `permission` for `what`. */
export function needs(permission, what) {
  return h('p', { class: 'notice forbidden', role: 'note' },
    'You need ', code(permission), ` to ${what}.`);
}

/** An error message in a live region, so screen readers announce it. */
export function errorBox(message) {
  return h('p', { class: 'error', role: 'alert' }, message);
}

/** A unique id for label/control pairs. */
let nextId = 0;
export const uid = (prefix) => `${prefix}-${++nextId}`;

/** A labelled control: `<label for=id>text</label>` + the control. */
export function field(text, control, hint) {
  if (!control.id) control.id = uid('field');
  const hintElement = hint ? h('span', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintElement) control.setAttribute('aria-describedby', hintElement.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, text), control, hintElement);
}

/**
 * A modal dialog. `build(close)` returns its content; the dialog is removed
 * from the page when it closes. Escape closes it (the browser's `<dialog>`).
 */
export function openDialog(title, build) {
  const titleId = uid('dialog-title');
  const dialog = h('dialog', { 'aria-labelledby': titleId });
  const close = () => dialog.close();
  dialog.addEventListener('close', () => dialog.remove());
  append(dialog, [h('h2', { id: titleId }, title), build(close)]);
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Asks before something that cannot be undone; resolves to true or false. */
export function confirmAction(title, message, actionLabel) {
  return new Promise((resolve) => {
    let answered = false;
    const dialog = openDialog(title, (close) => h('div', {},
      h('p', {}, message),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: close }, 'Cancel'),
        h('button', {
          type: 'button', class: 'danger',
          onclick: () => { answered = true; close(); },
        }, actionLabel))));
    dialog.addEventListener('close', () => resolve(answered));
  });
}

/**
 * A row's "…" actions menu: a disclosure button that shows a list of
 * buttons. Escape, a click elsewhere, scrolling or resizing closes it. The
 * list is placed in the viewport (`position: fixed`) beside its button, so
 * a table's scrolling box cannot clip it, and it opens upwards when there
 * is no room below.
 */
export function actionsMenu(label, items) {
  const menuId = uid('menu');
  const toggle = h('button', {
    type: 'button', class: 'menu-toggle', 'aria-haspopup': 'true',
    'aria-expanded': 'false', 'aria-controls': menuId, 'aria-label': label,
  }, '…');
  const list = h('div', { class: 'menu', id: menuId, hidden: true });
  const place = () => {
    const button = toggle.getBoundingClientRect();
    const gap = 4;
    const below = button.bottom + gap + list.offsetHeight <= window.innerHeight;
    list.style.top = `${below ? button.bottom + gap : Math.max(gap, button.top - gap - list.offsetHeight)}px`;
    list.style.left = `${Math.max(gap, Math.min(button.right - list.offsetWidth, window.innerWidth - list.offsetWidth - gap))}px`;
  };
  const setOpen = (open) => {
    list.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) place();
  };
  for (const item of items) {
    list.append(h('button', {
      type: 'button', class: item.danger ? 'danger' : undefined,
      onclick: () => { setOpen(false); item.action(); },
    }, item.label));
  }
  toggle.addEventListener('click', () => {
    setOpen(list.hidden);
    if (!list.hidden) list.querySelector('button')?.focus();
  });
  list.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { setOpen(false); toggle.focus(); }
  });
  const wrap = h('div', { class: 'menu-wrap' }, toggle, list);
  wrap.closeMenu = () => setOpen(false);
  return wrap;
}

// One listener for every menu: a click outside an open menu closes it, and
// so does scrolling or resizing (the list would be left behind its button).
document.addEventListener('click', (event) => {
  for (const wrap of document.querySelectorAll('.menu-wrap')) {
    if (!wrap.contains(event.target)) wrap.closeMenu?.();
  }
});
const closeAllMenus = () => {
  for (const wrap of document.querySelectorAll('.menu-wrap')) wrap.closeMenu?.();
};
window.addEventListener('resize', closeAllMenus);
document.addEventListener('scroll', (event) => {
  if (!(event.target instanceof Element && event.target.closest('.menu'))) closeAllMenus();
}, true);

/**
 * Shows a secret once, with a copy button and the warning that it will not
 * be shown again.
 */
export function secretPanel(label, secret) {
  const value = h('code', { class: 'secret', id: 'new-secret' }, secret);
  const status = h('span', { class: 'copy-status', role: 'status' });
  const copy = h('button', { type: 'button', class: 'primary' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret);
      status.textContent = 'Copied';
    } catch {
      window.getSelection()?.selectAllChildren(value);
      status.textContent = 'Selected: press Ctrl+C (⌘C) to copy';
    }
  });
  return h('div', { class: 'secret-panel' },
    h('p', { class: 'warning', role: 'alert' },
      `Copy ${label} now. lynk keeps only a digest: it will not be shown again.`),
    h('div', { class: 'secret-row' }, value, copy, status));
}

/**
 * A table with a caption, headers and rows (arrays of cells). On a narrow
 * screen each row is stacked as a card, every cell labelled with its
 * column's header (`data-label`), instead of a table scrolled sideways.
 */
export function table(caption, headers, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  const labels = headers.map((header) => (header instanceof Node ? header.textContent : String(header)));
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'stacking' },
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, headers.map((header) => h('th', { scope: 'col' }, header)))),
      h('tbody', {}, rows.map((cells) => h('tr', {},
        cells.map((cell, index) => h('td', { 'data-label': labels[index] }, cell)))))));
}

/** A page's heading (focusable, so navigation can move focus to it) and actions. */
export function pageHeader(title, ...actions) {
  return h('div', { class: 'page-header' },
    h('h1', { tabindex: '-1' }, title),
    h('div', { class: 'actions' }, actions));
}

/**
 * Previous/next through a Relay connection: `load(after)` draws a page and
 * returns its `pageInfo`.
 */
export function pager(load) {
  const cursors = [null];
  const previous = h('button', { type: 'button', disabled: true }, 'Previous');
  const next = h('button', { type: 'button', disabled: true }, 'Next');
  const position = h('span', { class: 'muted' });
  async function show() {
    const pageInfo = await load(cursors[cursors.length - 1]);
    previous.disabled = cursors.length === 1;
    next.disabled = !pageInfo?.hasNextPage;
    position.textContent = `Page ${cursors.length}`;
    next.onclick = () => { cursors.push(pageInfo.endCursor); show(); };
  }
  previous.addEventListener('click', () => { cursors.pop(); show(); });
  return {
    element: h('nav', { class: 'pager', 'aria-label': 'Pages' }, previous, position, next),
    first: () => { cursors.length = 1; return show(); },
  };
}
