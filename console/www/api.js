// The console's only way to kmsd: same-origin fetch() calls to the REST API (docs/api.md),
// and the officer's session.
//
// Logging in trades the officer's long-lived credential (their token, or the browser's client
// certificate) for a kmsd session (POST /v1/sessions): a short-lived token that kmsd ends after
// an idle time without requests, at a maximum lifetime, at log out (DELETE
// /v1/sessions/current) and at its restart. Only that session token is kept, in this module's
// memory: not in localStorage, sessionStorage or a cookie, so it is gone when the tab closes or
// reloads and no other page of the origin, no browser extension reading storage and no later
// visitor of the machine can find it. The long-lived token is sent once, to open the session,
// and dropped. The console is one page (hash navigation), so normal use never reloads.
//
// The page also ends the session after IDLE_MS without a key press, click or touch, and when
// the tab closes or reloads (and tells kmsd); kmsd's own idle timeout counts requests.
// Whichever comes first ends it.

/** An error answer of kmsd: `{"error": code, "message": text}` with the HTTP status. */
export class KmsError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const DEFAULT_IDLE_MS = 15 * 60 * 1000;
let session = null;  // {mode: 'token'|'certificate', token (the session's), whoami, id, expiresAt, idleTimeoutSeconds}
let idleMs = DEFAULT_IDLE_MS;
let lastActivity = Date.now();
let idleTimer = null;
let onEnd = () => {};

/**
 * Sets the idle timeout. `?idle=SECONDS` in the page URL may only shorten it (5..900 s), so a
 * link cannot lengthen an officer's session.
 */
export function configureIdle(search) {
  const v = Number(new URLSearchParams(search).get('idle'));
  if (Number.isInteger(v) && v >= 5 && v <= 900) idleMs = v * 1000;
}

export function idleSeconds() { return Math.round(idleMs / 1000); }

/** The idle timeout in words: "15 minutes", "5 s". */
export function idleText() {
  const s = idleSeconds();
  return s >= 60 && s % 60 === 0 ? `${s / 60} minute${s === 60 ? '' : 's'}` : `${s} s`;
}

/** Called with a message whenever the session ends without the officer asking (idle, 401). */
export function onSessionEnd(fn) { onEnd = fn; }

export function currentSession() { return session; }

function touch() { lastActivity = Date.now(); }
for (const ev of ['keydown', 'pointerdown', 'touchstart']) {
  window.addEventListener(ev, touch, { passive: true, capture: true });
}

function startIdleTimer() {
  clearInterval(idleTimer);
  touch();
  idleTimer = setInterval(() => {
    if (session && Date.now() - lastActivity > idleMs) {
      end(`Your session ended after ${idleText()} without activity. Log in again.`, true);
    }
  }, 1000);
}

/** Ends the session in the page; with `revoke`, also tells kmsd (best effort, not awaited). */
function end(message, revoke) {
  const had = session;
  session = null;
  clearInterval(idleTimer);
  if (had && revoke) revokeAtKmsd(had.token);
  if (had && message) onEnd(message);
}

/** DELETE /v1/sessions/current with `token`; resolves whatever kmsd answers. */
function revokeAtKmsd(token) {
  // keepalive: the request outlives the page when it is sent as the tab closes or reloads.
  return fetch('/v1/sessions/current', { method: 'DELETE', cache: 'no-store', credentials: 'same-origin',
    redirect: 'error', keepalive: true, headers: { Accept: 'application/json', Authorization: `Bearer ${token}` } })
    .then((r) => r.status, () => 0);
}

// Closing or reloading the tab logs out at kmsd too (best effort: a crash or a lost network
// leaves the session to kmsd's idle timeout).
window.addEventListener('pagehide', () => end(null, true));

/**
 * Logs in with an officer token (mode 'token') or the browser's client certificate (mode
 * 'certificate', token null): opens a kmsd session with it (POST /v1/sessions) and keeps only
 * the session's token; the caller drops `token`. Throws KmsError when kmsd refuses.
 */
export async function login(mode, token) {
  session = null;
  const opened = await call('POST', '/v1/sessions', undefined, mode === 'token' ? token : null);
  session = {
    mode, token: opened.token, id: opened.id, expiresAt: opened.expiresAt,
    idleTimeoutSeconds: opened.idleTimeoutSeconds, whoami: { name: opened.name, roles: opened.roles },
  };
  startIdleTimer();
  return session.whoami;
}

/** Logs out: kmsd ends the session (its token gets 401 from then on), then the page does. */
export async function logout() {
  const had = session;
  end(null);
  if (had) await revokeAtKmsd(had.token);
}

/**
 * One REST call: returns the parsed JSON answer (or the text of a non-JSON one), with the
 * HTTP status in `status` of the result object for 2xx answers that need it (202). Throws
 * KmsError with kmsd's own message for every 4xx/5xx answer; a 401 also ends the session.
 */
export async function call(method, path, body, tokenOverride) {
  const headers = { Accept: 'application/json' };
  const token = tokenOverride !== undefined ? tokenOverride : session?.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store', credentials: 'same-origin', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new KmsError(0, 'unreachable', `kmsd did not answer (${e.message})`);
  }
  const type = resp.headers.get('Content-Type') || '';
  const data = type.startsWith('application/json') ? await resp.json().catch(() => null)
                                                   : await resp.text();
  if (!resp.ok) {
    const code = data && data.error ? data.error : `http_${resp.status}`;
    const message = data && data.message ? data.message : `HTTP ${resp.status}`;
    if (resp.status === 401 && session) end(`kmsd ended the session: ${message}`);
    throw new KmsError(resp.status, code, message);
  }
  if (data && typeof data === 'object') Object.defineProperty(data, 'httpStatus', { value: resp.status });
  return data;
}

/** `path` with the query parameters of `params` that are set (not '' or undefined). */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
