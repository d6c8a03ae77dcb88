// The audit log (GET /v1/audit?from=&limit=, in sequence order) and its hash chain check
// (GET /v1/audit/verify): where the chain breaks, if it does. Roles: admin, auditor.
import * as api from './api.js';
import { h, table, badge, time, fields, guarded } from './ui.js';
import { go } from './app.js';

async function verify(out) {
  out.replaceChildren(h('p', { class: 'muted' }, 'Verifying…'));
  await guarded(async () => {
    const v = await api.call('GET', '/v1/audit/verify');
    out.replaceChildren(h('div', { class: 'card', id: 'verify-result' }, fields([
      ['Chain', badge(v.valid ? 'valid' : 'invalid')],
      ['Records checked', String(v.records)],
      ['Head', `#${v.headSeq} ${v.headHash}`],
      ['First invalid record', v.firstInvalid === null ? 'none' : `#${v.firstInvalid}`],
      ['Problem', v.problem || 'none'],
    ])));
  });
}

export async function render({ query }) {
  const from = query.get('from') || '1';
  const actor = query.get('actor') || '';
  const action = query.get('action') || '';
  const page = await api.call('GET', api.withQuery('/v1/audit', { from, limit: 100 }));
  const shown = page.records.filter((r) => (!actor || r.actor === actor) && (!action || r.action.startsWith(action)));
  const result = h('div', { id: 'verify-out' });
  const nav = (f) => `#/audit?${new URLSearchParams({ from: f, actor, action })}`;
  return h('section', { id: 'page-audit' },
    h('h1', {}, 'Audit log'),
    h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'verify-chain', onclick: () => verify(result) }, 'Verify chain')),
    result,
    h('form', { class: 'inline', id: 'audit-filters', onsubmit: (ev) => {
      ev.preventDefault();
      const d = new FormData(ev.target);
      go(`#/audit?${new URLSearchParams({ from: d.get('from') || '1', actor: d.get('actor'), action: d.get('action') })}`);
    } },
    h('label', {}, 'From record #', h('input', { name: 'from', value: from, inputmode: 'numeric', size: 8 })),
    h('label', {}, 'Actor', h('input', { name: 'actor', value: actor, autocomplete: 'off' })),
    h('label', {}, 'Action starts with', h('input', { name: 'action', value: action, autocomplete: 'off' })),
    h('button', { type: 'submit' }, 'Show')),
    h('p', { class: 'muted' }, 'Actor and action filter the 100 records of this page (kmsd filters by position only).'),
    table([
      ['#', (r) => r.seq],
      ['Time', (r) => time(r.time)],
      ['Actor', (r) => r.actor],
      ['Action', (r) => r.action],
      ['Target', (r) => h('span', { class: 'mono' }, r.target)],
      ['Outcome', (r) => r.outcome],
      ['Detail', (r) => r.detail],
    ], shown, { id: 'audit-table', empty: 'No record here.' }),
    h('div', { class: 'pager' },
      Number(from) > 1 ? h('a', { href: nav(Math.max(1, Number(from) - 100)) }, '← Previous') : null,
      page.next ? h('a', { href: nav(page.next), id: 'audit-next' }, 'Next →') : null));
}
