// The console suite: the web console in headless Chromium (driven by playwright-core, never a
// downloaded browser) against a real kmsd. One officer logs in, creates a key, rotates it,
// deactivates it and requests its destroy; a second officer approves it in the approvals inbox;
// the first executes it; the audit chain is verified. Along the way: the security headers, no
// request to another host, no inline script (the CSP blocks a planted one), kmsd's error
// messages shown, the idle timeout. A screenshot of each page goes to SCREENSHOT_DIR.
//
// Environment: KMSD (kmsd binary), KMS_SOFTHSM_MODULE, CONSOLE_DIR (console/, holding
// node_modules from `npm ci`), SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).
// Prints one line per step and a summary; exits 1 when a step fails (never skips).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Kmsd } from './kmsd.mjs';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.SCREENSHOT_DIR || path.resolve('console-screenshots');

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
  ({ chromium } = createRequire(path.join(process.env.CONSOLE_DIR || '.', 'package.json'))('playwright-core'));
} catch (e) {
  need(false, `playwright-core is missing: run "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci" in console/ (test.sh does) (${e.message})`);
}
fs.mkdirSync(shots, { recursive: true });

const results = [];
let kmsd;
let browser;
const cleanup = async () => {
  if (browser) await browser.close().catch(() => {});
  if (kmsd) await kmsd.stop().catch(() => {});
  browser = kmsd = null;
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
  let page;
  const foreign = [];      // requests to any other origin
  const consoleErrors = [];
  const pageErrors = [];

  await step('start kmsd and set up a second officer and a key.destroy quorum', async () => {
    kmsd = await Kmsd.start(process.env.KMSD, {});
    const p = await kmsd.request('POST', '/v1/principals', { name: 'officer2', roles: ['key-officer'] }, kmsd.adminToken);
    assert.equal(p.status, 201, p.text);
    officer2Token = p.json.token;
    const q = await kmsd.request('PUT', '/v1/quorums/key.destroy', { approvals: 1 }, kmsd.adminToken);
    assert.equal(q.status, 200, q.text);
  });

  await step('launch Chromium', async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${kmsd.spkiHash()}`],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.setDefaultTimeout(10000);
    const origin = kmsd.url;
    page.on('request', (r) => { if (!r.url().startsWith(`${origin}/`) && !r.url().startsWith('data:')) foreign.push(r.url()); });
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
  };
  const logout = async () => {
    await page.click('#logout');
    await page.locator('#login-form').waitFor();
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
    assert.ok(await page.locator('#mechanisms .chip').count() > 5);
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

  await step('the list filters by name, state, algorithm and usage (server-side)', async () => {
    await page.click('nav a[data-page=keys]');
    await page.fill('#filter-name', 'console-');
    await page.selectOption('#filter-usage', 'decrypt');
    await page.selectOption('#filter-state', 'Active');
    await page.click('#apply-filters');
    await page.waitForURL(/usage=decrypt/);
    await page.locator('#keys-table').waitFor();
    assert.equal(await page.locator('#keys-table tbody tr').count(), 1);
    await shot('04-keys');
    await page.selectOption('#filter-usage', 'mac');
    await page.click('#apply-filters');
    await page.waitForURL(/usage=mac/);
    await page.locator('#page-keys p.muted#keys-table').waitFor();
  });

  await step('deactivate it and request its destroy (held for approval)', async () => {
    await page.click('nav a[data-page=keys]');
    await page.click('a.key-link');
    await page.locator('#page-key').waitFor();
    await page.click('#action-deactivate');
    await page.fill('#confirm-reason', 'end of life');
    await confirm(`console-demo (${keyId})`);
    await page.locator('#page-key .state.Deactivated').first().waitFor();
    await page.click('#action-destroy');
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
    await page.locator('#approvals-table button.approve').click();
    await confirm(keyId);
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
    await shot('06-approvals-executed');
  });

  await step('the audit chain verifies', async () => {
    await page.click('nav a[data-page=audit]');
    await page.locator('#audit-table').waitFor();
    await page.click('#verify-chain');
    await page.locator('#verify-result .state.valid').waitFor();
    await shot('07-audit');
  });

  await step('the session ends after the idle timeout', async () => {
    await page.goto(`${kmsd.url}/console/?idle=5#/keys`);
    await login(kmsd.adminToken);
    await page.locator('#login-form').waitFor({ timeout: 9000 });
    assert.match(await notice().innerText(), /session ended after 5 s/);
  });

  await step('no other host was contacted, no script error, no CSP violation', async () => {
    assert.deepEqual(foreign, []);
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
