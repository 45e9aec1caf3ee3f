// End-to-end test of the page strata serves at `/`, in headless Chromium.
//
// Starts `target/debug/api serve` (or $STRATA_API_BIN) on a free port with a fresh SQLite file
// and a 5 s access-token lifetime, then drives the page like a user: register, log in, add
// tasks, wait past the first access token's expiry (the page must have refreshed it), mark a
// task done, reload (the refresh token survives in sessionStorage), page through the list,
// delete a task, end a second session from the sessions list, log out; then forget the
// password: the reset mail is read from a real SMTP server (aiosmtpd) and its link opened.
// A second test turns on two-step sign-in from the page (the TOTP codes are computed here,
// RFC 6238), signs in with a code, makes new backup codes and turns it off again. A third
// makes an admin with the CLI, who finds a user by email on the page and bans it. A fourth
// adds a passkey from the page with Chromium's virtual authenticator (CDP WebAuthn), signs in
// with it, and shows a replayed assertion and another origin refused. A fifth signs in with
// a real OpenID provider (tests/oidc) through its own login form.
// Chromium is Debian's /usr/bin/chromium ($CHROMIUM overrides), driven by playwright-core.
// Run with `make test-browser` from the repository root.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const API_BIN = process.env.STRATA_API_BIN || path.join(ROOT, 'target/debug/api');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = path.join(ROOT, 'target/browser');
const ACCESS_TTL_S = 5;
// The machine's network is closed: keep Chromium from phoning home (its refused connections
// otherwise stall start-up).
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts strata and resolves with { base, proc } once it logs "listening" with its port.
async function startStrata(dir, smtpPort, extraEnv) {
  const secret = execFileSync(API_BIN, ['gen-secret'], { cwd: dir, encoding: 'utf8' }).trim();
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(REDIS_|DATABASE_|JWT_|ACCESS_|REFRESH_|SESSION_|LOGIN_|CORS_)/.test(k)) delete env[k];
  Object.assign(env, {
    JWT_API_SECRET: secret,
    DATABASE_URL: `sqlite://${path.join(dir, 'browser.db')}`,
    BIND_ADDR: '127.0.0.1:0',
    LOG_FORMAT: 'json',
    RUST_LOG: 'info',
    APP_ENV: 'test',
    BCRYPT_COST: '4',
    ACCESS_TOKEN_TTL: `${ACCESS_TTL_S}s`,
    JWT_LEEWAY: '0s', // so an expired access token is refused at once, not 30 s later
    HTTP_WORKERS: '2',
    SHUTDOWN_TIMEOUT: '2s',
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    MAIL_POLL_INTERVAL: '200ms',
    // Passkeys on http://localhost:<any port> (an IP address cannot be a relying party).
    WEBAUTHN_RP_ID: 'localhost',
    WEBAUTHN_ORIGINS: 'http://localhost',
  }, extraEnv);
  // cwd is the temporary directory, so no .env of the checkout is read.
  const proc = spawn(API_BIN, ['serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => proc.kill('SIGKILL')); // never leave it running, whatever happens
  const log = fs.createWriteStream(path.join(OUT, 'strata.log'));
  let timer;
  const port = await new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error('strata did not log "listening" within 60 s')), 60_000);
    proc.on('exit', (code) => reject(new Error(`strata exited with ${code} before listening; see target/browser/strata.log`)));
    for (const stream of [proc.stdout, proc.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        log.write(line + '\n');
        let entry = null;
        try { entry = JSON.parse(line); } catch { /* not JSON */ }
        // {"fields":{"message":"listening","port":N}}, or the same flattened to the top level.
        const f = entry && (entry.fields || entry);
        if (f && f.message === 'listening' && f.port) resolve(f.port);
      });
    }
  }).catch(async (e) => { await stopStrata(proc); throw e; })
    .finally(() => clearTimeout(timer));
  return { base: `http://127.0.0.1:${port}`, proc, env };
}

// A port free on 127.0.0.1 a moment ago.
function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}

// A phishing site: another origin passing every request through to strata, page included.
async function startProxy(target) {
  const srv = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return srv;
}

// An SMTP server (Debian's python3-aiosmtpd) writing what it receives to `maildir`.
async function startSmtp(maildir) {
  const port = await freePort();
  const proc = spawn('/usr/bin/python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir],
    { stdio: 'ignore' });
  process.once('exit', () => proc.kill('SIGKILL'));
  await until('the SMTP server', () => new Promise((r) => {
    const c = net.connect(port, '127.0.0.1', () => { c.end(); r(true); }).on('error', () => r(false));
  }));
  return { port, proc };
}

// Every message in the Maildir, quoted-printable decoded.
function readMail(maildir) {
  const out = [];
  for (const sub of ['new', 'cur']) {
    const d = path.join(maildir, sub);
    if (!fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d)) {
      out.push(fs.readFileSync(path.join(d, f), 'utf8').replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))));
    }
  }
  return out;
}

async function stopStrata(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function json(base, method, p, body, token, extraHeaders) {
  const headers = { ...extraHeaders };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

// Registers `user` over the API and proves its address with the link of its welcome mail.
async function registerVerified(base, maildir, user, password) {
  const email = `${user}@example.com`;
  const reg = await json(base, 'POST', '/api/auth/register', { username: user, email, password });
  assert.equal(reg.status, 201);
  const welcome = await until('the verification mail',
    async () => readMail(maildir).find((m) => m.includes('verify-email?token=') && m.includes(email)));
  const proof = (welcome.match(/verify-email\?token=([A-Za-z0-9_-]+)/) || [])[1];
  assert.equal((await json(base, 'POST', '/api/auth/verify-email', { token: proof })).status, 204);
}

// Polls `fn` until it returns a truthy value.
async function until(what, fn, ms = 15_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// RFC 6238 as an authenticator app computes it: HMAC-SHA-1 of the 30 s time step, dynamic
// truncation, 6 digits. `secret` is base32 (RFC 4648, no padding needed).
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const out = [];
  let bits = 0, value = 0;
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(out);
}
const TOTP_STEP_S = 30;
const totpStep = (ms = Date.now()) => Math.floor(ms / 1000 / TOTP_STEP_S);
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const o = h[h.length - 1] & 0x0f;
  const bin = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

// A fresh SMTP server, strata and Chromium page for one test, all stopped after it.
async function launch(t, extraEnv) {
  fs.mkdirSync(OUT, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-browser-'));
  const maildir = path.join(dir, 'mail');
  const smtp = await startSmtp(maildir);
  const { base, proc, env } = await startStrata(dir, smtp.port, extraEnv);
  let browser = null;
  t.after(async () => {
    if (browser) await browser.close(); // first, so no keep-alive connection delays the shutdown
    await stopStrata(proc);
    smtp.proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  // A narrow viewport: the page must work on a phone-sized screen.
  const page = await browser.newPage({ viewport: { width: 420, height: 900 } });
  page.setDefaultTimeout(10_000);

  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { problems.push(`dialog opened: ${d.message()}`); d.dismiss(); });
  // Strata's pages only, by any host name (an OpenID provider's login page is its own
  // business).
  page.on('console', (m) => {
    if (new URL(page.url()).port !== new URL(base).port) return;
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  // The page is served and fetches nothing from elsewhere.
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  // `api <args>` on this strata's database, as an operator runs it.
  const cli = (...args) => execFileSync(API_BIN, args, { cwd: dir, env, encoding: 'utf8' });
  return { base, maildir, page, problems, external, cli };
}

test('the page at / drives the whole API in headless Chromium', { timeout: 180_000 }, async (t) => {
  const { base, maildir, page, problems, external } = await launch(t);
  // Every refresh the page makes, and the first access token it got.
  const refreshes = [];
  const logins = []; // the page's login responses
  page.on('request', (r) => { if (r.url().endsWith('/api/auth/refresh')) refreshes.push({ at: Date.now() }); });
  page.on('response', async (r) => {
    if (r.url().endsWith('/api/auth/refresh')) refreshes.push({ status: r.status() });
    if (r.url().endsWith('/api/auth/login') && r.status() === 200) logins.push(await r.json());
  });
  const refreshOk = () => refreshes.filter((x) => x.status === 200).length;

  const msg = page.locator('#msg');
  const tasks = page.locator('#tasks > li');
  const milk = page.getByRole('checkbox', { name: 'Buy milk', exact: true });
  const user = `browser${Date.now() % 1e8}`;
  const password = 'correct horse battery';

  await page.goto(`${base}/?limit=2`);
  await assert.doesNotReject(page.locator('#login').waitFor());

  // Register: first with a too-short password, which shows the field's message from problem+json.
  const reg = page.locator('#register');
  await reg.getByLabel('Username').fill(user);
  await reg.getByLabel('Email').fill(`${user}@example.com`);
  await reg.getByLabel(/^Password/).fill('short');
  await reg.getByRole('button', { name: 'Register' }).click();
  await until('the password error', async () => (await page.locator('#reg-password-err').textContent()).length > 0);
  assert.match(await msg.textContent(), /invalid|password/i);
  await reg.getByLabel(/^Password/).fill(password);
  await reg.getByRole('button', { name: 'Register' }).click();
  await until('registration', async () => /created/.test(await msg.textContent()));

  // Log in: a wrong password shows the API's detail, the right one opens the app.
  const login = page.locator('#login');
  assert.equal(await login.getByLabel('Username or email').inputValue(), user);
  await login.getByLabel('Password').fill('wrong password!');
  await login.getByRole('button', { name: 'Log in' }).click();
  await until('the login error', async () => /./.test(await msg.textContent()) && !/created/.test(await msg.textContent()));
  assert.equal(await msg.getAttribute('class'), 'bad');
  await login.getByLabel('Username or email').fill(`${user}@example.com`); // by email this time
  await login.getByLabel('Password').fill(password);
  await login.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#app').waitFor();
  const loggedInAt = Date.now();
  await until('the user name', async () => (await page.locator('#me').textContent()) === user);
  await page.locator('#empty').waitFor(); // an empty list says so

  // Add three tasks, one of them markup that must show as text. An empty title is refused.
  const titles = ['Buy milk', '<script>alert(1)</script>', 'Write report'];
  const add = page.locator('#add');
  await add.getByRole('button', { name: 'Add' }).click();
  await until('the empty-title error', async () => (await page.locator('#task-title-err').textContent()).length > 0);
  for (const [i, title] of titles.entries()) {
    await add.getByLabel('New task').fill(title);
    await add.getByRole('button', { name: 'Add' }).click();
    await until(`task ${i + 1}`, async () => (await tasks.count()) === i + 1);
  }
  assert.deepEqual(await tasks.locator('label.title').allTextContents(), titles);
  assert.equal(await page.locator('#tasks script').count(), 0, 'no script element was created');

  // Wait past the first access token's expiry: the page must have refreshed before it.
  await until('a scheduled refresh', async () => refreshOk() >= 1, ACCESS_TTL_S * 1000 + 5000);
  const firstRefreshAfter = refreshes[0].at - loggedInAt;
  assert.ok(firstRefreshAfter < ACCESS_TTL_S * 1000, `refreshed ${firstRefreshAfter} ms after login, before expiry`);
  await sleep(Math.max(0, loggedInAt + ACCESS_TTL_S * 1000 + 1000 - Date.now()));
  assert.equal(logins.length, 1, 'saw the login response');
  const stale = await json(base, 'GET', '/api/users/me', undefined, logins[0].access_token);
  assert.equal(stale.status, 401, 'the first access token no longer works');

  // ...and the page still works: mark "Buy milk" done.
  await milk.check();
  await until('Buy milk done', async () => (await tasks.nth(0).getAttribute('class')) === 'done');
  assert.ok(await milk.isChecked());

  // Reload: the refresh token in sessionStorage resumes the session; with ?limit=2 the list pages.
  await page.reload();
  await page.locator('#app').waitFor();
  await until('the first page', async () => (await tasks.count()) === 2);
  const more = page.getByRole('button', { name: 'Load more' });
  assert.ok(await more.isVisible(), 'a next page is offered');
  await more.click();
  await until('the second page', async () => (await tasks.count()) === 3);
  assert.ok(await more.isHidden(), 'no more pages');
  assert.deepEqual(await tasks.locator('label.title').allTextContents(), titles);
  assert.ok(await milk.isChecked(), 'done survived the reload');

  // Undo and redo "done", then delete "Write report".
  await milk.uncheck();
  await until('Buy milk open', async () => (await tasks.nth(0).getAttribute('class')) === '');
  await milk.check();
  await until('Buy milk done again', async () => (await tasks.nth(0).getAttribute('class')) === 'done');
  await page.getByRole('button', { name: 'Delete task: Write report' }).click();
  await until('the deletion', async () => (await tasks.count()) === 2);
  assert.deepEqual(await tasks.locator('label.title').allTextContents(), titles.slice(0, 2));

  // Sessions: the page's own is marked current.
  await page.getByRole('button', { name: 'Show sessions' }).click();
  const sessions = page.locator('#sessions > li');
  await until('the sessions list', async () => (await sessions.count()) === 1);
  assert.equal(await page.locator('#sessions > li.current').count(), 1);
  assert.match(await sessions.first().textContent(), /this session/);

  // A second session, logged in from the test; the page lists it and ends it.
  const second = await json(base, 'POST', '/api/auth/login', { username: user, password }, undefined,
    { 'user-agent': 'second-device/1.0' });
  assert.equal(second.status, 200);
  assert.equal((await json(base, 'GET', '/api/users/me', undefined, second.body.access_token)).status, 200);
  await page.getByRole('button', { name: 'Refresh sessions' }).click();
  await until('two sessions', async () => (await sessions.count()) === 2);
  const other = page.locator('#sessions > li:not(.current)');
  assert.match(await other.textContent(), /second-device\/1\.0/);
  assert.equal(await other.getAttribute('data-id'), second.body.session_id);

  // The screenshot: both sessions listed, one task done, the markup title as text.
  await page.screenshot({ path: path.join(OUT, 'strata.png'), fullPage: true });

  await other.getByRole('button', { name: /^End session/ }).click();
  await until('one session left', async () => (await sessions.count()) === 1);
  const ended = await json(base, 'GET', '/api/users/me', undefined, second.body.access_token);
  assert.equal(ended.status, 401);
  assert.equal(ended.body.code, 'token_revoked');

  // Still working after several rotations; then log out.
  assert.ok(refreshOk() >= 2, `the page refreshed ${refreshOk()} times`);
  assert.ok(refreshes.every((x) => x.status === undefined || x.status === 200), 'every refresh succeeded');
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.locator('#login').waitFor();
  assert.ok(await page.locator('#app').isHidden());
  assert.match(await msg.textContent(), /logged out/i);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the refresh token is forgotten');
  // The scheduled refresh stopped with the session: no refresh request after logout.
  const before = refreshes.length;
  await sleep(ACCESS_TTL_S * 1000);
  assert.equal(refreshes.length, before, 'no refresh after logout');
  // And a reload stays logged out.
  await page.reload();
  await page.locator('#login').waitFor();
  assert.ok(await page.locator('#app').isHidden());

  // Log in again, then end that session from elsewhere: the page's next request gets 401
  // token_revoked, its one refresh fails too, and it falls back to the login form.
  await login.getByLabel('Username or email').fill(user);
  await login.getByLabel('Password').fill(password);
  await login.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#app').waitFor();
  await until('the list', async () => (await tasks.count()) === 2);
  assert.equal(logins.length, 2);
  const third = await json(base, 'POST', '/api/auth/login', { username: user, password });
  const revoke = await json(base, 'DELETE', `/api/auth/sessions/${logins[1].session_id}`, undefined, third.body.access_token);
  assert.equal(revoke.status, 204);
  const refreshesBefore = refreshes.length;
  await add.getByLabel('New task').fill('never saved');
  await add.getByRole('button', { name: 'Add' }).click();
  await page.locator('#login').waitFor();
  assert.ok(await page.locator('#app').isHidden());
  assert.match(await msg.textContent(), /log in again/i);
  assert.ok(refreshes.slice(refreshesBefore).some((x) => x.status === 401), 'it tried one refresh');
  const list = await json(base, 'GET', '/api/tasks', undefined, third.body.access_token);
  assert.deepEqual(list.body.items.map((x) => x.title), titles.slice(0, 2), 'nothing was added');

  // Forgot the password: the page asks for a link, the mail arrives over SMTP, its link
  // opens the reset form (the GET alone changes nothing), the new password works.
  const forgot = page.locator('#forgot');
  await forgot.getByLabel('Email').fill(`${user}@example.com`);
  await forgot.getByRole('button', { name: 'Mail me a reset link' }).click();
  await until('the reset request', async () => /reset link is on its way/.test(await msg.textContent()));
  const mail = await until('the reset mail', async () => readMail(maildir).find((m) => m.includes('Reset your')));
  const token = (mail.match(/reset-password\?token=([A-Za-z0-9_-]+)/) || [])[1];
  assert.ok(token, 'the mail has a reset link');
  await page.goto(`${base}/reset-password?token=${token}`);
  assert.ok(await page.locator('#auth').isHidden());
  const newPassword = 'a new browser password';
  const reset = page.locator('#reset');
  await reset.getByLabel(/New password/).fill(newPassword);
  await reset.getByRole('button', { name: 'Set the new password' }).click();
  await until('the reset', async () => /password was changed/.test(await msg.textContent()));
  assert.equal(new URL(page.url()).pathname, '/');
  const old = await json(base, 'POST', '/api/auth/login', { username: user, password });
  assert.equal(old.status, 401, 'the old password is gone');
  await login.getByLabel('Username or email').fill(user);
  await login.getByLabel('Password').fill(newPassword);
  await login.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#app').waitFor();
  const reused = await json(base, 'POST', '/api/auth/password-reset/confirm', { token, new_password: 'yet another password' });
  assert.equal(reused.status, 400, 'a used link is dead');
  await until('the notice', async () => readMail(maildir).some((m) => m.includes('password was changed')));

  assert.deepEqual(external, [], 'nothing fetched from elsewhere');
  assert.deepEqual(problems, [], 'no script errors or dialogs');
});

test('two-step sign-in: enrol from the page, sign in with a code, new backup codes, turn off', { timeout: 120_000 }, async (t) => {
  // The RFC 6238 test vector (SHA-1, T = 59 s), so a wrong code below is the test's fault.
  assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 1), '287082');
  const { base, maildir, page, problems, external } = await launch(t);
  // What the page's logins were answered: a 403 mfa_required carries no token pair.
  const logins = [];
  const mfaLogins = [];
  page.on('response', async (r) => {
    if (r.url().endsWith('/api/auth/login')) logins.push({ status: r.status(), body: await r.json().catch(() => null) });
    if (r.url().endsWith('/api/auth/mfa')) mfaLogins.push(r.status());
  });

  const msg = page.locator('#msg');
  const app = page.locator('#app');
  const login = page.locator('#login');
  const step2 = page.locator('#mfa-login');
  const user = `mfa${Date.now() % 1e8}`;
  const password = 'two factors are better';
  // A second factor needs a proven address.
  await registerVerified(base, maildir, user, password);

  await page.goto(base);
  await login.getByLabel('Username or email').fill(user);
  await login.getByLabel('Password').fill(password);
  await login.getByRole('button', { name: 'Log in' }).click();
  await app.waitFor();
  const section = page.locator('section[aria-labelledby=mfa-h]');
  await until('the second factor shown off', async () => /^Off/.test(await page.locator('#mfa-state').textContent()));
  assert.ok(await page.locator('#mfa-on').isHidden(), 'no turn-off form while it is off');

  // Enrol: a wrong password first, then the right one shows the QR code and the key.
  const enrol = page.locator('#mfa-enrol');
  await enrol.getByLabel('Your password').fill('not my password');
  await page.locator('#mfa-start').click();
  await until('the password error', async () => (await page.locator('#mfa-password-err').textContent()).length > 0);
  assert.ok(await page.locator('#mfa-setup').isHidden());
  await enrol.getByLabel('Your password').fill(password);
  await page.locator('#mfa-start').click();
  await page.locator('#mfa-setup').waitFor();
  assert.ok(await enrol.isHidden(), 'the password form gives way to the setup');
  const qr = section.getByRole('img', { name: /QR code/ });
  assert.ok(await qr.isVisible());
  const src = await qr.getAttribute('src');
  assert.ok(src.startsWith('data:image/svg+xml;base64,'), src.slice(0, 40));
  assert.match(Buffer.from(src.split(',')[1], 'base64').toString('utf8'), /<svg[\s>]/);
  assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code image loaded (CSP allows data:)');
  assert.equal(await page.locator('#mfa-svg, #mfa-setup svg').count(), 0, 'the SVG is not put into the page');
  const secret = (await page.locator('#mfa-secret').textContent()).trim();
  assert.match(secret, /^[A-Z2-7]{16,}=*$/, 'a base32 key for typing by hand');

  // Confirm with a wrong code (refused, stays off), then with the code of now.
  const confirm = page.locator('#mfa-confirm');
  const now = totpStep();
  const near = new Set([-1, 0, 1, 2].map((d) => totp(secret, now + d)));
  let wrong = 0;
  while (near.has(String(wrong).padStart(6, '0'))) wrong += 1;
  const wrongCode = String(wrong).padStart(6, '0');
  await confirm.getByLabel(/code/).fill(wrongCode);
  await page.locator('#mfa-confirm-submit').click();
  await until('the code error', async () => (await page.locator('#mfa-code-err').textContent()).length > 0);
  assert.ok(await page.locator('#mfa-codes-box').isHidden());
  const confirmStep = totpStep();
  await confirm.getByLabel(/code/).fill(totp(secret, confirmStep));
  await page.locator('#mfa-confirm-submit').click();
  await page.locator('#mfa-codes-box').waitFor();
  const codes = page.locator('#mfa-codes > li');
  assert.equal(await codes.count(), 10);
  const backup = await codes.allTextContents();
  for (const c of backup) assert.match(c, /^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
  assert.match(await page.locator('#mfa-codes-note').textContent(), /store these codes now/i);
  assert.match(await page.locator('#mfa-state').textContent(), /^On/);
  assert.ok(await page.locator('#mfa-setup').isHidden());
  assert.equal(await page.locator('#mfa-secret').textContent(), '', 'the key is no longer shown');
  assert.ok(await page.locator('#mfa-on').isVisible());
  await page.screenshot({ path: path.join(OUT, 'strata-mfa.png'), fullPage: true });
  await page.locator('#mfa-codes-done').click();
  assert.ok(await page.locator('#mfa-codes-box').isHidden());
  assert.equal(await codes.count(), 0, 'the codes are gone from the page');
  const asked = await json(base, 'POST', '/api/auth/login', { username: user, password });
  assert.equal(asked.status, 403, 'the account now asks for a second factor');

  // Sign out, then in again: the password is not enough; no token pair, no app.
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await login.waitFor();
  await login.getByLabel('Username or email').fill(user);
  await login.getByLabel('Password').fill(password);
  const seen = logins.length;
  await login.getByRole('button', { name: 'Log in' }).click();
  await step2.waitFor();
  assert.ok(await login.isHidden(), 'the login form gives way to the second step');
  assert.ok(await app.isHidden(), 'not signed in yet');
  assert.equal(logins.length, seen + 1);
  const answer = logins[seen];
  assert.equal(answer.status, 403);
  assert.equal(answer.body.code, 'mfa_required');
  assert.equal(answer.body.access_token, undefined, 'no access token before the second factor');
  assert.equal(answer.body.refresh_token, undefined);
  const mfaToken = answer.body.mfa_token;
  assert.ok(mfaToken);
  const kept = await page.evaluate(() => [sessionStorage.length, localStorage.length, location.href]);
  assert.deepEqual(kept.slice(0, 2), [0, 0], 'nothing stored during the second step');
  assert.ok(!kept[2].includes(mfaToken), 'the mfa_token is not in the URL');
  assert.equal(await login.getByLabel('Password').inputValue(), '', 'the password is not kept in the form');
  const codeInput = step2.getByLabel('Code');
  assert.equal(await codeInput.getAttribute('autocomplete'), 'one-time-code');

  // A wrong code is refused and the same sign-in can be retried; the code of the NEXT time
  // step (the confirm spent the one of now; one step of skew is allowed) signs in.
  await codeInput.fill(wrongCode);
  await step2.getByRole('button', { name: 'Verify' }).click();
  await until('the wrong-code error', async () => (await page.locator('#mfa-login-code-err').textContent()).length > 0);
  assert.ok(await app.isHidden());
  await codeInput.fill(totp(secret, Math.max(totpStep(), confirmStep) + 1));
  await step2.getByRole('button', { name: 'Verify' }).click();
  await app.waitFor();
  assert.deepEqual(mfaLogins, [401, 200]);
  assert.ok(await step2.isHidden());
  await until('the user name', async () => (await page.locator('#me').textContent()) === user);
  assert.match(await page.locator('#mfa-state').textContent(), /^On/);
  await page.getByRole('button', { name: 'Show sessions' }).click();
  const current = page.locator('#sessions > li.current');
  await current.waitFor();
  assert.match(await current.textContent(), /2-step/);
  const used = await json(base, 'POST', '/api/auth/mfa', { mfa_token: mfaToken, code: backup[9] });
  assert.equal(used.status, 401, 'the mfa_token opened one session only');
  assert.equal(used.body.code, 'invalid_mfa_token');

  // New backup codes, proved with a backup code of the first set.
  const regen = page.locator('#mfa-regen');
  await regen.getByLabel('Your password').fill(password);
  await regen.getByLabel(/code/).fill(backup[0].toUpperCase()); // typed in any case
  await page.locator('#mfa-regen-submit').click();
  await page.locator('#mfa-codes-box').waitFor();
  assert.equal(await codes.count(), 10);
  const fresh = await codes.allTextContents();
  assert.ok(fresh.every((c) => !backup.includes(c)), 'a new set');
  assert.match(await msg.textContent(), /new backup codes/i);

  // Turn it off with a code of the new set; the next login needs the password only.
  const off = page.locator('#mfa-off');
  await off.getByLabel('Your password').fill(password);
  await off.getByLabel(/code/).fill(backup[1]); // the old set is dead
  await page.locator('#mfa-off-submit').click();
  await until('the code error', async () => (await page.locator('#mfa-off-code-err').textContent()).length > 0);
  assert.match(await page.locator('#mfa-state').textContent(), /^On/);
  await off.getByLabel('Your password').fill(password);
  await off.getByLabel(/code/).fill(fresh[0]);
  await page.locator('#mfa-off-submit').click();
  await until('the second factor off', async () => /^Off/.test(await page.locator('#mfa-state').textContent()));
  assert.match(await msg.textContent(), /is off/);
  assert.ok(await page.locator('#mfa-on').isHidden());
  assert.ok(await page.locator('#mfa-codes-box').isHidden());
  assert.ok(await page.locator('#mfa-enrol').isVisible(), 'it can be turned on again');
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await login.waitFor();
  await login.getByLabel('Username or email').fill(user);
  await login.getByLabel('Password').fill(password);
  await login.getByRole('button', { name: 'Log in' }).click();
  await app.waitFor();
  assert.equal(logins.at(-1).status, 200);

  assert.deepEqual(external, [], 'nothing fetched from elsewhere');
  assert.deepEqual(problems, [], 'no script errors or dialogs');
});

test('an admin made by the CLI finds a user by email, bans it, and its next request fails', { timeout: 120_000 }, async (t) => {
  const { base, page, problems, external, cli } = await launch(t);
  const stamp = Date.now() % 1e8;
  const [admin, victim] = [`boss${stamp}`, `victim${stamp}`];
  const password = 'a long enough password';
  for (const u of [admin, victim]) {
    const r = await json(base, 'POST', '/api/auth/register', { username: u, email: `${u}@example.com`, password });
    assert.equal(r.status, 201);
  }
  cli('admin', 'grant', admin);
  const theirs = (await json(base, 'POST', '/api/auth/login', { username: victim, password })).body.access_token;
  assert.equal((await json(base, 'GET', '/api/users/me', undefined, theirs)).status, 200);

  await page.goto(base);
  const login = page.locator('#login');
  await login.getByLabel('Username or email').fill(admin);
  await login.getByLabel('Password').fill(password);
  await login.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#admin').waitFor();

  // Found by the start of the address, in any case.
  await page.locator('#admin-query').fill(`${victim}@EX`);
  await page.locator('#admin-search').getByRole('button', { name: 'Search' }).click();
  const found = page.locator('#admin-users > li');
  await until('the account found', async () => (await found.count()) === 1);
  await page.getByRole('button', { name: `Open ${victim}` }).click();
  await until('the account opened', async () => (await page.locator('#admin-user-name').textContent()) === victim);
  assert.equal(await page.locator('#admin-user-sessions > li').count(), 1, 'its one live session');

  await page.locator('#admin-ban-reason').fill('spam');
  await page.locator('#admin-ban-submit').click();
  await until('the ban confirmed', async () => /is banned/.test(await page.locator('#msg').textContent()));
  assert.match(await page.locator('#admin-user-state').textContent(), /banned until lifted \(spam\)/);

  // The banned user's next request fails, and its right password answers 403.
  const next = await json(base, 'GET', '/api/users/me', undefined, theirs);
  assert.equal(next.status, 401);
  const relogin = await json(base, 'POST', '/api/auth/login', { username: victim, password });
  assert.equal(relogin.status, 403);
  assert.equal(relogin.body.code, 'account_banned');

  // The act is in the audit trail, and the admin's own sign-in in its history.
  await page.locator('#show-audit').click();
  await page.locator('#audit > li[data-kind=admin_banned]').first().waitFor();
  await page.locator('#show-history').click();
  await page.locator('#history > li[data-kind=signed_in]').first().waitFor();

  // Lifted from the page: the password works again.
  await page.locator('#admin-lift').click();
  await until('the ban lifted', async () => /lifted/.test(await page.locator('#msg').textContent()));
  assert.equal((await json(base, 'POST', '/api/auth/login', { username: victim, password })).status, 200);

  assert.deepEqual(external, [], 'nothing fetched from elsewhere');
  assert.deepEqual(problems, [], 'no script errors or dialogs');
});

test('a passkey added from the page signs in; a replay and another origin are refused', { timeout: 120_000 }, async (t) => {
  // The relying party is `localhost`, and strata's one origin the page at its own port.
  const port = await freePort();
  const site = `http://localhost:${port}`;
  const { base, maildir, page, problems } = await launch(t, { BIND_ADDR: `127.0.0.1:${port}`, WEBAUTHN_ORIGINS: site });
  const user = `key${Date.now() % 1e8}`;
  const password = 'a passkey needs this once';
  // A passkey needs a proven address.
  await registerVerified(base, maildir, user, password);

  // Chromium's virtual authenticator: a platform one keeping discoverable credentials, whose
  // user is verified (a fingerprint) and present without a click.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
  // What the page sent to sign in with a passkey, and what it was answered.
  const signIns = [];
  page.on('response', async (r) => {
    if (r.url().endsWith('/api/auth/passkey')) signIns.push({ body: r.request().postData(), status: r.status() });
  });

  const app = page.locator('#app');
  const login = page.locator('#login');
  await page.goto(site);
  await login.getByLabel('Username or email').fill(user);
  await login.getByLabel('Password').fill(password);
  await login.getByRole('button', { name: 'Log in' }).click();
  await app.waitFor();
  const section = page.locator('#passkeys-section');
  await section.waitFor();
  await until('no passkey yet', async () => /No passkey yet/.test(await page.locator('#passkeys').textContent()));

  // Added on the password; the authenticator now holds one resident credential.
  const add = page.locator('#passkey-add');
  await add.getByLabel(/Name/).fill('Chromium');
  await add.getByLabel('Your password').fill(password);
  await page.locator('#passkey-add-submit').click();
  await until('the passkey listed', async () => (await page.locator('#passkeys > li[data-id]').count()) === 1);
  assert.match(await page.locator('#passkeys').textContent(), /Chromium/);
  assert.match(await page.locator('#msg').textContent(), /added/);
  assert.equal(await add.getByLabel('Your password').inputValue(), '', 'the password is not kept');
  await page.screenshot({ path: path.join(OUT, 'strata-passkeys.png'), fullPage: true });
  const held = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(held.credentials.length, 1);
  assert.ok(held.credentials[0].isResidentCredential, 'a discoverable credential');
  const notice = await until('the notice mail', async () => readMail(maildir).find((m) => m.includes('A passkey was added')));
  assert.ok(notice);

  // Out, then in with the passkey alone: no username, no password, a session of two factors.
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await login.waitFor();
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await app.waitFor();
  await until('the user name', async () => (await page.locator('#me').textContent()) === user);
  assert.deepEqual(signIns.map((s) => s.status), [200]);
  await page.getByRole('button', { name: 'Show sessions' }).click();
  const current = page.locator('#sessions > li.current');
  await current.waitFor();
  assert.match(await current.textContent(), /2-step · passkey/);
  await until('a use recorded', async () => {
    await page.locator('#passkeys-section').waitFor();
    return /last used/.test(await page.locator('#passkeys').textContent());
  });

  // The page's assertion sent again: its challenge is spent, so it opens nothing.
  const res = await fetch(`${base}/api/auth/passkey`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: signIns[0].body });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).code, 'invalid_passkey');

  // A phishing site at another origin, passing everything through to strata: the browser
  // lets it use the RP id `localhost` (same host, another port), the authenticator signs
  // for that origin, and strata refuses what it sent.
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await login.waitFor();
  const proxy = await startProxy(port);
  t.after(() => proxy.close());
  await page.goto(`http://localhost:${proxy.address().port}`);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await until('the refusal', async () => /not valid/.test(await page.locator('#msg').textContent()));
  assert.ok(await app.isHidden(), 'not signed in from another origin');
  assert.deepEqual(signIns.map((s) => s.status), [200, 401]);
  const sent = JSON.parse(signIns[1].body).credential.response.clientDataJSON;
  assert.match(JSON.parse(Buffer.from(sent, 'base64url').toString('utf8')).origin, new RegExp(`^http://localhost:${proxy.address().port}$`));

  assert.deepEqual(problems, [], 'no script errors or dialogs');
});

// A real OpenID provider (tests/oidc, panva's oidc-provider) on a free port, whose client
// may come back to `redirectUri`; resolves with its issuer once it serves.
async function startProvider(redirectUri) {
  const dir = path.join(ROOT, 'tests/oidc');
  const proc = spawn('node', ['provider.mjs'], {
    cwd: dir,
    env: { ...process.env, OP_CLIENT_ID: 'strata', OP_CLIENT_SECRET: 'browser test secret', OP_REDIRECT_URIS: redirectUri, NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  process.once('exit', () => proc.kill('SIGKILL'));
  const issuer = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the OpenID provider did not start within 60 s')), 60_000);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (line.startsWith('listening ')) { clearTimeout(timer); resolve(line.slice('listening '.length)); }
    });
  });
  return { issuer, proc };
}

test('a sign-in with an OpenID provider from the page makes an account and opens it', { timeout: 120_000 }, async (t) => {
  const port = await freePort();
  const site = `http://127.0.0.1:${port}`;
  const { issuer, proc } = await startProvider(`${site}/api/auth/oidc/corp/callback`);
  t.after(() => proc.kill('SIGKILL'));
  const login = `sso${Date.now() % 1e8}`;
  const made = await fetch(`${issuer}/__test/accounts/${login}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `${login}@corp.example`, email_verified: true, name: login }),
  });
  assert.equal(made.status, 204);
  const { base, page, problems } = await launch(t, {
    BIND_ADDR: `127.0.0.1:${port}`, PUBLIC_URL: site,
    OIDC_PROVIDERS: 'corp', OIDC_CORP_ISSUER: issuer, OIDC_CORP_CLIENT_ID: 'strata',
    OIDC_CORP_CLIENT_SECRET: 'browser test secret', OIDC_CORP_DISPLAY_NAME: 'Corp SSO',
  });
  await until('the provider reached', async () => {
    const r = await json(base, 'GET', '/api/auth/oidc/providers');
    return r.body.some((p) => p.name === 'corp' && p.up);
  }, 60_000);

  await page.goto(base);
  await page.getByRole('button', { name: 'Sign in with Corp SSO' }).click();
  // The provider's own login form.
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('anything');
  await page.locator('button[type=submit]').click();
  const app = page.locator('#app');
  await app.waitFor();
  await until('the account name', async () => (await page.locator('#me').textContent()).length > 0);
  assert.equal(new URL(page.url()).hash, '', 'the one-time code is gone from the address bar');
  assert.match(await page.locator('#email-now').textContent(), new RegExp(`${login}@corp\\.example \\(verified\\)`));
  await page.getByRole('button', { name: 'Show sessions' }).click();
  await page.locator('#sessions > li.current').waitFor();
  assert.match(await page.locator('#sessions > li.current').textContent(), /provider/);
  await page.locator('#identities > li[data-id]').first().waitFor();
  assert.match(await page.locator('#identities').textContent(), /corp/);
  assert.deepEqual(problems, [], 'no script errors or dialogs');
});
