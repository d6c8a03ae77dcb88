// The console's entry point: the login screen, the header (who is logged in, log out) and
// hash navigation between the pages (#/hsm, #/keys, #/keys/ID, #/approvals, #/audit). Each page
// module exports render(params) that returns the page's node.
import * as api from './api.js';
import { h, showError, showNotice, clearMessages } from './ui.js';
import * as hsmPage from './page_hsm.js';
import * as keysPage from './page_keys.js';
import * as keyPage from './page_key.js';
import * as approvalsPage from './page_approvals.js';
import * as auditPage from './page_audit.js';
import * as ceremoniesPage from './page_ceremonies.js';
import * as certsPage from './page_certs.js';
import * as principalsPage from './page_principals.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const logoutButton = document.getElementById('logout');

/** '#/keys/k-1?x=y' -> {page: 'key', id: 'k-1', query: URLSearchParams} */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs = ''] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(qs);
  if (parts[0] === 'keys' && parts[1]) return { page: 'key', id: parts[1], query };
  return { page: parts[0] || defaultPage().slice(2), id: parts[1], query };
}

const pages = { hsm: hsmPage, keys: keysPage, key: keyPage, approvals: approvalsPage, audit: auditPage,
  ceremonies: ceremoniesPage, certificates: certsPage, principals: principalsPage };

/** Where a session starts: custodians can only take part in ceremonies. */
function defaultPage() {
  const roles = api.currentSession()?.whoami.roles || [];
  return roles.length === 1 && roles[0] === 'custodian' ? '#/ceremonies' : '#/keys';
}

let renderSeq = 0;
async function route() {
  const seq = ++renderSeq;
  if (!api.currentSession()) {
    renderLogin();
    return;
  }
  const target = parseHash();
  const page = pages[target.page];
  for (const a of nav.querySelectorAll('a')) {
    a.classList.toggle('current', a.dataset.page === target.page || (target.page === 'key' && a.dataset.page === 'keys'));
  }
  if (!page) {
    main.replaceChildren(h('h1', {}, 'No such page'), h('p', {}, h('a', { href: '#/keys' }, 'Go to the keys')));
    return;
  }
  try {
    const node = await page.render(target);
    // Drop a render that finished after a newer one started or after the session ended (log
    // out while a page was loading must not bring the page back over the login screen).
    if (seq === renderSeq && api.currentSession()) main.replaceChildren(node);
  } catch (e) {
    if (seq !== renderSeq) return;
    if (!api.currentSession()) return;  // a 401 ended the session: the login screen is shown
    main.replaceChildren(h('h1', {}, 'This page could not be loaded'));
    showError(e);
  }
}

/** Re-renders the current page (after an action), keeping the messages shown. */
export function refresh() { return route(); }

/** Goes to `hash`; re-renders even when it is the current one. */
export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function showSession() {
  const s = api.currentSession();
  nav.hidden = who.hidden = logoutButton.hidden = !s;
  if (s) {
    who.textContent = `${s.whoami.name} · ${s.whoami.roles.join(', ')}` +
      (s.mode === 'certificate' ? ' · client certificate' : '');
    // Only the pages this officer's roles may read (kmsd decides anyway; this avoids 403s).
    for (const a of nav.querySelectorAll('a')) {
      a.hidden = !a.dataset.roles.split(' ').some((r) => s.whoami.roles.includes(r));
    }
  }
}

function renderLogin(message) {
  ++renderSeq;  // any page still loading is stale now
  showSession();
  const token = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true,
    spellcheck: 'false', placeholder: 'officer token' });
  const form = h('form', { class: 'card', id: 'login-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const value = token.value.trim();
    token.value = '';  // sent once to open a session, then dropped (api.js keeps the session's)
    await doLogin('token', value);
  } },
  h('h1', {}, 'Log in'),
  h('label', {}, 'Officer token', token),
  h('p', { class: 'muted' }, `The token opens a session with kmsd and is not kept. The session ends after ${api.idleText()} without activity, on log out, when kmsd's session times out, or when the tab closes or reloads.`),
  h('button', { type: 'submit', id: 'login' }, 'Log in'),
  h('p', { class: 'or muted' }, 'or'),
  h('button', { type: 'button', class: 'secondary', id: 'login-cert', onclick: () => doLogin('certificate', null) },
    'Use my client certificate'));
  main.replaceChildren(h('div', { class: 'login' }, form));
  if (message) showNotice(message);
  token.focus();
}

async function doLogin(mode, token) {
  clearMessages();
  try {
    await api.login(mode, token);
  } catch (e) {
    showError(e);
    return;
  }
  showSession();
  if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = defaultPage();
  else route();
}

logoutButton.addEventListener('click', async () => {
  await api.logout();
  clearMessages();
  main.replaceChildren();
  history.replaceState(null, '', location.pathname + location.search);
  renderLogin('You are logged out.');
});

api.onSessionEnd((message) => {
  clearMessages();
  renderLogin(message);
});

window.addEventListener('hashchange', () => { clearMessagesOnNavigate(); route(); });
let keepMessages = false;
/** The next navigation keeps the notice (an action's result shown on the page it leads to). */
export function keepMessagesOnce() { keepMessages = true; }
function clearMessagesOnNavigate() {
  if (keepMessages) keepMessages = false;
  else clearMessages();
}

api.configureIdle(location.search);
route();
