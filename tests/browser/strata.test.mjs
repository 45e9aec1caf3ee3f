// End-to-end test of the page strata serves at `/`, in headless Chromium.
//
// Starts `target/debug/api serve` (or $STRATA_API_BIN) on a free port with a fresh SQLite file
// and a 5 s access-token lifetime, then drives the page like a user: register, log in, add
// tasks, wait past the first access token's expiry (the page must have refreshed it), mark a
// task done, reload (the refresh token survives in sessionStorage), page through the list,
// delete a task, end a second session from the sessions list, log out; then forget the
// password: the reset mail is read from a real SMTP server (aiosmtpd) and its link opened.
// Chromium is Debian's /usr/bin/chromium ($CHROMIUM overrides), driven by playwright-core.
// Run with `make test-browser` from the repository root.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
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
async function startStrata(dir, smtpPort) {
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
  });
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
  return { base: `http://127.0.0.1:${port}`, proc };
}

// An SMTP server (Debian's python3-aiosmtpd) writing what it receives to `maildir`.
async function startSmtp(maildir) {
  const port = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
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

test('the page at / drives the whole API in headless Chromium', { timeout: 180_000 }, async (t) => {
  fs.mkdirSync(OUT, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-browser-'));
  const maildir = path.join(dir, 'mail');
  const smtp = await startSmtp(maildir);
  const { base, proc } = await startStrata(dir, smtp.port);
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
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`); });
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

  // The page is served and fetches nothing from elsewhere.
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
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
