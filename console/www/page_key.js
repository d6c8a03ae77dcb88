// A key's page: its attributes, versions, state history and use counters (GET /v1/keys/{id}),
// and the lifecycle actions kmsd allows in its state (docs/api.md "Key lifecycle"). Each
// changing action asks for confirmation naming the key; a destroy under dual control answers
// 202 with a pending approval, shown here and in the approvals inbox.
import * as api from './api.js';
import { h, fields, table, badge, time, confirmAction, showNotice, guarded } from './ui.js';
import { go, keepMessagesOnce, refresh } from './app.js';

const REVOKE_REASONS = ['unspecified', 'keyCompromise', 'caCompromise', 'affiliationChanged',
  'superseded', 'cessationOfOperation', 'privilegeWithdrawn'];

/** The actions of a key in each state (kms-core/domain/key_state.cpp, next_state). */
function actionsFor(state) {
  const a = [];
  if (state === 'Active') a.push('rotate', 'suspend', 'deactivate');
  if (state === 'PreActive') a.push('activate');
  if (state === 'Suspended') a.push('resume', 'deactivate');
  if (['PreActive', 'Active', 'Suspended', 'Deactivated'].includes(state)) a.push('revoke');
  if (['PreActive', 'Suspended', 'Deactivated', 'Compromised'].includes(state)) a.push('destroy');
  return a;
}

const EXPORT_FORMATS = ['AES-KWP', 'AES-KW', 'TR-31', 'RSA-OAEP-SHA256'];

/**
 * The answer of an export (`POST /v1/keys/{id}/export`, or its approved replay): the key
 * wrapped under the KEK, which only the KEK's holder can open. Shown with a download button.
 */
export function exportResult(r) {
  const blob = r.keyBlock || r.wrapped;
  return h('div', { class: 'card', id: 'export-result' }, h('h2', {}, `Export of ${r.keyId}`), fields([
    ['Format', r.format], ['Under KEK', h('span', { class: 'mono' }, r.kek)], ['Version', String(r.version)],
    ['KCV', h('span', { class: 'mono' }, r.kcv || '—')],
    [r.keyBlock ? 'TR-31 key block' : 'Wrapped key (hex)', h('span', { class: 'mono', id: 'export-blob' }, blob)],
  ]), h('button', { type: 'button', class: 'secondary', onclick: () => {
    const url = URL.createObjectURL(new Blob([`${blob}\n`], { type: 'text/plain' }));
    const a = h('a', { href: url, download: `${r.keyId}.${r.format.toLowerCase()}.txt` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } }, 'Download'));
}

const LABELS = { rotate: 'Rotate', suspend: 'Suspend', resume: 'Resume', activate: 'Activate',
  deactivate: 'Deactivate', revoke: 'Revoke…', destroy: 'Request destroy…', export: 'Request export…' };

function reasonField() {
  return h('label', {}, 'Reason (recorded in the history and the audit log)',
    h('input', { name: 'reason', id: 'confirm-reason', maxlength: 1024, autocomplete: 'off' }));
}

async function runAction(key, action) {
  const what = `key ${key.name} (${key.id})`;
  let body;
  if (action === 'revoke') {
    const v = await confirmAction({
      title: `Revoke ${key.name}?`, danger: true, confirmLabel: 'Revoke',
      message: `Revoke ${what}. It can no longer be used to protect data; with keyCompromise it becomes Compromised.`,
      fields: [h('label', {}, 'Reason', h('select', { name: 'reason', id: 'confirm-revoke-reason' },
        REVOKE_REASONS.map((r) => h('option', { value: r }, r)))),
      h('label', {}, 'Message (optional)', h('input', { name: 'message', maxlength: 1024, autocomplete: 'off' }))],
    });
    if (!v) return;
    body = { reason: v.reason };
    if (v.message) body.message = v.message;
  } else if (action === 'export') {
    const v = await confirmAction({
      title: `Export ${key.name}?`, confirmLabel: 'Request export',
      message: `Export ${what} wrapped under a trusted KEK (docs/key-export.md). When dual control is configured for key.export this creates a request that other officers must approve; you then execute it from the approvals inbox.`,
      fields: [h('label', {}, 'Format', h('select', { name: 'format', id: 'confirm-export-format' }, EXPORT_FORMATS.map((f) => h('option', { value: f }, f)))),
        h('label', {}, 'KEK (key id of a trusted key)', h('input', { name: 'kek', id: 'confirm-export-kek', required: true, pattern: 'k-[0-9A-Fa-f]{32}', autocomplete: 'off' })),
        h('label', {}, 'TR-31 version (TR-31 only)', h('select', { name: 'tr31', id: 'confirm-export-tr31' }, h('option', { value: 'D' }, 'D (AES KBPK)'), h('option', { value: 'B' }, 'B (TDES KBPK)')))],
    });
    if (!v) return;
    body = { format: v.format, kek: v.kek.trim() };
    if (v.format === 'TR-31') body.tr31 = { version: v.tr31 };
  } else if (action === 'destroy') {
    const v = await confirmAction({
      title: `Destroy ${key.name}?`, danger: true, confirmLabel: 'Request destroy', typeToConfirm: key.name,
      message: `Destroy ${what}: every version is deleted from the HSM and cannot be recovered. When dual control is configured for key.destroy this only creates a request that other officers must approve.`,
      fields: [reasonField()],
    });
    if (!v) return;
    body = v.reason ? { reason: v.reason } : undefined;
  } else {
    const v = await confirmAction({
      title: `${LABELS[action]} ${key.name}?`, confirmLabel: LABELS[action],
      danger: action === 'deactivate' || action === 'suspend',
      message: action === 'rotate'
        ? `Rotate ${what}: a new version ${key.version + 1} is generated in the HSM and becomes current.`
        : `${LABELS[action]} ${what} (now ${key.state}).`,
      fields: action === 'rotate' ? [] : [reasonField()],
    });
    if (!v) return;
    body = v.reason ? { reason: v.reason } : undefined;
  }
  await guarded(async () => {
    const path = `/v1/keys/${encodeURIComponent(key.id)}/${action}`;
    const r = await api.call('POST', path, body);
    if (r.httpStatus === 202) {
      showNotice(`${action === 'export' ? 'Export' : 'Destroy'} of ${what} is waiting for approval ${r.id} (${r.approvals.length} of ${r.required}). It runs when approved and you execute it from the approvals inbox.`);
      keepMessagesOnce();
      go('#/approvals');
      return;
    }
    if (action === 'export') {
      showNotice(`Exported ${what} under ${r.kek} (${r.format}).`);
      document.getElementById('export-out').replaceChildren(exportResult(r));
      return;
    }
    showNotice(action === 'rotate' ? `Rotated ${what}: version ${r.version}, KCV ${r.kcv || '—'}.`
                                   : `${what}: ${r.state}.`);
    refresh();
  });
}

export async function render({ id }) {
  const key = await api.call('GET', `/v1/keys/${encodeURIComponent(id)}`);
  const actions = actionsFor(key.state);
  if (key.exportable && !['Compromised', 'Destroyed', 'DestroyedCompromised'].includes(key.state)) actions.push('export');
  const c = key.counters || {};
  return h('section', { id: 'page-key' },
    h('p', {}, h('a', { href: '#/keys' }, '← Keys')),
    h('h1', {}, `Key ${key.name} `, badge(key.state)),
    h('div', { class: 'toolbar', id: 'key-actions' }, actions.map((a) => h('button', {
      type: 'button', id: `action-${a}`, class: a === 'destroy' || a === 'revoke' ? 'danger' : 'secondary',
      onclick: () => runAction(key, a),
    }, LABELS[a])), actions.length ? null : h('span', { class: 'muted' }, 'No lifecycle action in this state.')),
    h('div', { id: 'export-out' }),
    h('div', { class: 'columns' },
      h('div', { class: 'card' }, h('h2', {}, 'Key'), fields([
        ['Id', h('span', { class: 'mono', id: 'key-id' }, key.id)],
        ['Algorithm', key.algorithm],
        ['Usage', key.usage.join(', ')],
        ['Current version', h('span', { id: 'key-version' }, String(key.version))],
        ['KCV', h('span', { class: 'mono', id: 'key-kcv' }, key.kcv || '—')],
        ['Created', `${time(key.createdAt)} by ${key.createdBy}`],
      ])),
      h('div', { class: 'card' }, h('h2', {}, 'Policy'), fields([
        ['Exportable', key.exportable ? 'yes (wrapped, under dual control when configured)' : 'no'],
        ['Trusted (KEK)', key.trusted ? 'yes' : 'no'],
        ['Activation', time(key.activationDate)],
        ['Deactivation', time(key.deactivationDate)],
        ['Compromise', time(key.compromiseDate)],
        ['Destroyed', time(key.destroyDate)],
      ])),
      h('div', { class: 'card' }, h('h2', {}, 'Use counters'), fields(
        Object.entries(c).map(([k, v]) => [k, String(v)])))),
    key.publicKey ? [h('h2', {}, 'Public key'), h('pre', { class: 'mono card' }, key.publicKey)] : null,
    h('h2', {}, 'Versions'),
    table([
      ['Version', (v) => v.version],
      ['KCV', (v) => h('span', { class: 'mono' }, v.kcv || '—')],
      ['Created', (v) => time(v.createdAt)],
    ], [...key.versions].reverse(), { id: 'versions-table' }),
    h('h2', {}, 'State history'),
    table([
      ['When', (s) => time(s.at)],
      ['From', (s) => badge(s.from)],
      ['To', (s) => badge(s.to)],
      ['By', (s) => s.by],
      ['Reason', (s) => s.reason || '—'],
    ], [...(key.history || [])].reverse(), { id: 'history-table', empty: 'No state change yet.' }));
}
