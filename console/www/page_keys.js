// The keys page: the list with search and filters, paged by kmsd (GET /v1/keys with
// namePrefix, state, algorithm, usage, limit, after), and the create form (POST /v1/keys).
// The filters live in the URL (#/keys?state=Active&...), so a filtered list can be bookmarked.
import * as api from './api.js';
import { h, table, badge, time, showNotice, guarded } from './ui.js';
import { go, keepMessagesOnce } from './app.js';

export const ALGORITHMS = ['AES-128', 'AES-192', 'AES-256', 'DES3-2K', 'DES3-3K', 'HMAC-SHA256',
  'EC-P256', 'EC-P384', 'RSA-2048', 'RSA-3072'];
export const STATES = ['PreActive', 'Active', 'Suspended', 'Deactivated', 'Compromised', 'Destroyed',
  'DestroyedCompromised'];
export const USAGES = ['encrypt', 'decrypt', 'mac', 'sign', 'verify', 'wrap', 'unwrap', 'derive'];
const FILTERS = ['namePrefix', 'state', 'algorithm', 'usage', 'limit'];

function select(name, label, options, value) {
  return h('label', {}, label, h('select', { name, id: `filter-${name}` },
    h('option', { value: '' }, 'any'),
    options.map((o) => h('option', { value: o, selected: o === value }, o))));
}

function hashFor(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `#/keys?${s}` : '#/keys';
}

export async function render({ query }) {
  const f = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || '']));
  const limit = f.limit || '25';
  // `trail` holds the `after` cursors of the pages before this one (comma-separated), so
  // "Previous" needs no reverse scan on the server.
  const trail = (query.get('trail') || '').split(',').filter(Boolean);
  const after = query.get('after') || '';
  const page = await api.call('GET', api.withQuery('/v1/keys', { ...f, limit, after }));

  const filterForm = h('form', { class: 'inline', id: 'key-filters', onsubmit: (ev) => {
    ev.preventDefault();
    const data = new FormData(ev.target);
    go(hashFor(Object.fromEntries(FILTERS.map((k) => [k, data.get(k) || '']))));
  } },
  h('label', {}, 'Name starts with', h('input', { name: 'namePrefix', id: 'filter-name', value: f.namePrefix, autocomplete: 'off' })),
  select('state', 'State', STATES, f.state),
  select('algorithm', 'Algorithm', ALGORITHMS, f.algorithm),
  select('usage', 'Usage', USAGES, f.usage),
  h('label', {}, 'Per page', h('select', { name: 'limit' }, ['25', '100', '500'].map((n) => h('option', { value: n, selected: n === limit }, n)))),
  h('button', { type: 'submit', id: 'apply-filters' }, 'Search'));

  const base = { ...f, limit: f.limit };
  const prev = trail.length || after
    ? h('a', { href: hashFor({ ...base, after: trail[trail.length - 1] || '', trail: trail.slice(0, -1).join(',') }), id: 'prev-page' }, '← Previous')
    : h('span', { class: 'muted' }, '← Previous');
  const next = page.next
    ? h('a', { href: hashFor({ ...base, after: page.next, trail: [...trail, after].join(',') }), id: 'next-page' }, 'Next →')
    : h('span', { class: 'muted' }, 'Next →');

  return h('section', { id: 'page-keys' },
    h('h1', {}, 'Keys'),
    createForm(),
    filterForm,
    table([
      ['Name', (k) => h('a', { href: `#/keys/${encodeURIComponent(k.id)}`, class: 'key-link' }, k.name)],
      ['Id', (k) => h('span', { class: 'mono' }, k.id)],
      ['Algorithm', (k) => k.algorithm],
      ['Usage', (k) => k.usage.join(', ')],
      ['State', (k) => badge(k.state)],
      ['Version', (k) => k.version],
      ['KCV', (k) => h('span', { class: 'mono' }, k.kcv || '—')],
      ['Created', (k) => time(k.createdAt)],
    ], page.keys, { id: 'keys-table', empty: 'No key matches.' }),
    h('div', { class: 'pager' }, prev, h('span', { class: 'muted' }, `${page.keys.length} shown`), next));
}

function createForm() {
  const form = h('form', { class: 'inline', id: 'create-key-form', onsubmit: (ev) => {
    ev.preventDefault();
    const data = new FormData(ev.target);
    const body = {
      name: String(data.get('name')).trim(),
      algorithm: data.get('algorithm'),
      usage: data.getAll('usage'),
      activate: data.get('activate') === 'on',
      exportable: data.get('exportable') === 'on',
    };
    guarded(async () => {
      const key = await api.call('POST', '/v1/keys', body);
      showNotice(`Key ${key.name} (${key.id}) created: ${key.state}, KCV ${key.kcv || '—'}.`);
      keepMessagesOnce();
      go(`#/keys/${encodeURIComponent(key.id)}`);
    });
  } },
  h('label', {}, 'Name', h('input', { name: 'name', id: 'new-key-name', required: true, maxlength: 128, autocomplete: 'off' })),
  h('label', {}, 'Algorithm', h('select', { name: 'algorithm', id: 'new-key-algorithm' }, ALGORITHMS.map((a) => h('option', { value: a }, a)))),
  h('fieldset', {}, h('legend', {}, 'Usage'), USAGES.map((u) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'usage', value: u, id: `new-key-usage-${u}` }), u))),
  h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'activate', checked: true }), 'activate now'),
  h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'exportable' }), 'exportable'),
  h('button', { type: 'submit', id: 'create-key' }, 'Create key'));
  return h('details', { class: 'create', id: 'create-key-details' }, h('summary', {}, 'Create a key'), form);
}
