// The HSM page: what kmsd reports about its PKCS#11 module and token (GET /v1/hsm) and its
// health (GET /healthz). Roles: admin, key-officer, auditor.
import * as api from './api.js';
import { h, fields, table, time } from './ui.js';

/** A CK_TOKEN_INFO number: null means the token does not report it. */
const count = (n) => (n === null || n === undefined ? 'not reported' : String(n));
/** A maximum: 0 is CK_EFFECTIVELY_INFINITE. */
const limit = (n) => (n === 0 ? 'no limit' : count(n));
function bytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}
function memory(free, total) {
  if ((free ?? null) === null && (total ?? null) === null) return 'not reported by the token';
  return `${free === null ? 'not reported' : bytes(free)} free of ${total === null ? 'not reported' : bytes(total)}`;
}

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
        ['Slot', tok.slot === undefined ? null : String(tok.slot)],
        ['Hardware / firmware', tok.hardwareVersion ? `${tok.hardwareVersion} / ${tok.firmwareVersion}` : null],
        ['Sessions (all applications)', tok.sessions ? `open: ${count(tok.sessions.open)} (max ${limit(tok.sessions.max)}); ` +
          `read-write: ${count(tok.sessions.rwOpen)} (max ${limit(tok.sessions.rwMax)})` : null],
        ['Public memory', tok.memory ? memory(tok.memory.publicFree, tok.memory.publicTotal) : null],
        ['Private memory', tok.memory ? memory(tok.memory.privateFree, tok.memory.privateTotal) : null],
        ['Flags', h('div', { class: 'chips', id: 'token-flags' }, (tok.flags || []).map((f) => h('span', { class: 'chip mono' }, f.replace(/^CKF_/, ''))))],
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
    info.mechanismInfo
      ? table([
        ['Mechanism', (m) => h('span', { class: 'mono' }, m.name)],
        ['Key size', (m) => (m.minKeySize || m.maxKeySize ? `${m.minKeySize} to ${m.maxKeySize}` : '—')],
        ['Functions', (m) => m.flags.join(', ')],
      ], info.mechanismInfo, { id: 'mechanisms' })
      : h('div', { class: 'chips', id: 'mechanisms' }, (info.mechanisms || []).map((m) => h('span', { class: 'chip mono' }, m))),
    h('p', { class: 'muted' }, 'Key sizes are in the unit each mechanism defines (PKCS#11 v2.40 §3.6): bits for RSA and EC, bytes for AES and generic secrets on most modules.'),
    h('h2', {}, 'Host fallbacks'),
    (info.hostFallbacks || []).length
      ? h('ul', { id: 'host-fallbacks' }, info.hostFallbacks.map((f) => h('li', {}, f)))
      : h('p', { class: 'muted' }, 'None: every operation runs inside the HSM.'),
    slots(info.slots),
    selfTests(info.selfTests));
}

/** Every slot of the module (C_GetSlotList), the one kmsd uses marked, with its token if any. */
function slots(list) {
  if (!list) return null;
  const tok = (s, f) => (s.token ? f(s.token) : '—');
  return [
    h('h2', {}, `Slots (${list.length})`),
    table([
      ['Slot', (s) => h('span', { class: 'mono' }, String(s.slot))],
      ['Description', (s) => s.description + (s.inUse ? ' (kmsd)' : '')],
      ['Token', (s) => tok(s, (t) => (t.flags.includes('CKF_TOKEN_INITIALIZED') ? t.label : 'not initialised'))],
      ['Serial', (s) => tok(s, (t) => h('span', { class: 'mono' }, t.serial))],
      ['Sessions', (s) => tok(s, (t) => `${count(t.sessions.open)} (max ${limit(t.sessions.max)})`)],
      ['Private memory', (s) => tok(s, (t) => memory(t.memory.privateFree, t.memory.privateTotal))],
    ], list, { id: 'slots' }),
  ];
}

/** The start-up self-tests (kmsd serves only when all passed), folded: one line, details on demand. */
function selfTests(st) {
  if (!st) return null;
  return h('details', { class: 'create', id: 'self-tests' },
    h('summary', {}, `Self-tests at start: ${st.passed} passed, ${st.failed} failed (${time(st.ranAt)})`),
    table([
      ['Test (vector source)', (t) => t.name],
      ['Result', (t) => h('span', { class: `state ${t.passed ? 'valid' : 'invalid'}` }, t.passed ? 'passed' : 'failed')],
      ['ms', (t) => t.elapsedMs.toFixed(1)],
    ], st.results));
}
