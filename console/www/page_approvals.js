// The approvals inbox (dual control, docs/dual-control.md): requests held for M approvals
// (GET /v1/approvals?state=...), what exactly each asks for, and the votes. An approver
// approves or rejects another officer's request; the requester executes it once approved
// (POST /v1/approvals/{id}/approve | reject | execute).
import * as api from './api.js';
import { h, table, badge, time, confirmAction, showNotice, guarded } from './ui.js';
import { go, refresh } from './app.js';
import { exportResult } from './page_key.js';
import { issuedPrincipal } from './page_principals.js';

// The answer of an executed export, shown once on the next render of the inbox (the wrapped
// key is for the requester to take now; kmsd does not keep it).
let lastExport = null;
// The answer of an executed principal.create (its token), shown once likewise.
let lastIssued = null;

const STATES = ['pending', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed'];

function describe(a) {
  const body = a.request && a.request.body ? ` ${JSON.stringify(a.request.body)}` : '';
  const key = a.keyName ? ` of key ${a.keyName}` : '';
  return `${a.operation}${key}: ${a.summary}${body}`;
}

/** The key a request is about ("/v1/keys/{id}/..."), or null. */
function keyIdOf(a) {
  const m = /^\/v1\/keys\/([^/]+)/.exec(a.request?.path || '');
  return m && m[1] !== 'import' ? decodeURIComponent(m[1]) : null;
}

/** Adds `keyName` to requests about a key, so approvers see names, not only ids. */
async function nameKeys(approvals) {
  const ids = [...new Set(approvals.map(keyIdOf).filter(Boolean))];
  const names = new Map();
  await Promise.all(ids.map(async (id) => {
    try {
      names.set(id, (await api.call('GET', `/v1/keys/${encodeURIComponent(id)}`)).name);
    } catch {
      // Not readable by this role, or destroyed and gone: the id is shown alone.
    }
  }));
  for (const a of approvals) a.keyName = names.get(keyIdOf(a)) || null;
}

async function vote(a, verb) {
  const v = await confirmAction({
    title: `${verb === 'approve' ? 'Approve' : 'Reject'} ${a.operation}?`,
    message: `${verb === 'approve' ? 'Approve' : 'Reject'} request ${a.id} by ${a.requestedBy}: ${describe(a)}.` +
      (verb === 'reject' ? ' One rejection ends the request.' : ''),
    confirmLabel: verb === 'approve' ? 'Approve' : 'Reject',
    danger: verb === 'approve' && a.operation.endsWith('destroy'),
    fields: [h('label', {}, 'Comment (optional)', h('input', { name: 'comment', maxlength: 1024, autocomplete: 'off', id: 'confirm-comment' }))],
  });
  if (!v) return;
  await guarded(async () => {
    const r = await api.call('POST', `/v1/approvals/${a.id}/${verb}`, v.comment ? { comment: v.comment } : undefined);
    showNotice(`Request ${r.id} is now ${r.state} (${r.approvals.length} of ${r.required} approvals).`);
    refresh();
  });
}

async function execute(a) {
  const v = await confirmAction({
    title: `Execute ${a.operation}?`, danger: a.operation.endsWith('destroy'), confirmLabel: 'Execute',
    message: `Run the approved request ${a.id}: ${describe(a)}. This cannot be undone.`,
  });
  if (!v) return;
  await guarded(async () => {
    const r = await api.call('POST', `/v1/approvals/${a.id}/execute`);
    showNotice(`Executed ${a.id} (${a.summary})${r && r.state ? `: ${r.name || r.id || ''} is now ${r.state}` : ''}.`);
    if (a.operation === 'key.export' && r) lastExport = r;
    if (a.operation === 'principal.create' && r && r.token) lastIssued = r;  // shown once
    refresh();
  });
}

export async function render({ query }) {
  const state = query.has('state') ? query.get('state') : 'pending';
  const me = api.currentSession().whoami.name;
  const list = await api.call('GET', api.withQuery('/v1/approvals', { state }));
  await nameKeys(list.approvals);
  const filter = h('form', { class: 'inline', onsubmit: (ev) => ev.preventDefault() },
    h('label', {}, 'State', h('select', { id: 'approval-state', onchange: (ev) => go(`#/approvals?state=${ev.target.value}`) },
      h('option', { value: '', selected: state === '' }, 'all'),
      STATES.map((s) => h('option', { value: s, selected: s === state }, s)))));
  const shown = lastExport;
  lastExport = null;
  const issued = lastIssued;
  lastIssued = null;
  return h('section', { id: 'page-approvals' },
    h('h1', {}, 'Approvals'),
    shown ? exportResult(shown) : null,
    issued ? issuedPrincipal(issued) : null,
    filter,
    table([
      ['Request', (a) => h('span', { class: 'mono' }, a.id)],
      ['Operation', (a) => h('div', {}, h('strong', {}, a.operation), a.keyName ? ` key ${a.keyName}` : null,
        h('div', { class: 'mono' }, a.summary))],
      ['Requested by', (a) => `${a.requestedBy}, ${time(a.createdAt)}`],
      ['State', (a) => badge(a.state)],
      ['Votes', (a) => `${a.approvals.length} of ${a.required}` + (a.rejections.length ? `, ${a.rejections.length} rejected` : '') +
        (a.approvals.length ? ` (${a.approvals.map((x) => x.by).join(', ')})` : '')],
      ['Expires', (a) => time(a.expiresAt)],
      ['', (a) => h('div', { class: 'toolbar' },
        a.state === 'pending' && a.requestedBy !== me ? [
          h('button', { type: 'button', class: 'approve', dataset: { id: a.id }, onclick: () => vote(a, 'approve') }, 'Approve…'),
          h('button', { type: 'button', class: 'secondary reject', dataset: { id: a.id }, onclick: () => vote(a, 'reject') }, 'Reject…')] : null,
        a.state === 'approved' && a.requestedBy === me
          ? h('button', { type: 'button', class: 'danger execute', dataset: { id: a.id }, onclick: () => execute(a) }, 'Execute…') : null,
        a.state === 'pending' && a.requestedBy === me ? h('span', { class: 'muted' }, 'waiting for other officers') : null)],
    ], list.approvals, { id: 'approvals-table', empty: `No ${state || ''} request.` }));
}
