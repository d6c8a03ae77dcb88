// Test support for the console suite: a real kmsd on 127.0.0.1 (free port, temporary data
// directory, stopped by PID, folder removed even when the test fails) and a small HTTPS client
// that trusts kmsd's own CA, for the set-up the browser does not do (a second officer, a
// quorum). Mirrors tests/support/kmsd_process.hpp.
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A free TCP port on 127.0.0.1 (bound and released; a race is possible but unlikely). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export class Kmsd {
  /**
   * Starts kmsd (path `exe`) and waits up to 60 s for its "listening" line. With `config`
   * ("key = value" lines), kmsd reads it as its --config file.
   */
  static async start(exe, env, config) {
    const k = new Kmsd();
    k.root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmsd-console-'));
    k.dataDir = path.join(k.root, 'data');
    k.port = await freePort();
    k.url = `https://127.0.0.1:${k.port}`;
    k.output = '';
    const args = ['--data-dir', k.dataDir, '--listen', `127.0.0.1:${k.port}`];
    if (config) {
      fs.writeFileSync(path.join(k.root, 'kmsd.conf'), config);
      args.push('--config', path.join(k.root, 'kmsd.conf'));
    }
    k.proc = spawn(exe, args,
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    k.exited = new Promise((resolve) => {
      k.proc.on('exit', (code, sig) => resolve(code ?? `signal ${sig}`));
      k.proc.on('error', (e) => { k.output += `cannot start ${exe}: ${e.message}\n`; resolve('not started'); });
    });
    for (const s of [k.proc.stdout, k.proc.stderr]) s.on('data', (d) => { k.output += d; });
    try {
      await Promise.race([
        new Promise((resolve) => {
          const poll = setInterval(() => {
            if (k.output.includes('listening on')) { clearInterval(poll); resolve(); }
          }, 25);
        }),
        k.exited.then((code) => { throw new Error(`kmsd exited during start-up (${code}):\n${k.output}`); }),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`kmsd did not start within 60 s:\n${k.output}`)), 60000)),
      ]);
    } catch (e) {
      await k.stop();
      throw e;
    }
    k.ca = fs.readFileSync(path.join(k.dataDir, 'tls', 'ca.pem'));
    k.adminToken = fs.readFileSync(path.join(k.dataDir, 'admin.token'), 'utf8').trim();
    return k;
  }

  /**
   * base64(SHA-256(SPKI)) of kmsd's server certificate: Chromium's
   * --ignore-certificate-errors-spki-list trusts exactly this key, nothing else.
   */
  spkiHash() {
    const cert = new X509Certificate(fs.readFileSync(path.join(this.dataDir, 'tls', 'server.pem')));
    const der = cert.publicKey.export({ type: 'spki', format: 'der' });
    return createHash('sha256').update(der).digest('base64');
  }

  /** One REST call; resolves to {status, json}. */
  request(method, p, body, token) {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(`${this.url}${p}`, {
        method, ca: this.ca, headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}),
        },
      }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => {
          let json = null;
          try { json = JSON.parse(text); } catch { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      });
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });
  }

  /** SIGTERM (SIGKILL after 10 s) by PID, then removes the temporary folder. */
  async stop() {
    if (this.proc && this.proc.pid && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(t);
    }
    if (this.root) fs.rmSync(this.root, { recursive: true, force: true });
    this.root = null;
  }
}
