// Certificates of the internal CA (docs/certificates.md): the list with status and "expires
// within" filters (GET /v1/ca/certificates), issuing from a CSR with a profile (POST
// /v1/ca/certificates), a certificate's page with its PEM and download, revocation with a
// reason (POST /v1/ca/certificates/{serial}/revoke), and the CRL (GET /v1/ca/crl?format=pem).
import * as api from './api.js';
import { h, fields, table, badge, time, confirmAction, showNotice, guarded, download } from './ui.js';
import { go, keepMessagesOnce, refresh } from './app.js';

const PROFILES = ['server', 'client', 'secure-element'];
const REASONS = ['unspecified', 'keyCompromise', 'caCompromise', 'affiliationChanged', 'superseded',
  'cessationOfOperation', 'privilegeWithdrawn'];


function issueForm() {
  const csr = h('textarea', { name: 'csr', id: 'csr', required: true, spellcheck: 'false',
    placeholder: '-----BEGIN CERTIFICATE REQUEST-----' });
  const file = h('input', { type: 'file', accept: '.csr,.pem,.req', id: 'csr-file', onchange: async (ev) => {
    const f = ev.target.files[0];
    if (f) csr.value = await f.text();
  } });
  return h('details', { class: 'create', id: 'issue-details' }, h('summary', {}, 'Issue a certificate from a CSR'),
    h('form', { id: 'issue-form', onsubmit: (ev) => {
      ev.preventDefault();
      const d = new FormData(ev.target);
      const body = { csr: String(d.get('csr')), profile: d.get('profile') };
      if (d.get('validityDays')) body.validityDays = Number(d.get('validityDays'));
      if (String(d.get('principal')).trim()) body.principal = String(d.get('principal')).trim();
      guarded(async () => {
        const c = await api.call('POST', '/v1/ca/certificates', body);
        showNotice(`Issued certificate ${c.serial} for ${c.subject} (${c.profile}), valid until ${time(c.notAfter)}.`);
        keepMessagesOnce();
        go(`#/certificates/${c.serial}`);
      });
    } },
    h('label', {}, 'CSR (PEM): paste it or choose a file', csr), file,
    h('div', { class: 'inline' },
      h('label', {}, 'Profile', h('select', { name: 'profile', id: 'cert-profile' }, PROFILES.map((p) => h('option', { value: p }, p)))),
      h('label', {}, 'Validity (days)', h('input', { name: 'validityDays', type: 'number', min: 1, max: 7305 })),
      h('label', {}, 'Bind to principal (client profile)', h('input', { name: 'principal', autocomplete: 'off' })),
      h('button', { type: 'submit', id: 'issue-cert' }, 'Issue'))));
}

export async function render({ id, query }) {
  if (id) return renderOne(id);
  const status = query.get('status') || '';
  const expiring = query.get('expiringWithinDays') || '';
  const list = await api.call('GET', api.withQuery('/v1/ca/certificates', { status, expiringWithinDays: expiring }));
  return h('section', { id: 'page-certificates' },
    h('h1', {}, 'Certificates'),
    issueForm(),
    h('form', { class: 'inline', id: 'cert-filters', onsubmit: (ev) => {
      ev.preventDefault();
      const d = new FormData(ev.target);
      const q = new URLSearchParams();
      for (const k of ['status', 'expiringWithinDays']) if (d.get(k)) q.set(k, d.get(k));
      go(`#/certificates?${q}`);
    } },
    h('label', {}, 'Status', h('select', { name: 'status' }, h('option', { value: '' }, 'any'),
      ['valid', 'revoked', 'expired'].map((s) => h('option', { value: s, selected: s === status }, s)))),
    h('label', {}, 'Expires within (days)', h('input', { name: 'expiringWithinDays', type: 'number', min: 0, max: 36500, value: expiring })),
    h('button', { type: 'submit' }, 'Show'),
    h('button', { type: 'button', class: 'secondary', id: 'show-crl', onclick: (ev) => showCrl(ev.target.closest('section')) }, 'CRL')),
    h('div', { id: 'crl-out' }),
    table([
      ['Serial', (c) => h('a', { href: `#/certificates/${c.serial}`, class: 'mono cert-link' }, c.serial)],
      ['Subject', (c) => c.subject],
      ['Profile', (c) => c.profile],
      ['Status', (c) => badge(c.status)],
      ['Not after', (c) => time(c.notAfter)],
      ['Issued', (c) => `${time(c.issuedAt)} by ${c.issuedBy}`],
    ], list.certificates, { id: 'certs-table', empty: 'No certificate matches.' }));
}

async function showCrl(section) {
  await guarded(async () => {
    const pem = await api.call('GET', '/v1/ca/crl?format=pem');
    section.querySelector('#crl-out').replaceChildren(h('div', { class: 'card' },
      h('h2', {}, 'Certificate revocation list'), download('Download CRL (PEM)', 'kms.crl.pem', pem, 'download-crl'),
      h('pre', { class: 'mono', id: 'crl-pem' }, pem)));
  });
}

async function renderOne(serial) {
  const c = await api.call('GET', `/v1/ca/certificates/${encodeURIComponent(serial)}`);
  return h('section', { id: 'page-certificate' },
    h('p', {}, h('a', { href: '#/certificates' }, '← Certificates')),
    h('h1', {}, `Certificate ${c.subject} `, badge(c.status)),
    h('div', { class: 'toolbar' },
      download('Download PEM', `${c.serial}.pem`, c.certificate, 'download-cert'),
      c.status === 'valid' ? h('button', { type: 'button', class: 'danger', id: 'revoke-cert', onclick: async () => {
        const v = await confirmAction({ title: `Revoke certificate ${c.serial}?`, danger: true, confirmLabel: 'Revoke',
          message: `Revoke the ${c.profile} certificate ${c.serial} for ${c.subject}. It is listed on the next CRL; this cannot be undone.`,
          fields: [h('label', {}, 'Reason', h('select', { name: 'reason', id: 'confirm-cert-reason' }, REASONS.map((r) => h('option', { value: r }, r))))] });
        if (!v) return;
        await guarded(async () => {
          const r = await api.call('POST', `/v1/ca/certificates/${c.serial}/revoke`, { reason: v.reason });
          showNotice(`Certificate ${r.serial} revoked (${r.reason}).`);
          refresh();
        });
      } }, 'Revoke…') : null),
    h('div', { class: 'card' }, fields([
      ['Serial', h('span', { class: 'mono', id: 'cert-serial' }, c.serial)],
      ['Subject', c.subject],
      ['Profile', c.profile],
      ['Principal', c.principal],
      ['Valid', `${time(c.notBefore)} to ${time(c.notAfter)}`],
      ['Issued', `${time(c.issuedAt)} by ${c.issuedBy}`],
      ['Revoked', c.revokedAt ? `${time(c.revokedAt)} by ${c.revokedBy} (${c.reason})` : null],
    ])),
    h('h2', {}, 'PEM'),
    h('pre', { class: 'mono card', id: 'cert-pem' }, c.certificate));
}
