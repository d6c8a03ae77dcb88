// The HSM page: what kmsd reports about its PKCS#11 module and token (GET /v1/hsm) and its
// health (GET /healthz). Roles: admin, key-officer, auditor.
import * as api from './api.js';
import { h, fields } from './ui.js';

export async function render() {
  const [info, health] = await Promise.all([
    api.call('GET', '/v1/hsm'),
    api.call('GET', '/healthz').catch((e) => ({ status: 'unavailable', hsm: '?', store: '?', error: e.message })),
  ]);
  const lib = info.library || {};
  const tok = info.token || {};
  return h('section', { id: 'page-hsm' },
    h('h1', {}, 'HSM'),
    h('div', { class: 'columns' },
      h('div', { class: 'card' }, h('h2', {}, 'PKCS#11 module'), fields([
        ['Module path', h('span', { class: 'mono' }, info.module)],
        ['Library', lib.description],
        ['Manufacturer', lib.manufacturer],
        ['Library version', lib.version],
        ['Cryptoki version', lib.cryptoki],
        ['Vendor profile', info.profile],
      ])),
      h('div', { class: 'card' }, h('h2', {}, 'Token'), fields([
        ['Label', tok.label],
        ['Serial', h('span', { class: 'mono' }, tok.serial)],
        ['Manufacturer', tok.manufacturer],
        ['Model', tok.model],
        ['Master key KCV', h('span', { class: 'mono', id: 'master-kcv' }, info.masterKeyKcv || '—')],
      ])),
      h('div', { class: 'card' }, h('h2', {}, 'State'), fields([
        ['Health', h('span', { class: `state ${health.status === 'ok' ? 'valid' : 'invalid'}`, id: 'health' }, health.status)],
        ['HSM', health.hsm],
        ['Store', health.store],
        ['Session pool', `${info.sessions?.inUse ?? '?'} in use of ${info.sessions?.pool ?? '?'}`],
        ['Handle cache', `${info.handleCache?.size ?? '?'} of ${info.handleCache?.capacity ?? '?'}`],
      ]))),
    h('h2', {}, `Mechanisms (${(info.mechanisms || []).length})`),
    h('div', { class: 'chips', id: 'mechanisms' }, (info.mechanisms || []).map((m) => h('span', { class: 'chip mono' }, m))),
    h('h2', {}, 'Host fallbacks'),
    (info.hostFallbacks || []).length
      ? h('ul', { id: 'host-fallbacks' }, info.hostFallbacks.map((f) => h('li', {}, f)))
      : h('p', { class: 'muted' }, 'None: every operation runs inside the HSM.'),
    h('p', { class: 'muted' }, 'Slot list, token flags, memory and session counts, key size ranges per mechanism and self-test results are not reported by kmsd yet (docs/console.md, "What is left").'));
}
