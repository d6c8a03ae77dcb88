// The console suite: the web console in headless Chromium (driven by playwright-core, never a
// downloaded browser) against a real kmsd. One officer logs in, creates a key, rotates it,
// deactivates it and requests its destroy; a second officer approves it in the approvals inbox;
// the first executes it; the audit chain is verified. Along the way: the security headers, no
// request to another host, no inline script (the CSP blocks a planted one), kmsd's error
// messages shown, the idle timeout. Sessions: the officer's token is sent once (POST
// /v1/sessions) and every other request carries the session's token; log out revokes it (401
// over plain REST); a second kmsd with a 2 s session idle time shows the expiry as the login
// page with kmsd's message. A screenshot of each page goes to SCREENSHOT_DIR.
//
// Environment: KMSD (kmsd binary), KMS_SOFTHSM_MODULE, CONSOLE_DIR (console/, holding
// node_modules from `npm ci`), SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).
// Prints one line per step and a summary; exits 1 when a step fails (never skips).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Kmsd } from './kmsd.mjs';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.SCREENSHOT_DIR || path.join(os.tmpdir(), 'kms-console-screenshots');

/** AES KCV as kmsd computes it: the first 3 bytes of AES-CMAC(K, 16 zero bytes), in hex
 *  (NIST SP 800-38B §6.1-6.2: for one complete block M, T = AES(K, M ⊕ K1), K1 from L = AES(K, 0)). */
function aesKcv(key) {
  const enc = (b) => { const c = createCipheriv(`aes-${key.length * 8}-ecb`, key, null); c.setAutoPadding(false); return Buffer.concat([c.update(b), c.final()]); };
  const l = enc(Buffer.alloc(16));
  const k1 = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) k1[i] = ((l[i] << 1) | (i < 15 ? l[i + 1] >> 7 : 0)) & 0xff;
  if (l[0] & 0x80) k1[15] ^= 0x87;
  return enc(k1).subarray(0, 3).toString('hex').toUpperCase();
}

function need(cond, message) {
  if (!cond) {
    console.error(`console suite: ${message}`);
    process.exit(1);
  }
}
need(process.env.KMSD, 'KMSD (the kmsd binary) is not set');
need(fs.existsSync(chromiumPath), `${chromiumPath} is missing: install the Debian packages chromium and chromium-driver (scripts/deps.sh)`);
let chromium;
try {
  const consoleDir = path.resolve(process.env.CONSOLE_DIR || new URL('../../console', import.meta.url).pathname);
  ({ chromium } = createRequire(path.join(consoleDir, 'package.json'))('playwright-core'));
} catch (e) {
  need(false, `playwright-core is missing: run "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci" in console/ (test.sh does) (${e.message})`);
}
fs.mkdirSync(shots, { recursive: true });

const results = [];
let kmsd;
let kmsdShort;  // console.session_idle_s = 2: the session expiry step
let browser;
const cleanup = async () => {
  if (browser) await browser.close().catch(() => {});
  if (kmsd) await kmsd.stop().catch(() => {});
  if (kmsdShort) await kmsdShort.stop().catch(() => {});
  browser = kmsd = kmsdShort = null;
};
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, async () => { await cleanup(); process.exit(1); });

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`ok    ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t0 });
    console.log(`FAIL  ${name} (${Date.now() - t0} ms)\n      ${(e.stack || String(e)).split('\n').join('\n      ')}`);
    throw e;
  }
}

const t0 = Date.now();
let failed = false;
try {
  let officer2Token;
  let pluginToken;  // tsm-plugin-1, made in the principals step
  const custodianTokens = [];
  let page;
  let context;
  const foreign = [];      // requests to any other origin
  const credentials = [];  // [method, path, Authorization] of every API request the page sent
  const consoleErrors = [];
  const pageErrors = [];

  await step('start kmsd and set up a second officer and a key.destroy quorum', async () => {
    // Both at once: the second one's start costs no time of its own.
    const short = Kmsd.start(process.env.KMSD, {}, 'console.session_idle_s = 2\n')
      .then((k) => { kmsdShort = k; }, (e) => e);
    kmsd = await Kmsd.start(process.env.KMSD, {});
    const shortError = await short;
    if (shortError) throw shortError;
    const p = await kmsd.request('POST', '/v1/principals', { name: 'officer2', roles: ['key-officer'] }, kmsd.adminToken);
    assert.equal(p.status, 201, p.text);
    officer2Token = p.json.token;
    const q = await kmsd.request('PUT', '/v1/quorums/key.destroy', { approvals: 1 }, kmsd.adminToken);
    assert.equal(q.status, 200, q.text);
    // A few keys so the list has something to page and filter.
    for (const [name, algorithm, usage, activate] of [['payments-zpk-2026', 'AES-256', ['wrap', 'unwrap'], true],
      ['card-cvk-a', 'DES3-2K', ['mac'], true], ['issuer-sign', 'EC-P256', ['sign', 'verify'], true],
      ['hmac-tokens', 'HMAC-SHA256', ['mac'], true], ['legacy-pin', 'DES3-3K', ['encrypt', 'decrypt'], false]]) {
      const k = await kmsd.request('POST', '/v1/keys', { name, algorithm, usage, activate }, kmsd.adminToken);
      assert.equal(k.status, 201, k.text);
    }
    for (const name of ['custodian1', 'custodian2']) {
      const c = await kmsd.request('POST', '/v1/principals', { name, roles: ['custodian'] }, kmsd.adminToken);
      assert.equal(c.status, 201, c.text);
      custodianTokens.push(c.json.token);
    }
  });

  await step('launch Chromium', async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
        `--ignore-certificate-errors-spki-list=${kmsd.spkiHash()},${kmsdShort.spkiHash()}`],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.setDefaultTimeout(10000);
    const origin = kmsd.url;
    page.on('request', (r) => {
      if (!r.url().startsWith(`${origin}/`) && !r.url().startsWith('data:')) foreign.push(r.url());
      const u = new URL(r.url());
      if (u.pathname.startsWith('/v1/')) credentials.push([r.method(), u.pathname, r.headers().authorization || '']);
    });
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`) });
  const notice = () => page.locator('#notice');
  const confirm = async (expectedText) => {
    const dlg = page.locator('#confirm');
    await dlg.waitFor({ state: 'visible' });
    const text = await dlg.innerText();
    assert.ok(text.includes(expectedText), `the confirmation names ${expectedText}: ${text}`);
    await page.click('#confirm-ok');
    await dlg.waitFor({ state: 'hidden' });
  };
  const login = async (token) => {
    await page.fill('#token', token);
    await page.click('#login');
    await page.locator('#who').waitFor({ state: 'visible' });
    await page.locator('#login-form').waitFor({ state: 'detached' });  // the first page is shown
  };
  const logout = async () => {
    await page.click('#logout');
    await page.locator('#login-form').waitFor();
    assert.ok(!(await page.locator('#nav').isVisible()), 'no navigation after logging out');
  };

  await step('GET /console/ sends the security headers; /console redirects; unknown assets are JSON 404s', async () => {
    const resp = await page.goto(`${kmsd.url}/console`);
    assert.equal(new URL(page.url()).pathname, '/console/');
    const hd = resp.headers();
    assert.equal(resp.status(), 200);
    assert.equal(hd['content-security-policy'], CSP);
    assert.equal(hd['x-content-type-options'], 'nosniff');
    assert.equal(hd['referrer-policy'], 'no-referrer');
    assert.equal(hd['cache-control'], 'no-store');
    assert.match(hd['content-type'], /^text\/html; charset=utf-8/);
    const js = await kmsd.request('GET', '/console/app.js');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'no-cache');
    assert.match(js.headers.etag, /^"[0-9a-f]{32}"$/);
    const again = await new Promise((resolve, reject) => {
      import('node:https').then(({ request }) => {
        const req = request(`${kmsd.url}/console/app.js`, { ca: kmsd.ca, headers: { 'If-None-Match': js.headers.etag } },
          (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
        req.on('error', reject);
        req.end();
      });
    });
    assert.equal(again, 304);
    for (const bad of ['/console/nope.js', '/console/..%2Fv1%2Fwhoami', '/console/a/b.js', '/console/%2e%2e']) {
      const r = await kmsd.request('GET', bad);
      assert.equal(r.status, 404, `${bad}: ${r.text}`);
      assert.equal(r.json.error, 'not_found', bad);
    }
    await page.locator('#login-form').waitFor();
    assert.ok(!(await page.locator('#nav').isVisible()), 'no navigation before logging in');
    assert.match(await page.locator('#login-form').innerText(), /15 minutes without activity/);
    await shot('01-login');
  });

  await step('the CSP blocks an inline script planted in the page', async () => {
    await page.evaluate(() => {
      window.violations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.violations.push(e.violatedDirective));
      const s = document.createElement('script');
      s.textContent = 'window.inlineRan = true';
      document.body.append(s);
    });
    await page.waitForFunction(() => window.violations.length > 0);
    assert.equal(await page.evaluate(() => window.inlineRan), undefined);
    assert.deepEqual(await page.evaluate(() => window.violations), ['script-src-elem']);
    consoleErrors.length = 0;  // that one was ours
  });

  await step('a wrong token shows kmsd\'s message; the right one shows who is logged in', async () => {
    await page.fill('#token', 'not-a-token');
    await page.click('#login');
    await page.locator('#error').waitFor({ state: 'visible' });
    const err = await page.locator('#error').innerText();
    assert.match(err, /unauthenticated/);
    assert.equal(await page.inputValue('#token'), '', 'the token field is emptied');
    consoleErrors.length = 0;  // Chromium logs the 401 itself
    await login(kmsd.adminToken);
    assert.equal(await page.locator('#who').innerText(), 'admin · admin');
    assert.equal(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie), '{}{}');
  });

  await step('HSM page', async () => {
    await page.click('nav a[data-page=hsm]');
    await page.locator('#page-hsm').waitFor();
    assert.match(await page.locator('#master-kcv').innerText(), /^[0-9A-F]{6}$/);
    assert.ok(await page.locator('#mechanisms tbody tr').count() > 5);
    assert.ok((await page.locator('#token-flags').innerText()).includes('TOKEN_INITIALIZED'));
    assert.match(await page.locator('#self-tests summary').innerText(), /Self-tests at start: \d+ passed, 0 failed/);
    // SoftHSM2 offers kmsd's token and one more, uninitialised: both slots are listed.
    assert.equal(await page.locator('#slots tbody tr').count(), 2);
    assert.match(await page.locator('#slots tbody').innerText(), /\(kmsd\)[\s\S]*not initialised|not initialised[\s\S]*\(kmsd\)/);
    await shot('02-hsm');
  });

  let keyId;
  await step('create a key', async () => {
    await page.click('nav a[data-page=keys]');
    await page.locator('#page-keys').waitFor();
    await page.click('#create-key-details summary');
    await page.fill('#new-key-name', 'console-demo');
    await page.selectOption('#new-key-algorithm', 'AES-256');
    await page.check('#new-key-usage-encrypt');
    await page.check('#new-key-usage-decrypt');
    await page.click('#create-key');
    await page.locator('#page-key').waitFor();
    keyId = await page.locator('#key-id').innerText();
    assert.match(keyId, /^k-/);
    assert.match(await notice().innerText(), /created: Active/);
    assert.equal(await page.locator('#key-version').innerText(), '1');
  });

  await step('kmsd\'s error is shown (a second key with the same name)', async () => {
    await page.click('nav a[data-page=keys]');
    await page.click('#create-key-details summary');
    await page.fill('#new-key-name', 'console-demo');
    await page.check('#new-key-usage-mac');
    await page.click('#create-key');
    await page.locator('#error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#error').innerText(), /console-demo.*(exists|already)/i);
    consoleErrors.length = 0;  // Chromium logs the 409 itself
  });

  await step('rotate it (after a confirmation naming it)', async () => {
    await page.evaluate((id) => { location.hash = `#/keys/${id}`; }, keyId);
    await page.locator('#page-key').waitFor();
    const kcv1 = await page.locator('#key-kcv').innerText();
    await page.click('#action-rotate');
    await confirm(`console-demo (${keyId})`);
    await page.locator('#key-version', { hasText: '2' }).waitFor();
    assert.notEqual(await page.locator('#key-kcv').innerText(), kcv1);
    assert.equal(await page.locator('#versions-table tbody tr').count(), 2);
    await shot('03-key');
  });

  await step('log out revokes the session: its token then gets 401 over plain REST', async () => {
    const used = credentials.filter(([, , a]) => a.startsWith('Bearer kmss_')).pop();
    assert.ok(used, 'the page sends a session token');
    const sessionToken = used[2].slice('Bearer '.length);
    const before = await kmsd.request('GET', '/v1/sessions/current', undefined, sessionToken);
    assert.equal(before.status, 200, before.text);
    await logout();
    assert.match(await notice().innerText(), /logged out/);
    const after = await kmsd.request('GET', '/v1/whoami', undefined, sessionToken);
    assert.equal(after.status, 401, after.text);
    assert.match(after.json.message, /session token is not valid/);
    const audit = await kmsd.request('GET', '/v1/audit?limit=1000', undefined, kmsd.adminToken);
    const closes = audit.json.records.filter((r) => r.action === 'session.close' && r.target === before.json.id);
    assert.equal(closes.length, 1, 'one session.close record names the session');
    assert.equal(closes[0].actor, 'admin');
    assert.ok(!audit.text.includes(sessionToken.slice(5)), 'no session token in the audit log');
    await login(kmsd.adminToken);
  });

  await step('the list filters by name, state, algorithm and usage (server-side)', async () => {
    await page.click('nav a[data-page=keys]');
    await page.locator('#keys-table').waitFor();
    assert.equal(await page.locator('#keys-table tbody tr').count(), 6);
    await shot('04-keys');
    await page.fill('#filter-name', 'console-');
    await page.selectOption('#filter-usage', 'decrypt');
    await page.selectOption('#filter-state', 'Active');
    await page.click('#apply-filters');
    await page.waitForURL(/usage=decrypt/);
    // The page re-renders after the URL changes: wait for the filtered table itself.
    await page.waitForFunction(() => document.querySelectorAll('#keys-table tbody tr').length === 1);
    assert.equal(await page.locator('#keys-table a.key-link').innerText(), 'console-demo');
    await page.selectOption('#filter-algorithm', 'AES-128');
    await page.click('#apply-filters');
    await page.waitForURL(/algorithm=AES-128/);
    await page.locator('#page-keys p.muted#keys-table').waitFor();
    await page.selectOption('#filter-algorithm', '');
    await page.selectOption('#filter-usage', 'mac');
    await page.click('#apply-filters');
    await page.waitForURL(/usage=mac/);
    await page.locator('#page-keys p.muted#keys-table').waitFor();
  });

  await step('paging follows kmsd\'s cursor forward and back', async () => {
    await page.evaluate(() => { location.hash = '#/keys?limit=2'; });
    const seen = [];
    const firstPages = [];
    for (;;) {
      // Wait until the page shown is not the previous one (rendering follows the URL change).
      await page.waitForFunction((prev) => {
        const first = document.querySelector('#keys-table a.key-link');
        return first && first.textContent !== prev;
      }, firstPages[firstPages.length - 1] ?? null);
      const names = await page.locator('#keys-table a.key-link').allInnerTexts();
      firstPages.push(names[0]);
      seen.push(...names);
      if (await page.locator('#next-page').count() === 0) break;
      const url = page.url();
      await page.click('#next-page');
      await page.waitForURL((u) => u.toString() !== url);
    }
    assert.equal(seen.length, 6);
    assert.equal(new Set(seen).size, 6);
    await page.click('#prev-page');
    await page.locator('#keys-table a.key-link', { hasText: firstPages[firstPages.length - 2] }).first().waitFor();
    assert.equal((await page.locator('#keys-table a.key-link').allInnerTexts())[0], firstPages[firstPages.length - 2]);
  });

  await step('deactivate it and request its destroy (held for approval)', async () => {
    await page.click('nav a[data-page=keys]');
    await page.click('a.key-link:text-is("console-demo")');
    await page.locator('#page-key').waitFor();
    await page.click('#action-deactivate');
    await page.fill('#confirm-reason', 'end of life');
    await confirm(`console-demo (${keyId})`);
    await page.locator('#page-key .state.Deactivated').first().waitFor();
    await page.click('#action-destroy');
    // Destroy asks for the key's name to be typed back before it can be confirmed.
    await page.fill('#confirm-type', 'console-dem');
    assert.ok(await page.locator('#confirm-ok').isDisabled());
    await page.fill('#confirm-type', 'console-demo');
    assert.ok(await page.locator('#confirm-ok').isEnabled());
    await confirm(`console-demo (${keyId})`);
    await page.locator('#page-approvals').waitFor();
    assert.match(await notice().innerText(), /waiting for approval a-[0-9A-Fa-f]{32}/);
    assert.ok((await page.locator('#approvals-table').innerText()).includes('waiting for other officers'));
    await shot('05-approvals-requested');
  });

  await step('a second officer approves it in the approvals inbox', async () => {
    await logout();
    await login(officer2Token);
    assert.equal(await page.locator('#who').innerText(), 'officer2 · key-officer');
    await page.click('nav a[data-page=approvals]');
    await page.locator('#approvals-table button.approve').waitFor();
    await shot('06-approvals-approver');
    await page.locator('#approvals-table button.approve').click();
    await confirm(`key.destroy of key console-demo: POST /v1/keys/${keyId}/destroy`);
    await page.locator('#notice', { hasText: 'approved (1 of 1' }).waitFor();
    await logout();
  });

  await step('the requester executes it: the key is destroyed', async () => {
    await login(kmsd.adminToken);
    await page.click('nav a[data-page=approvals]');
    await page.selectOption('#approval-state', 'approved');
    await page.locator('#approvals-table button.execute').click();
    await confirm(keyId);
    await page.locator('#notice', { hasText: 'Executed' }).waitFor();
    const k = await kmsd.request('GET', `/v1/keys/${keyId}`, undefined, kmsd.adminToken);
    assert.equal(k.json.state, 'Destroyed');
    await page.selectOption('#approval-state', '');
    await page.locator('#approvals-table .state.executed').waitFor();
    await shot('07-approvals-executed');
  });

  await step('export under dual control: request, approval by the second officer, execution shows the wrapped key', async () => {
    const mk = async (body) => {
      const r = await kmsd.request('POST', '/v1/keys', body, kmsd.adminToken);
      assert.equal(r.status, 201, r.text);
      return r.json.id;
    };
    const kek = await mk({ name: 'partner-zmk', algorithm: 'AES-256', usage: ['wrap', 'unwrap'], trusted: true });
    const id = await mk({ name: 'export-me', algorithm: 'AES-128', usage: ['encrypt', 'decrypt'], exportable: true });
    const q = await kmsd.request('PUT', '/v1/quorums/key.export', { approvals: 1 }, kmsd.adminToken);
    assert.equal(q.status, 200, q.text);
    await page.evaluate((kid) => { location.hash = `#/keys/${kid}`; }, id);
    await page.click('#action-export');
    await page.selectOption('#confirm-export-format', 'AES-KWP');
    await page.fill('#confirm-export-kek', kek);
    await confirm(`export-me (${id})`);
    await page.locator('#notice', { hasText: 'Export of key export-me' }).waitFor();
    await logout();
    await login(officer2Token);
    await page.click('nav a[data-page=approvals]');
    await page.locator('#approvals-table button.approve').click();
    await confirm(id);
    await page.locator('#notice', { hasText: 'approved (1 of 1' }).waitFor();
    await logout();
    await login(kmsd.adminToken);
    await page.evaluate(() => { location.hash = '#/approvals?state=approved'; });
    await page.locator('#approvals-table button.execute').click();
    await confirm(id);
    // AES-KWP of a 16-byte key: 24 bytes (RFC 5649 §4.1).
    assert.match(await page.locator('#export-blob').innerText(), /^[0-9A-F]{48}$/);
    await shot('08-export');
  });

  await step('a two-custodian ceremony: the officer opens it, each custodian enters a component', async () => {
    const c1 = randomBytes(16);
    const c2 = randomBytes(16);
    const key = Buffer.from(c1.map((b, i) => b ^ c2[i]));
    await page.click('nav a[data-page=ceremonies]');
    await page.click('#create-ceremony-details summary');
    await page.fill('#ceremony-name', 'console-zmk');
    await page.selectOption('#ceremony-algorithm', 'AES-128');
    await page.check('#ceremony-usage-wrap');
    await page.check('#ceremony-usage-unwrap');
    await page.fill('#ceremony-kcv', aesKcv(key));
    await page.check('#ceremony-trusted');
    await page.click('#create-ceremony');
    await page.locator('#page-ceremony').waitFor();
    const id = await page.locator('#ceremony-id').innerText();
    assert.match(id, /^c-/);
    await logout();
    for (const [i, component] of [c1, c2].entries()) {
      await login(custodianTokens[i]);
      await page.locator('#page-ceremonies').waitFor();  // a custodian starts there
      assert.deepEqual(await page.locator('nav a:visible').allInnerTexts(), ['Approvals', 'Ceremonies']);
      await page.click(`a.ceremony-link:text("${id}")`);
      await page.fill('#component', component.toString('hex'));
      await page.fill('#component-kcv', aesKcv(component));
      if (i === 1) await shot('08-ceremony-component');
      await page.click('#submit-component');
      await page.locator('#notice', { hasText: i === 0 ? 'Component accepted (1 of 2)' : 'All components received' }).waitFor();
      // The component is in no field, no markup, no storage once sent.
      const html = await page.evaluate(() => document.documentElement.outerHTML + JSON.stringify(sessionStorage) + JSON.stringify(localStorage));
      assert.ok(!html.toLowerCase().includes(component.toString('hex')), 'the component is gone from the page');
      if (i === 1) assert.match(await notice().innerText(), new RegExp(`console-zmk .* is Active, KCV ${aesKcv(key)}`));
      await logout();
    }
    await login(kmsd.adminToken);
    await page.evaluate((cid) => { location.hash = `#/ceremonies/${cid}`; }, id);
    await page.locator('#page-ceremony .state.completed').waitFor();
    await shot('09-ceremony');
  });

  await step('issue a certificate from a CSR, revoke it, see the CRL', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-csr-'));
    let csr;
    try {
      execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', path.join(dir, 'key.pem'), '-subj', '/CN=console-test.example', '-out', path.join(dir, 'req.pem')], { stdio: 'ignore' });
      csr = fs.readFileSync(path.join(dir, 'req.pem'), 'utf8');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await page.click('nav a[data-page=certificates]');
    await page.click('#issue-details summary');
    await page.fill('#csr', csr);
    await page.selectOption('#cert-profile', 'server');
    await page.click('#issue-cert');
    await page.locator('#page-certificate').waitFor();
    const serial = await page.locator('#cert-serial').innerText();
    assert.match(await page.locator('#cert-pem').innerText(), /BEGIN CERTIFICATE/);
    await shot('10-certificate');
    await page.click('#revoke-cert');
    await page.selectOption('#confirm-cert-reason', 'keyCompromise');
    await confirm(serial);
    await page.locator('#page-certificate .state.revoked').waitFor();
    await page.click('nav a[data-page=certificates]');
    await page.click('#show-crl');
    assert.match(await page.locator('#crl-pem').innerText(), /BEGIN X509 CRL/);
    await shot('11-certificates');
  });

  await step('principals: create one (its token shown once), a kmsd refusal, disable and enable it', async () => {
    await page.click('nav a[data-page=principals]');
    const text = await page.locator('#principals-table').innerText();
    for (const name of ['admin', 'officer2', 'custodian1', 'custodian2']) assert.ok(text.includes(name), name);
    // kmsd's own validation message for a bad name.
    await page.click('#create-principal-details summary');
    await page.fill('#new-principal-name', 'Bad Name');
    await page.check('#new-principal-role-plugin');
    await page.click('#create-principal');
    await page.locator('#error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#error').innerText(), /name: only lower-case letters.*invalid_argument/s);
    consoleErrors.length = 0;  // Chromium logs the 400 itself
    await page.fill('#new-principal-name', 'tsm-plugin-1');
    await page.click('#create-principal');
    await page.locator('#new-principal').waitFor();
    assert.match(await page.locator('#new-token-warning').innerText(), /shown only now/);
    const token = await page.locator('#new-token').innerText();
    assert.match(token, /^kms_[0-9a-f]{64}$/);
    const who = await kmsd.request('GET', '/v1/whoami', undefined, token);
    assert.equal(who.json.name, 'tsm-plugin-1', who.text);
    await page.click('#copy-token');
    await page.locator('#copy-token', { hasText: /Copied|Selected/ }).waitFor();
    await shot('12-principal-created');
    await page.click('#token-done');
    assert.ok(!(await page.content()).includes(token.slice(4)), 'the token is gone from the page after Done');
    // Disable (the confirmation names it): its token is refused at once; enable again.
    await page.click('#principals-table button.disable[data-name="tsm-plugin-1"]');
    await confirm('tsm-plugin-1');
    await page.locator('#notice', { hasText: 'tsm-plugin-1 is disabled' }).waitFor();
    assert.equal((await kmsd.request('GET', '/v1/whoami', undefined, token)).status, 401);
    await page.click('#principals-table button.enable[data-name="tsm-plugin-1"]');
    await confirm('tsm-plugin-1');
    await page.locator('#notice', { hasText: 'tsm-plugin-1 is enabled' }).waitFor();
    assert.equal((await kmsd.request('GET', '/v1/whoami', undefined, token)).status, 200);
    pluginToken = token;
  });

  await step('enrol a principal from a CSR: the certificate is offered for download', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-enrol-'));
    let csr;
    try {
      execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', path.join(dir, 'key.pem'), '-subj', '/CN=tsm-plugin-2', '-out', path.join(dir, 'req.pem')], { stdio: 'ignore' });
      csr = fs.readFileSync(path.join(dir, 'req.pem'), 'utf8');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await page.click('#create-principal-details summary');
    await page.fill('#new-principal-name', 'tsm-plugin-2');
    await page.check('#new-principal-role-plugin');
    await page.fill('#principal-csr', csr);
    await page.click('#create-principal');
    await page.locator('#new-principal').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-principal-cert')]);
    assert.equal(download.suggestedFilename(), 'tsm-plugin-2.pem');
    const pem = fs.readFileSync(await download.path(), 'utf8');
    assert.equal((pem.match(/BEGIN CERTIFICATE/g) || []).length, 3, 'the certificate and its chain');
    const subject = execFileSync('openssl', ['x509', '-noout', '-subject'], { input: pem }).toString();
    assert.match(subject, /CN ?= ?tsm-plugin-2/);
    await page.click('#token-done');
  });

  await step('plugin policy: edit it in the page, kmsd\'s validation error shown', async () => {
    const card = page.locator('#policy-tsm-plugin-1');
    await card.locator('details summary').click();
    await page.fill('#policy-keys-tsm-plugin-1', 'tsm-\u00e9*');
    await page.check('#policy-op-tsm-plugin-1-mac');
    await page.click('#save-policy-tsm-plugin-1');
    await confirm('plugin tsm-plugin-1');
    await page.locator('#error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#error').innerText(), /keys: entries must be printable ASCII/);
    consoleErrors.length = 0;
    await page.fill('#policy-keys-tsm-plugin-1', 'tsm-*\nk-00000000000000000000000000000001');
    await page.check('#policy-op-tsm-plugin-1-encrypt');
    await page.click('#save-policy-tsm-plugin-1');
    await confirm('plugin tsm-plugin-1');
    await page.locator('#notice', { hasText: 'Policy of tsm-plugin-1 saved' }).waitFor();
    const pol = await kmsd.request('GET', '/v1/principals/tsm-plugin-1/policy', undefined, kmsd.adminToken);
    assert.deepEqual(pol.json.keys, ['tsm-*', 'k-00000000000000000000000000000001']);
    assert.deepEqual([...pol.json.operations].sort(), ['encrypt', 'mac']);
    await page.locator('#policy-tsm-plugin-1 dl.fields').waitFor();
    await page.locator('#policy-tsm-plugin-1 details summary').click();
    await shot('12-principals');
  });

  await step('log in with a client certificate (mutual TLS, no token in the page)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-mtls-'));
    try {
      const keyPath = path.join(dir, 'key.pem');
      execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', keyPath, '-subj', '/CN=auditor1', '-out', path.join(dir, 'req.pem')], { stdio: 'ignore' });
      const p = await kmsd.request('POST', '/v1/principals',
        { name: 'auditor1', roles: ['auditor'], csr: fs.readFileSync(path.join(dir, 'req.pem'), 'utf8') }, kmsd.adminToken);
      assert.equal(p.status, 201, p.text);
      // Playwright presents the certificate: it makes the TLS connection to kmsd itself, with
      // Node's CA list, which does not hold kmsd's CA; so this context skips server
      // verification (the main context pins kmsd's key, and this step is about the client side).
      const context = await browser.newContext({
        ignoreHTTPSErrors: true,
        clientCertificates: [{ origin: kmsd.url, cert: Buffer.from(p.json.certificate + p.json.chain), key: fs.readFileSync(keyPath) }],
      });
      try {
        const certPage = await context.newPage();
        certPage.setDefaultTimeout(10000);
        await certPage.goto(`${kmsd.url}/console/`);
        await certPage.click('#login-cert');
        await certPage.locator('#who').waitFor({ state: 'visible' });
        assert.equal(await certPage.locator('#who').innerText(), 'auditor1 · auditor · client certificate');
        await certPage.click('nav a[data-page=audit]');
        await certPage.locator('#audit-table').waitFor();
      } finally {
        await context.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // After the client-certificate step, which creates a principal without approval.
  await step('quorum of principal.create set in the page; a creation then waits for approval', async () => {
    assert.match(await page.locator('#quorums-table').innerText(), /key\.destroy/);
    await page.click('#quorum-details summary');
    await page.selectOption('#quorum-operation', 'principal.create');
    await page.fill('#quorum-approvals', '1');
    await page.check('#quorum-role-key-officer');
    await page.click('#save-quorum');
    await confirm('principal.create');
    await page.locator('#notice', { hasText: 'Quorum of principal.create: 1 approval' }).waitFor();
    await page.click('#create-principal-details summary');
    await page.fill('#new-principal-name', 'auditor2');
    await page.check('#new-principal-role-auditor');
    await page.click('#create-principal');
    await page.locator('#page-approvals').waitFor();
    assert.match(await notice().innerText(), /Creating principal auditor2 is waiting for approval a-/);
    assert.match(await page.locator('#approvals-table').innerText(), /principal\.create/);
    await logout();
    await login(officer2Token);
    await page.click('nav a[data-page=approvals]');
    await page.locator('#approvals-table button.approve').click();
    await confirm('principal.create');
    await page.locator('#notice', { hasText: 'approved (1 of 1' }).waitFor();
    await logout();
    await login(kmsd.adminToken);
    await page.evaluate(() => { location.hash = '#/approvals?state=approved'; });
    await page.locator('#approvals-table button.execute').click();
    await confirm('principal.create');
    await page.locator('#new-principal').waitFor();
    assert.match(await page.locator('#new-token').innerText(), /^kms_[0-9a-f]{64}$/);
    await page.click('#token-done');
    // Removing a quorum is itself held for approval under it.
    await page.click('nav a[data-page=principals]');
    await page.click('#quorums-table button.remove-quorum[data-op="principal.create"]');
    await confirm('principal.create');
    await page.locator('#page-approvals').waitFor();
    assert.match(await notice().innerText(), /Changing the quorum of principal\.create is waiting for approval a-/);
  });

  await step('the audit log filtered by kmsd (actor, action prefix); the chain verifies', async () => {
    await page.click('nav a[data-page=audit]');
    await page.locator('#audit-table').waitFor();
    await page.fill('#audit-actor', 'officer2');
    await page.fill('#audit-action', 'session.*');
    await page.click('#audit-apply');
    await page.waitForURL(/actor=officer2/);
    await page.locator('#audit-scan', { hasText: 'kmsd filtered' }).waitFor();
    const rows = await page.locator('#audit-table tbody tr').evaluateAll((trs) => trs.map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    // officer2 logged in three times (two approvals and the principal.create one) and out again.
    assert.ok(rows.length >= 6, JSON.stringify(rows));
    for (const r of rows) {
      assert.equal(r[2], 'officer2');
      assert.match(r[3], /^session\.(open|close)$/);
    }
    // The same as kmsd answers over REST with the same filters.
    const rest = await kmsd.request('GET', '/v1/audit?actor=officer2&action=session.*', undefined, kmsd.adminToken);
    assert.deepEqual(rows.map((r) => Number(r[0])), rest.json.records.map((r) => r.seq));
    await page.click('#verify-chain');
    await page.locator('#verify-result .state.valid').waitFor();
    await shot('13-audit');
  });

  // The two waits run side by side (about 6 s instead of 10).
  await step('the session ends: the page\'s idle timeout, and kmsd\'s (2 s idle) brings the next action to the login page with its message', async () => {
    const pageIdle = async () => {
      // Reloading the page logs its session out at kmsd too (a keepalive DELETE on pagehide).
      const before = credentials.filter(([, , a]) => a.startsWith('Bearer kmss_')).pop()[2].slice(7);
      assert.equal((await kmsd.request('GET', '/v1/whoami', undefined, before)).status, 200);
      await page.goto(`${kmsd.url}/console/?idle=5#/keys`);
      let status = 200;
      for (let i = 0; i < 40 && status === 200; i++) {
        status = (await kmsd.request('GET', '/v1/whoami', undefined, before)).status;
        if (status === 200) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 401, 'the reloaded page\'s session is closed at kmsd');
      await login(kmsd.adminToken);
      await page.locator('#login-form').waitFor({ timeout: 9000 });
      assert.match(await notice().innerText(), /session ended after 5 s/);
    };
    const kmsdIdle = async () => {
      const p2 = await context.newPage();
      p2.setDefaultTimeout(10000);
      p2.on('pageerror', (e) => pageErrors.push(e.message));
      p2.on('request', (r) => { if (!r.url().startsWith(`${kmsdShort.url}/`) && !r.url().startsWith('data:')) foreign.push(r.url()); });
      try {
        await p2.goto(`${kmsdShort.url}/console/#/keys`);
        await p2.fill('#token', kmsdShort.adminToken);
        await p2.click('#login');
        await p2.locator('#page-keys').waitFor();
        await p2.waitForTimeout(2600);  // kmsd's idle time passes without a request
        await p2.click('nav a[data-page=hsm]');
        await p2.locator('#login-form').waitFor();
        assert.match(await p2.locator('#notice').innerText(),
          /kmsd ended the session: the session expired after 2 s without a request; log in again/);
        assert.ok(!(await p2.locator('#nav').isVisible()), 'no navigation once the session ended');
        await p2.screenshot({ path: path.join(shots, '14-session-expired.png') });
        const audit = await kmsdShort.request('GET', '/v1/audit?limit=1000', undefined, kmsdShort.adminToken);
        const expired = audit.json.records.filter((r) => r.action === 'session.expire');
        assert.equal(expired.length, 1, audit.text);
        assert.equal(expired[0].actor, 'admin');
        consoleErrors.length = 0;  // Chromium logs the 401 itself
      } finally {
        await p2.close();
      }
    };
    await Promise.all([pageIdle(), kmsdIdle()]);
  });

  await step('no other host was contacted, no script error, no CSP violation', async () => {
    assert.deepEqual(foreign, []);
    // The long-lived tokens went only to POST /v1/sessions; everything else carried a session.
    const longLived = [kmsd.adminToken, officer2Token, pluginToken, ...custodianTokens].map((t) => `Bearer ${t}`);
    for (const [method, p, auth] of credentials) {
      if (longLived.includes(auth)) assert.equal(`${method} ${p}`, 'POST /v1/sessions', `${method} ${p} carried an officer token`);
      else if (p !== '/v1/sessions') assert.match(auth, /^Bearer kmss_[0-9a-f]{64}$/, `${method} ${p}`);
    }
    assert.ok(credentials.filter(([m, p]) => m === 'POST' && p === '/v1/sessions').length >= 8);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleErrors, []);
  });
} catch {
  failed = true;
  if (kmsd) console.log(`kmsd output:\n${kmsd.output}`);
} finally {
  await cleanup();
}
const passed = results.filter((r) => r.ok).length;
console.log(`console suite: ${passed} of ${results.length} steps passed${failed ? ' (stopped at the first failure)' : ''}, ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
