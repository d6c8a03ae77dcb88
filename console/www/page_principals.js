// Principals, plugin policies and dual-control quorums (admin). Principals: the list (GET
// /v1/principals), creating one (POST /v1/principals: its token shown once, or with a CSR a
// client certificate to download), disabling and enabling (POST /v1/principals/{name}/disable
// | enable). Plugin policies: each plugin's keys and operations (GET and PUT
// /v1/principals/{name}/policy). Quorums: which operations need approvals (GET, PUT and DELETE
// /v1/quorums/{op}); changing or removing an existing quorum is itself held for approval (202).
// Every change asks for a confirmation naming the object; kmsd's refusals show its message.
import * as api from './api.js';
import { h, table, time, fields, badge, confirmAction, showNotice, guarded, download } from './ui.js';
import { go, keepMessagesOnce, refresh } from './app.js';

const ROLES = ['admin', 'key-officer', 'custodian', 'auditor', 'plugin', 'monitor'];
const OPERATIONS = ['encrypt', 'decrypt', 'mac', 'mac-verify', 'sign', 'verify', 'random', 'read', 'gp'];
const GATED = ['ceremony.create', 'key.destroy', 'key.export', 'key.import', 'principal.create'];
const APPROVER_ROLES = ['admin', 'key-officer', 'custodian', 'auditor'];

// A principal just created: shown once on the next render, then dropped (kmsd keeps only the
// token's hash, so this page is the only place it is ever shown).
let issued = null;


/**
 * The card of a created principal (POST /v1/principals, or an executed principal.create
 * approval): its token once, with a copy button and the warning, and the certificate when a
 * CSR was given. "Done" removes the card and with it the token from the page.
 */
export function issuedPrincipal(p) {
  const token = h('code', { class: 'mono secret', id: 'new-token' }, p.token);
  const card = h('div', { class: 'card warning', id: 'new-principal' },
    h('h2', {}, `Principal ${p.name} created (${p.roles.join(', ')})`),
    h('p', { id: 'new-token-warning' }, 'This token is shown only now: kmsd keeps only its hash. Copy it and hand it to ' +
      `${p.name} over a trusted channel; it is gone from this page when you press Done or leave the page.`),
    token,
    h('div', { class: 'inline' },
      h('button', { type: 'button', id: 'copy-token', onclick: async (ev) => {
        try {
          await navigator.clipboard.writeText(p.token);
          ev.target.textContent = 'Copied';
        } catch {
          // No clipboard permission: select the text for a manual copy instead.
          getSelection().selectAllChildren(token);
          ev.target.textContent = 'Selected: press Ctrl+C';
        }
      } }, 'Copy token'),
      p.certificate ? download('Download certificate', `${p.name}.pem`, p.certificate + (p.chain || ''), 'download-principal-cert') : null,
      h('button', { type: 'button', class: 'secondary', id: 'token-done', onclick: () => { p.token = ''; card.remove(); } }, 'Done')),
    p.certificate ? fields([['Certificate serial', h('span', { class: 'mono' }, p.serial)], ['Valid until', time(p.notAfter)]]) : null);
  return card;
}

function createForm() {
  const csr = h('textarea', { name: 'csr', id: 'principal-csr', spellcheck: 'false',
    placeholder: 'optional: -----BEGIN CERTIFICATE REQUEST----- (CN = the name)' });
  return h('details', { class: 'create', id: 'create-principal-details' }, h('summary', {}, 'Create a principal'),
    h('form', { id: 'create-principal-form', onsubmit: (ev) => {
      ev.preventDefault();
      const d = new FormData(ev.target);
      const body = { name: String(d.get('name')).trim(), roles: d.getAll('roles').map(String) };
      if (String(d.get('csr')).trim()) body.csr = String(d.get('csr')).trim();
      guarded(async () => {
        const r = await api.call('POST', '/v1/principals', body);
        if (r.httpStatus === 202) {
          showNotice(`Creating principal ${body.name} is waiting for approval ${r.id} (${r.approvals.length} of ${r.required}). ` +
            'Once approved, execute it from the approvals inbox: the token is shown there, once.');
          keepMessagesOnce();
          go('#/approvals');
          return;
        }
        issued = r;
        showNotice(`Created principal ${r.name}.`);
        keepMessagesOnce();
        refresh();
      });
    } },
    h('div', { class: 'inline' },
      // No pattern here: kmsd checks the name and its message says what is allowed.
      h('label', {}, 'Name (a-z 0-9 . _ -)', h('input', { name: 'name', id: 'new-principal-name', required: true,
        autocomplete: 'off', spellcheck: 'false' }))),
    h('fieldset', {}, h('legend', {}, 'Roles'),
      ROLES.map((r) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'roles', value: r, id: `new-principal-role-${r}` }), r))),
    h('label', {}, 'Client certificate for mutual TLS: a CSR (paste it or choose a file)', csr),
    h('input', { type: 'file', accept: '.csr,.pem,.req', id: 'principal-csr-file', onchange: async (ev) => {
      const f = ev.target.files[0];
      if (f) csr.value = await f.text();
    } }),
    h('button', { type: 'submit', id: 'create-principal' }, 'Create')));
}

async function setDisabled(p, disable) {
  const v = await confirmAction({
    title: `${disable ? 'Disable' : 'Enable'} principal ${p.name}?`, danger: disable,
    confirmLabel: disable ? 'Disable' : 'Enable',
    message: disable
      ? `Principal ${p.name} (${p.roles.join(', ')}): its token, client certificate and sessions are refused from its next request on. Enable undoes it.`
      : `Principal ${p.name} (${p.roles.join(', ')}): its token and client certificate work again.`,
  });
  if (!v) return;
  await guarded(async () => {
    const r = await api.call('POST', `/v1/principals/${encodeURIComponent(p.name)}/${disable ? 'disable' : 'enable'}`);
    showNotice(`Principal ${r.name} is ${r.disabled ? 'disabled' : 'enabled'}.`);
    keepMessagesOnce();
    refresh();
  });
}

function policyCard(pol) {
  const id = pol.principal.replace(/[^a-z0-9-]/g, '_');
  const keys = h('textarea', { name: 'keys', id: `policy-keys-${id}`, spellcheck: 'false', rows: 3,
    placeholder: 'key ids (k-...) or name patterns ending in * (tsm-*), one per line' }, pol.keys.join('\n'));
  const form = h('form', { id: `policy-form-${id}`, class: 'policy-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const d = new FormData(ev.target);
    const body = { keys: String(d.get('keys')).split(/[\n,]/).map((s) => s.trim()).filter(Boolean),
      operations: d.getAll('operations').map(String) };
    const v = await confirmAction({ title: `Replace the policy of plugin ${pol.principal}?`, confirmLabel: 'Save policy',
      message: `Plugin ${pol.principal} may then use ${body.keys.length ? body.keys.join(', ') : 'no key'} for ` +
        `${body.operations.length ? body.operations.join(', ') : 'no operation'}, and nothing else.` });
    if (!v) return;
    await guarded(async () => {
      const r = await api.call('PUT', `/v1/principals/${encodeURIComponent(pol.principal)}/policy`, body);
      showNotice(`Policy of ${r.principal} saved: keys ${r.keys.join(', ') || '—'}; operations ${r.operations.join(', ') || '—'}.`);
      keepMessagesOnce();
      refresh();
    });
  } },
  h('label', {}, 'Keys', keys),
  h('fieldset', {}, h('legend', {}, 'Operations'),
    OPERATIONS.map((op) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'operations', value: op,
      id: `policy-op-${id}-${op}`, checked: pol.operations.includes(op) }), op))),
  h('button', { type: 'submit', id: `save-policy-${id}` }, 'Save policy'));
  return h('div', { class: 'card policy', id: `policy-${id}` }, h('h2', {}, pol.principal),
    pol.defined
      ? fields([['Keys', pol.keys.join(', ')], ['Operations', pol.operations.join(', ')], ['Updated', `${time(pol.updatedAt)} by ${pol.updatedBy || '—'}`]])
      : h('p', { class: 'muted' }, 'No policy: this plugin may do nothing with keys.'),
    h('details', {}, h('summary', {}, 'Edit the policy'), form));
}

async function quorumChange(method, op, body) {
  const r = await api.call(method, `/v1/quorums/${encodeURIComponent(op)}`, body);
  if (r.httpStatus === 202) {
    showNotice(`Changing the quorum of ${op} is waiting for approval ${r.id} (${r.approvals.length} of ${r.required}), under the quorum in force.`);
    keepMessagesOnce();
    go('#/approvals');
    return;
  }
  showNotice(method === 'DELETE' ? `Quorum of ${op} removed.` : `Quorum of ${op}: ${r.approvals} approval(s) from ${r.approverRoles.join(', ')}.`);
  keepMessagesOnce();
  refresh();
}

function quorumSection(quorums) {
  const form = h('form', { id: 'quorum-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const d = new FormData(ev.target);
    const op = String(d.get('operation'));
    const body = { approvals: Number(d.get('approvals')) };
    const roles = d.getAll('approverRoles').map(String);
    if (roles.length) body.approverRoles = roles;  // none ticked: kmsd's default roles
    if (String(d.get('ttlSeconds'))) body.ttlSeconds = Number(d.get('ttlSeconds'));
    const existing = quorums.find((q) => q.operation === op);
    const v = await confirmAction({ title: `${existing ? 'Change' : 'Set'} the quorum of ${op}?`, confirmLabel: 'Save quorum',
      message: `${op} would then need ${body.approvals} approval(s) from ${roles.join(', ') || 'the default roles'}.` +
        (existing ? ` The change itself waits for ${existing.approvals} approval(s) under the quorum in force.` : '') });
    if (v) await guarded(() => quorumChange('PUT', op, body));
  } },
  h('div', { class: 'inline' },
    h('label', {}, 'Operation', h('select', { name: 'operation', id: 'quorum-operation' }, GATED.map((o) => h('option', { value: o }, o)))),
    h('label', {}, 'Approvals', h('input', { name: 'approvals', id: 'quorum-approvals', type: 'number', min: 1, max: 9, value: 1, required: true })),
    h('label', {}, 'Request lifetime (s)', h('input', { name: 'ttlSeconds', type: 'number', min: 60, max: 604800, placeholder: '86400' }))),
  h('fieldset', {}, h('legend', {}, 'Approver roles'),
    APPROVER_ROLES.map((r) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'approverRoles', value: r, id: `quorum-role-${r}` }), r))),
  h('button', { type: 'submit', id: 'save-quorum' }, 'Save quorum'));
  return [h('h2', {}, 'Dual control (quorums)'),
    table([
      ['Operation', (q) => h('strong', {}, q.operation)],
      ['Approvals', (q) => `${q.approvals} of ${q.eligible} eligible`],
      ['Approver roles', (q) => q.approverRoles.join(', ')],
      ['Request lifetime', (q) => `${q.ttlSeconds} s`],
      ['Updated', (q) => (q.updatedAt ? `${time(q.updatedAt)} by ${q.updatedBy || '—'}` : '—')],
      ['', (q) => h('button', { type: 'button', class: 'danger remove-quorum', dataset: { op: q.operation }, onclick: async () => {
        const v = await confirmAction({ title: `Remove the quorum of ${q.operation}?`, danger: true, confirmLabel: 'Request removal',
          message: `${q.operation} would run without approvals. The removal itself waits for ${q.approvals} approval(s).` });
        if (v) await guarded(() => quorumChange('DELETE', q.operation));
      } }, 'Remove…')],
    ], quorums, { id: 'quorums-table', empty: 'No operation is under dual control.' }),
    h('details', { class: 'create', id: 'quorum-details' }, h('summary', {}, 'Set or change a quorum'), form)];
}

export async function render() {
  const me = api.currentSession().whoami.name;
  const [list, quorums] = await Promise.all([api.call('GET', '/v1/principals'), api.call('GET', '/v1/quorums')]);
  const plugins = list.principals.filter((p) => p.roles.includes('plugin'));
  const policies = await Promise.all(plugins.map((p) => api.call('GET', `/v1/principals/${encodeURIComponent(p.name)}/policy`)));
  const shown = issued;
  issued = null;
  return h('section', { id: 'page-principals' },
    h('h1', {}, 'Principals'),
    shown ? issuedPrincipal(shown) : null,
    createForm(),
    table([
      ['Name', (p) => p.name],
      ['Roles', (p) => p.roles.join(', ')],
      ['Created', (p) => `${time(p.createdAt)} by ${p.createdBy || '—'}`],
      ['State', (p) => badge(p.disabled ? 'disabled' : 'enabled')],
      ['', (p) => (p.name === me ? h('span', { class: 'muted' }, 'you')
        : h('button', { type: 'button', class: p.disabled ? 'secondary enable' : 'danger disable', dataset: { name: p.name },
          onclick: () => setDisabled(p, !p.disabled) }, p.disabled ? 'Enable…' : 'Disable…'))],
    ], list.principals, { id: 'principals-table' }),
    h('h2', {}, 'Plugin policies'),
    policies.length ? policies.map(policyCard) : h('p', { class: 'muted' }, 'No principal holds the plugin role.'),
    quorumSection(quorums.quorums));
}
