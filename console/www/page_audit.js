// The audit log (GET /v1/audit, in sequence order), filtered by kmsd (actor, action or action
// prefix, target, outcome, time range) and paged by its seq cursor, and the hash chain check
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

const FILTERS = ['actor', 'action', 'target', 'outcome', 'since', 'until'];

/** '2026-11-26T10:00' (a datetime-local value, in UTC here) -> RFC 3339, or '' */
function rfc3339(local) { return local ? `${local.length === 16 ? `${local}:00` : local}Z` : ''; }
/** RFC 3339 -> the datetime-local value shown in the form */
function localValue(iso) { return iso ? iso.replace(/(\.\d+)?Z$/, '').slice(0, 19) : ''; }

export async function render({ query }) {
  const from = query.get('from') || '1';
  const f = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || '']));
  // `trail` holds the `from` cursors of the pages before this one (comma-separated), so
  // Previous goes back exactly, whatever the filters skipped.
  const trail = (query.get('trail') || '').split(',').filter(Boolean);
  const page = await api.call('GET', api.withQuery('/v1/audit', { ...f, from, limit: 100 }));
  const result = h('div', { id: 'verify-out' });
  const hashFor = (q) => `#/audit?${new URLSearchParams(Object.entries(q).filter(([, v]) => v))}`;
  const filtered = FILTERS.some((k) => f[k]);
  return h('section', { id: 'page-audit' },
    h('h1', {}, 'Audit log'),
    h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'verify-chain', onclick: () => verify(result) }, 'Verify chain')),
    result,
    h('form', { class: 'inline', id: 'audit-filters', onsubmit: (ev) => {
      ev.preventDefault();
      const d = new FormData(ev.target);
      const q = { from: String(d.get('from') || '1') };
      for (const k of FILTERS) q[k] = String(d.get(k) || '').trim();
      q.since = rfc3339(q.since);
      q.until = rfc3339(q.until);
      go(hashFor(q));
    } },
    h('label', {}, 'From record #', h('input', { name: 'from', id: 'audit-from', value: from, inputmode: 'numeric', size: 8 })),
    h('label', {}, 'Actor', h('input', { name: 'actor', id: 'audit-actor', value: f.actor, autocomplete: 'off', spellcheck: 'false' })),
    h('label', {}, 'Action (key.* for a prefix)', h('input', { name: 'action', id: 'audit-action', value: f.action, autocomplete: 'off', spellcheck: 'false' })),
    h('label', {}, 'Target', h('input', { name: 'target', id: 'audit-target', value: f.target, autocomplete: 'off', spellcheck: 'false' })),
    h('label', {}, 'Outcome', h('select', { name: 'outcome', id: 'audit-outcome' },
      ['', 'success', 'denied', 'failed'].map((o) => h('option', { value: o, selected: o === f.outcome }, o || 'any')))),
    h('label', {}, 'Since (UTC)', h('input', { name: 'since', id: 'audit-since', type: 'datetime-local', step: 1, value: localValue(f.since) })),
    h('label', {}, 'Until (UTC)', h('input', { name: 'until', id: 'audit-until', type: 'datetime-local', step: 1, value: localValue(f.until) })),
    h('button', { type: 'submit', id: 'audit-apply' }, 'Show')),
    h('p', { class: 'muted', id: 'audit-scan' }, filtered
      ? `kmsd filtered ${page.scanned} records from #${from}: ${page.records.length} match.` +
        (page.next && page.records.length < 100 ? ' More may follow: Next goes on where kmsd stopped.' : '')
      : `100 records per page from #${from}.`),
    table([
      ['#', (r) => r.seq],
      ['Time', (r) => time(r.time)],
      ['Actor', (r) => r.actor],
      ['Action', (r) => r.action],
      ['Target', (r) => h('span', { class: 'mono' }, r.target)],
      ['Outcome', (r) => r.outcome],
      ['Detail', (r) => r.detail],
    ], page.records, { id: 'audit-table', empty: 'No record matches.' }),
    h('div', { class: 'pager' },
      trail.length ? h('a', { href: hashFor({ ...f, from: trail[trail.length - 1], trail: trail.slice(0, -1).join(',') }), id: 'audit-prev' }, '← Previous')
        : (from !== '1' ? h('a', { href: hashFor({ ...f, from: '1' }), id: 'audit-first' }, '← First') : null),
      page.next ? h('a', { href: hashFor({ ...f, from: String(page.next), trail: [...trail, from].join(',') }), id: 'audit-next' }, 'Next →') : null));
}
