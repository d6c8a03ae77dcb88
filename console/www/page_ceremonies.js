// Key ceremonies (docs/key-ceremony.md): the list (GET /v1/ceremonies), opening one (POST
// /v1/ceremonies, key-officer or admin), and a ceremony's page where each custodian enters
// their component (POST /v1/ceremonies/{id}/components) and an officer may cancel it.
//
// The component form: a password field (not echoed, no autocomplete, no spell check). On
// submit the value is read into a local, the field is emptied at once, and the local goes into
// the one request body sent to kmsd (same origin, TLS): it is never put in the URL, in page
// state, in storage or in any message, and nothing else refers to it once the request is out.
// (JavaScript strings cannot be wiped; dropping every reference is what a page can do.)
import * as api from './api.js';
import { h, fields, table, badge, time, confirmAction, showNotice, guarded } from './ui.js';
import { go, keepMessagesOnce, refresh } from './app.js';
import { USAGES } from './page_keys.js';

const ALGORITHMS = ['AES-128', 'AES-192', 'AES-256', 'DES3-2K', 'DES3-3K'];
const HEX_DIGITS = { 'AES-128': 32, 'AES-192': 48, 'AES-256': 64, 'DES3-2K': 32, 'DES3-3K': 48 };

function openForm() {
  return h('details', { class: 'create', id: 'create-ceremony-details' }, h('summary', {}, 'Open a ceremony'),
    h('form', { class: 'inline', id: 'create-ceremony-form', onsubmit: (ev) => {
      ev.preventDefault();
      const d = new FormData(ev.target);
      const body = {
        name: String(d.get('name')).trim(), algorithm: d.get('algorithm'), usage: d.getAll('usage'),
        components: Number(d.get('components')), trusted: d.get('trusted') === 'on',
        exportable: d.get('exportable') === 'on', expiresInSeconds: Number(d.get('expires')) * 60,
      };
      if (String(d.get('kcv')).trim()) body.kcv = String(d.get('kcv')).trim();
      guarded(async () => {
        const c = await api.call('POST', '/v1/ceremonies', body);
        if (c.httpStatus === 202) {
          showNotice(`Opening the ceremony is waiting for approval ${c.id}.`);
          keepMessagesOnce();
          go('#/approvals');
          return;
        }
        showNotice(`Ceremony ${c.id} is open for ${c.name}: give its id to the ${c.components} custodians.`);
        keepMessagesOnce();
        go(`#/ceremonies/${c.id}`);
      });
    } },
    h('label', {}, 'Key name', h('input', { name: 'name', id: 'ceremony-name', required: true, maxlength: 128, autocomplete: 'off' })),
    h('label', {}, 'Algorithm', h('select', { name: 'algorithm', id: 'ceremony-algorithm' }, ALGORITHMS.map((a) => h('option', { value: a }, a)))),
    h('fieldset', {}, h('legend', {}, 'Usage (fixed for the key\'s life)'), USAGES.map((u) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'usage', value: u, id: `ceremony-usage-${u}` }), u))),
    h('label', {}, 'Components', h('select', { name: 'components', id: 'ceremony-components' }, h('option', { value: '2' }, '2'), h('option', { value: '3' }, '3'))),
    h('label', {}, 'Expected KCV of the key', h('input', { name: 'kcv', id: 'ceremony-kcv', size: 8, maxlength: 6, pattern: '[0-9A-Fa-f]{6}', autocomplete: 'off' })),
    h('label', {}, 'Expires in (minutes)', h('input', { name: 'expires', type: 'number', min: 1, max: 1440, value: 60 })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'trusted', id: 'ceremony-trusted' }), 'trusted KEK'),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'exportable' }), 'exportable'),
    h('button', { type: 'submit', id: 'create-ceremony' }, 'Open ceremony')));
}

export async function render({ id }) {
  if (id) return renderOne(id);
  const me = api.currentSession().whoami;
  const list = await api.call('GET', '/v1/ceremonies');
  const officer = me.roles.includes('admin') || me.roles.includes('key-officer');
  return h('section', { id: 'page-ceremonies' },
    h('h1', {}, 'Key ceremonies'),
    officer ? openForm() : null,
    table([
      ['Ceremony', (c) => h('a', { href: `#/ceremonies/${c.id}`, class: 'ceremony-link mono' }, c.id)],
      ['Key name', (c) => c.name],
      ['Algorithm', (c) => c.algorithm],
      ['State', (c) => badge(c.state)],
      ['Components', (c) => `${c.received} of ${c.components}`],
      ['Expires', (c) => time(c.expiresAt)],
    ], [...list.ceremonies].reverse(), { id: 'ceremonies-table', empty: 'No ceremony yet.' }));
}

function componentForm(c) {
  const component = h('input', { type: 'password', id: 'component', autocomplete: 'off', spellcheck: 'false',
    required: true, inputmode: 'text', pattern: '[0-9A-Fa-f]+', minlength: HEX_DIGITS[c.algorithm], maxlength: HEX_DIGITS[c.algorithm] });
  const kcv = h('input', { id: 'component-kcv', autocomplete: 'off', required: true, size: 8, maxlength: 6, pattern: '[0-9A-Fa-f]{6}' });
  return h('form', { class: 'card', id: 'component-form', autocomplete: 'off', onsubmit: (ev) => {
    ev.preventDefault();
    const body = { component: component.value.trim(), kcv: kcv.value.trim() };
    component.value = '';  // out of the page before the request even starts
    kcv.value = '';
    guarded(async () => {
      let r;
      try {
        r = await api.call('POST', `/v1/ceremonies/${c.id}/components`, body);
      } finally {
        body.component = '';  // drop the last reference this page holds
      }
      showNotice(r.key ? `All components received: key ${r.key.name} (${r.key.id}) is ${r.key.state}, KCV ${r.key.kcv}.`
                       : `Component accepted (${r.received} of ${c.components}). Hand over to the next custodian.`);
      refresh();
    });
  } },
  h('h2', {}, 'Enter your component'),
  h('p', { class: 'muted' }, `${HEX_DIGITS[c.algorithm]} hex digits and the component's KCV, from your sealed form. The component goes only to kmsd, is not shown and is cleared from this page as soon as you submit.`),
  h('div', { class: 'inline' }, h('label', {}, 'Component (hex)', component), h('label', {}, 'Component KCV', kcv),
    h('button', { type: 'submit', id: 'submit-component' }, 'Submit component')));
}

async function renderOne(id) {
  const c = await api.call('GET', `/v1/ceremonies/${encodeURIComponent(id)}`);
  const me = api.currentSession().whoami;
  const custodian = me.roles.includes('custodian');
  const officer = me.roles.includes('admin') || me.roles.includes('key-officer');
  const open = c.state === 'open';
  return h('section', { id: 'page-ceremony' },
    h('p', {}, h('a', { href: '#/ceremonies' }, '← Ceremonies')),
    h('h1', {}, `Ceremony for ${c.name} `, badge(c.state)),
    officer && open ? h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'danger', id: 'cancel-ceremony', onclick: async () => {
      const v = await confirmAction({ title: `Cancel the ceremony for ${c.name}?`, danger: true, confirmLabel: 'Cancel ceremony',
        message: `Cancel ceremony ${c.id} (${c.received} of ${c.components} components received): the components entered so far are wiped and no key is made.` });
      if (!v) return;
      await guarded(async () => { await api.call('DELETE', `/v1/ceremonies/${c.id}`); showNotice(`Ceremony ${c.id} cancelled.`); refresh(); });
    } }, 'Cancel ceremony…')) : null,
    h('div', { class: 'card' }, fields([
      ['Id', h('span', { class: 'mono', id: 'ceremony-id' }, c.id)],
      ['Algorithm', c.algorithm],
      ['Usage', c.usage.join(', ')],
      ['Components', h('span', { id: 'ceremony-received' }, `${c.received} of ${c.components}`)],
      ['Custodians so far', c.custodians.join(', ') || 'none'],
      ['Expected KCV', h('span', { class: 'mono' }, c.kcv || 'not given')],
      ['Trusted / exportable', `${c.trusted ? 'yes' : 'no'} / ${c.exportable ? 'yes' : 'no'}`],
      ['Opened', `${time(c.createdAt)} by ${c.createdBy}`],
      ['Expires', time(c.expiresAt)],
      ['Key', c.keyId ? h('a', { href: `#/keys/${c.keyId}`, id: 'ceremony-key', class: 'mono' }, c.keyId) : '—'],
      ['Reason', c.reason],
    ])),
    custodian && open && !c.custodians.includes(me.name) ? componentForm(c) : null,
    custodian && open && c.custodians.includes(me.name) ? h('p', { class: 'muted' }, 'You entered your component; the next custodian enters theirs.') : null);
}
