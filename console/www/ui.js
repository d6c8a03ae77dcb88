// DOM helpers of the console. Everything is built with createElement and textContent, never
// innerHTML, so no value from kmsd (a key name, an audit detail) can become markup.

/**
 * h('td', {class: 'mono'}, 'text', childNode, [more, children]): an element. Attributes
 * starting with "on" are event listeners; `false`/null/undefined attributes are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** A <dl> of [label, value] rows; a value may be a node. */
export function fields(rows) {
  return h('dl', { class: 'fields' },
    rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === null || v === undefined || v === '' ? '—' : v)]));
}

/** A table: `columns` are [heading, row => cell]; `opts.id` and `opts.empty` (text). */
export function table(columns, rows, opts = {}) {
  if (!rows.length) return h('p', { class: 'muted', id: opts.id }, opts.empty || 'Nothing to show.');
  return h('table', { id: opts.id },
    h('thead', {}, h('tr', {}, columns.map(([t]) => h('th', {}, t)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map(([, f]) => h('td', {}, f(r)))))));
}

/** A button that saves `text` as `filename` (a PEM, through a Blob URL revoked after the click). */
export function download(label, filename, text, id) {
  return h('button', { type: 'button', class: 'secondary', id, onclick: () => {
    const url = URL.createObjectURL(new Blob([text], { type: 'application/x-pem-file' }));
    const a = h('a', { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } }, label);
}

export function badge(state) { return h('span', { class: `state ${state}` }, state); }

export function time(iso) { return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—'; }

const errorBox = () => document.getElementById('error');
const noticeBox = () => document.getElementById('notice');

/** Shows kmsd's error (its message, and its code in small print) or any other error. */
export function showError(e) {
  const box = errorBox();
  box.replaceChildren(h('span', {}, e.message || String(e)),
    e.code ? h('span', { class: 'code' }, `${e.code}${e.status ? ` (HTTP ${e.status})` : ''}`) : null);
  box.hidden = false;
}

export function showNotice(text) {
  const box = noticeBox();
  box.textContent = text;
  box.hidden = false;
}

export function clearMessages() {
  errorBox().hidden = true;
  noticeBox().hidden = true;
}

/**
 * Asks before a destructive action. `title` and `message` name the object; `fields` are extra
 * inputs (nodes with a `name`); with `typeToConfirm` the confirm button stays disabled until
 * that text (the object's name) is typed. Resolves to an object of the fields' values, or null when the
 * officer cancels. Values are read from the form and the inputs removed before resolving, so
 * nothing typed into the dialog stays in the page.
 */
export function confirmAction({ title, message, confirmLabel = 'Confirm', danger = false, fields: extra = [], typeToConfirm = null }) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-message').textContent = message;
  const box = document.getElementById('confirm-fields');
  box.replaceChildren(...extra);
  const ok = document.getElementById('confirm-ok');
  ok.textContent = confirmLabel;
  ok.className = danger ? 'danger' : '';
  ok.disabled = false;
  if (typeToConfirm !== null) {
    // For what cannot be undone: the officer types the object's name back, so a slip of the
    // mouse on the wrong row cannot destroy it.
    const typed = h('input', { id: 'confirm-type', autocomplete: 'off', spellcheck: 'false' });
    typed.addEventListener('input', () => { ok.disabled = typed.value !== typeToConfirm; });
    box.append(h('label', {}, `Type ${typeToConfirm} to confirm`, typed));
    ok.disabled = true;
  }
  const cancel = document.getElementById('confirm-cancel');
  return new Promise((resolve) => {
    const finish = (accepted) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      let values = null;
      if (accepted) {
        values = {};
        for (const el of box.querySelectorAll('[name]')) values[el.name] = el.type === 'checkbox' ? el.checked : el.value;
      }
      box.replaceChildren();
      if (dlg.open) dlg.close();
      resolve(values);
    };
    const onOk = (ev) => {
      ev.preventDefault();
      const form = document.getElementById('confirm-form');
      if (ok.disabled || !form.reportValidity()) return;
      finish(true);
    };
    const onCancel = (ev) => { ev.preventDefault(); finish(false); };
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
  });
}

/** Runs `fn` (an async action) with the error banner cleared first and kmsd's error shown. */
export async function guarded(fn) {
  clearMessages();
  try {
    return await fn();
  } catch (e) {
    showError(e);
    return undefined;
  }
}
