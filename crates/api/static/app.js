'use strict';
// Tokens: the access token lives only in memory. The refresh token is kept in memory and in
// sessionStorage (this tab only, gone when the tab closes) so that a reload stays signed in.
const STORE_KEY = 'strata.refresh_token';
// Page size of the task list; `/?limit=N` (1-100) overrides it.
const PAGE = Math.min(100, Math.max(1, parseInt(new URLSearchParams(location.search).get('limit'), 10) || 20));
let access = null, refreshToken = null, sessionId = null, refreshTimer = null, refreshing = null;
let cursor = null;
// The sign-in in progress between the password and the second factor: memory only.
let mfaToken = null, mfaTimer = null;

const $ = (id) => document.getElementById(id);
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);        // strings become text nodes: never parsed as HTML
  return e;
}
function say(text, ok) { const m = $('msg'); m.textContent = text || ''; m.className = ok ? 'ok' : 'bad'; }

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || ('request failed (HTTP ' + status + ')'));
    this.status = status; this.problem = problem || {};
  }
}
class Handled extends Error {}   // already shown to the user (or the page went back to log in)
const codeOf = (err) => err.problem && err.problem.code;

// Shows a problem+json: `detail` in the message bar, each `errors[]` entry next to its field
// (fields is a map from the API's field name to an input id), the rest in the message bar too.
function showError(err, fields) {
  if (err instanceof Handled) return;
  const extra = [];
  for (const fe of (err.problem && err.problem.errors) || []) {
    const id = fields && fields[fe.field];
    if (id) $(id + '-err').textContent = fe.message;
    else extra.push(fe.field + ': ' + fe.message);
  }
  say([err.message, ...extra].join(' — '));
}
function clearErrors(form) { for (const s of form.querySelectorAll('.err')) s.textContent = ''; say(''); }

async function call(method, path, body, auth) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (auth) headers.authorization = 'Bearer ' + auth;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) { throw new ApiError(0, { detail: 'the server cannot be reached' }); }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const e = new ApiError(res.status, data);
    e.retryAfter = res.headers.get('retry-after');
    throw e;
  }
  return data;
}

// An authenticated request. A 401 token_expired/token_revoked gets one refresh and one retry;
// if that fails too the page goes back to the login form.
async function api(method, path, body) {
  const sent = access;
  try {
    return await call(method, path, body, sent);
  } catch (err) {
    const code = err.problem && err.problem.code;
    if (err.status !== 401 || (code !== 'token_expired' && code !== 'token_revoked')) throw err;
    // Another request may already have rotated the pair while this one was in flight.
    if (access === sent && !(await refresh())) throw new Handled();
    if (!access) throw new Handled();
    try { return await call(method, path, body, access); } catch (err2) {
      if (err2.status === 401) { signOut('Your session has ended. Please log in again.'); throw new Handled(); }
      throw err2;
    }
  }
}

function useTokens(t) {
  access = t.access_token; refreshToken = t.refresh_token; sessionId = t.session_id;
  sessionStorage.setItem(STORE_KEY, refreshToken);
  clearTimeout(refreshTimer);
  // Refresh at 80% of the access token's lifetime, before it expires.
  refreshTimer = setTimeout(refresh, Math.max(1, t.expires_in) * 800);
}

// One refresh at a time; every caller waits for the same one. Resolves true on success.
function refresh() {
  if (!refreshing) {
    const token = refreshToken;
    refreshing = (async () => {
      if (!token) return false;
      try {
        useTokens(await call('POST', '/api/auth/refresh', { refresh_token: token }));
        return true;
      } catch (err) {
        if (err.status === 401) signOut('Your session has ended (' + err.message + '). Please log in again.');
        else say('Could not refresh the session: ' + err.message);   // e.g. a 503: the next call retries
        return false;
      }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

function signOut(message, ok) {
  access = refreshToken = sessionId = null; cursor = null;
  clearTimeout(refreshTimer);
  sessionStorage.removeItem(STORE_KEY);
  $('tasks').replaceChildren(); $('sessions').replaceChildren(); $('history').replaceChildren();
  $('admin').hidden = true; adminUser = null;
  $('passkeys').replaceChildren(); $('passkey-add').reset(); $('passkeys-section').hidden = true;
  $('identities').replaceChildren(); $('identity-link').reset(); $('identities-section').hidden = true;
  endMfaLogin(); resetMfa();
  $('app').hidden = true; $('who').hidden = true; $('auth').hidden = false;
  say(message || '', ok);
  $('login-id').focus();
}

// The signed-in account's address: where a new verification link goes.
let myEmail = '';

async function enterApp() {
  $('auth').hidden = true; $('app').hidden = false; $('who').hidden = false;
  $('login').reset(); $('register').reset();
  $('sessions').replaceChildren();
  try {
    const me = await api('GET', '/api/users/me');
    myEmail = me.email;
    $('email-code-row').hidden = !me.mfa_enabled;
    $('me').textContent = me.username;
    $('email-now').textContent = me.email + (me.email_verified ? ' (verified)' : ' (not verified yet)');
    $('resend').hidden = me.email_verified;
    resetMfa(); showMfa(me.mfa_enabled);
    $('tasks').replaceChildren(); cursor = null; $('history').replaceChildren();
    await Promise.all([loadTasks(), showAdmin(), loadPasskeys(), loadIdentities()]);
    $('task-title').focus();
  } catch (err) { showError(err); }
}

// ---- tasks ----
function taskItem(t) {
  const li = el('li', { className: t.done ? 'done' : '' });
  li.dataset.id = t.id;
  const box = el('input', { type: 'checkbox', checked: t.done, id: 'done-' + t.id });
  const label = el('label', { htmlFor: box.id, className: 'title' }, t.title);
  const text = el('div', { className: 'grow' }, label);
  if (t.description) text.append(el('div', { className: 'small' }, t.description));
  const del = el('button', { type: 'button', className: 'danger', textContent: 'Delete' });
  del.setAttribute('aria-label', 'Delete task: ' + t.title);
  box.addEventListener('change', async () => {
    box.disabled = true;
    try {
      const u = await api('PATCH', '/api/tasks/' + encodeURIComponent(t.id), { done: box.checked });
      li.replaceWith(taskItem(u));
      say('');
    } catch (err) { box.checked = !box.checked; box.disabled = false; showError(err); }
  });
  del.addEventListener('click', async () => {
    del.disabled = true;
    try {
      await api('DELETE', '/api/tasks/' + encodeURIComponent(t.id));
      li.remove(); updateEmpty(); say('Task deleted.', true);
    } catch (err) {
      del.disabled = false;
      if (err.status === 404) { li.remove(); updateEmpty(); }   // already gone
      showError(err);
    }
  });
  li.append(box, text, del);
  return li;
}
function updateEmpty() { $('empty').hidden = $('tasks').children.length > 0 || cursor !== null; }

async function loadTasks() {
  const q = new URLSearchParams({ limit: PAGE });
  if (cursor) q.set('cursor', cursor);
  const page = await api('GET', '/api/tasks?' + q);
  $('tasks').append(...page.items.map(taskItem));
  cursor = page.next_cursor;
  $('more').hidden = !cursor;
  updateEmpty();
}

$('more').addEventListener('click', async (ev) => {
  ev.target.disabled = true;
  try { await loadTasks(); } catch (err) { showError(err); } finally { ev.target.disabled = false; }
});

$('add').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = form.querySelector('button');
  clearErrors(form);
  btn.disabled = true;
  try {
    const t = await api('POST', '/api/tasks', { title: $('task-title').value });
    // Tasks are listed oldest first: the new one belongs at the end, once the end is loaded.
    if (!cursor) $('tasks').append(taskItem(t));
    updateEmpty();
    form.reset();
    say(cursor ? 'Task added (at the end of the list).' : 'Task added.', true);
  } catch (err) { showError(err, { title: 'task-title' }); }
  finally { btn.disabled = false; $('task-title').focus(); }
});

// ---- sessions ----
function fmt(t) { return new Date(t).toLocaleString(); }
async function loadSessions() {
  const list = await api('GET', '/api/auth/sessions');
  $('sessions').replaceChildren(...list.map((s) => {
    const li = el('li', { className: s.current ? 'current' : '' });
    li.dataset.id = s.id;
    const info = el('div', { className: 'grow' },
      el('div', {}, s.user_agent || 'unknown client', s.ip ? ' from ' + s.ip : ''),
      el('div', { className: 'small' }, 'Signed in ' + fmt(s.created_at) + ' · last refresh ' + fmt(s.refreshed_at)));
    if (s.current) info.firstChild.append(' ', el('span', { className: 'badge' }, 'this session'));
    if (s.second_factor) info.lastChild.append(' · 2-step');
    if (s.method === 'passkey') info.lastChild.append(' · passkey');
    if (s.method === 'oidc') info.lastChild.append(' · provider');
    const end = el('button', { type: 'button', className: 'danger', textContent: s.current ? 'End (log out)' : 'End' });
    end.setAttribute('aria-label', s.current ? 'End this session and log out' : 'End session started ' + fmt(s.created_at));
    end.addEventListener('click', async () => {
      end.disabled = true;
      try {
        await api('DELETE', '/api/auth/sessions/' + encodeURIComponent(s.id));
        if (s.current) return signOut('You logged out.', true);
        li.remove(); say('Session ended.', true);
      } catch (err) { end.disabled = false; showError(err); }
    });
    li.append(info, end);
    return li;
  }));
  $('show-sessions').textContent = 'Refresh sessions';
}
$('show-sessions').addEventListener('click', async (ev) => {
  ev.target.disabled = true;
  try { await loadSessions(); } catch (err) { showError(err); } finally { ev.target.disabled = false; }
});

// ---- security history and the admin section ----
const KIND_TEXT = {
  registered: 'Account created', signed_in: 'Signed in', sign_in_failed: 'Wrong password',
  signed_out: 'Signed out', session_revoked: 'A session was ended', all_sessions_revoked: 'Every session was ended',
  refresh_reuse_detected: 'A reused refresh token ended a session',
  email_verified: 'Address verified', email_changed: 'Address changed', password_changed: 'Password changed',
  password_reset: 'Password reset by mail', account_deleted: 'Account deleted', mfa_enabled: 'Two-step sign-in on',
  mfa_disabled: 'Two-step sign-in off', backup_codes_replaced: 'New backup codes',
  admin_banned: 'Banned by an admin', admin_ban_lifted: 'Ban lifted by an admin',
  admin_sessions_ended: 'Sessions ended by an admin', admin_mfa_reset: 'Two-step sign-in reset by an admin',
  admin_role_changed: 'Role changed', admin_account_deleted: 'Deleted by an admin',
  passkey_added: 'Passkey added', passkey_removed: 'Passkey removed',
  passkey_counter_regressed: 'A passkey was refused: its counter went backwards (a copy of it?)',
  identity_linked: 'A sign-in provider was linked', identity_unlinked: 'A sign-in provider was unlinked',
};
function eventItem(e, withPeople) {
  const li = el('li');
  li.dataset.kind = e.kind;
  const where = [e.ip ? 'from ' + e.ip : '', e.user_agent || ''].filter(Boolean).join(' · ');
  const who = withPeople ? [e.actor_id ? 'by ' + e.actor_id : '', e.subject_id ? 'on ' + e.subject_id : ''].filter(Boolean).join(' ') : '';
  li.append(el('div', { className: 'grow' },
    el('div', {}, KIND_TEXT[e.kind] || e.kind),
    el('div', { className: 'small' }, [fmt(e.at), where, who].filter(Boolean).join(' · '))));
  return li;
}
$('show-history').addEventListener('click', async (ev) => {
  ev.target.disabled = true;
  try {
    const page = await api('GET', '/api/users/me/security-events?limit=50');
    $('history').replaceChildren(...page.items.map((e) => eventItem(e, false)));
    ev.target.textContent = 'Refresh history';
  } catch (err) { showError(err); } finally { ev.target.disabled = false; }
});

// The admin section shows only to an admin: the API says so (403 for anyone else).
async function showAdmin() {
  $('admin').hidden = true; $('admin-user').hidden = true;
  $('admin-users').replaceChildren(); $('audit').replaceChildren();
  try { await api('GET', '/api/admin/users?limit=1'); $('admin').hidden = false; } catch (err) { /* not an admin */ }
}
let adminUser = null;
function userState(u) {
  const ban = u.banned ? 'banned' + (u.banned_until ? ' until ' + fmt(u.banned_until) : ' until lifted')
    + (u.ban_reason ? ' (' + u.ban_reason + ')' : '') : 'not banned';
  return [u.email + (u.email_verified ? '' : ' (unverified)'), u.role, ban,
    u.last_sign_in_at ? 'last sign-in ' + fmt(u.last_sign_in_at) : 'never signed in'].join(' · ');
}
async function openUser(id) {
  const u = await api('GET', '/api/admin/users/' + encodeURIComponent(id));
  adminUser = u;
  $('admin-user').hidden = false;
  $('admin-user-name').textContent = u.username;
  $('admin-user-state').textContent = userState(u);
  $('admin-user-sessions').replaceChildren(...u.sessions.map((s) => el('li', {},
    el('div', { className: 'grow' }, (s.user_agent || 'unknown client') + (s.ip ? ' from ' + s.ip : ''),
      el('div', { className: 'small' }, 'Signed in ' + fmt(s.created_at))))));
  if (!u.sessions.length) $('admin-user-sessions').append(el('li', { className: 'small' }, 'No live session.'));
  $('admin-lift').hidden = !u.banned; $('admin-ban-submit').hidden = u.banned;
}
$('admin-search').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target; clearErrors(form);
  const q = new URLSearchParams({ query: $('admin-query').value.trim(), status: $('admin-status').value, limit: '50' });
  try {
    const page = await api('GET', '/api/admin/users?' + q);
    $('admin-users').replaceChildren(...page.items.map((u) => {
      const open = el('button', { type: 'button', className: 'plain', textContent: 'Open' });
      open.setAttribute('aria-label', 'Open ' + u.username);
      open.addEventListener('click', async () => { try { await openUser(u.id); } catch (err) { showError(err); } });
      const li = el('li', {}, el('div', { className: 'grow' }, u.username, el('div', { className: 'small' }, userState(u))), open);
      li.dataset.id = u.id;
      return li;
    }));
    if (!page.items.length) say('No account matches.');
  } catch (err) { showError(err, { query: 'admin-query', status: 'admin-query' }); }
});
$('admin-ban').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target; clearErrors(form);
  if (!adminUser) return;
  try {
    await api('POST', '/api/admin/users/' + encodeURIComponent(adminUser.id) + '/ban',
      { until: null, reason: $('admin-ban-reason').value.trim() || null });
    await openUser(adminUser.id);
    say(adminUser.username + ' is banned: every session has ended.', true);
  } catch (err) { showError(err, { reason: 'admin-ban-reason' }); }
});
$('admin-lift').addEventListener('click', async () => {
  if (!adminUser) return;
  try {
    await api('DELETE', '/api/admin/users/' + encodeURIComponent(adminUser.id) + '/ban');
    await openUser(adminUser.id); say('The ban is lifted.', true);
  } catch (err) { showError(err); }
});
$('admin-end-sessions').addEventListener('click', async () => {
  if (!adminUser) return;
  try {
    await api('DELETE', '/api/admin/users/' + encodeURIComponent(adminUser.id) + '/sessions');
    await openUser(adminUser.id); say('Every session of ' + adminUser.username + ' has ended.', true);
  } catch (err) { showError(err); }
});
$('show-audit').addEventListener('click', async (ev) => {
  ev.target.disabled = true;
  try {
    const page = await api('GET', '/api/admin/audit?limit=50');
    $('audit').replaceChildren(...page.items.map((e) => eventItem(e, true)));
  } catch (err) { showError(err); } finally { ev.target.disabled = false; }
});

// ---- log in, register, log out ----
$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = form.querySelector('button');
  clearErrors(form);
  const id = $('login-id').value.trim();
  const body = id.includes('@') ? { email: id } : { username: id };
  body.password = $('login-password').value;
  btn.disabled = true;
  try {
    await signedIn(await call('POST', '/api/auth/login', body));
  } catch (err) {
    if (err.status === 403 && codeOf(err) === 'mfa_required' && err.problem.mfa_token) {
      startMfaLogin(err.problem.mfa_token, err.problem.expires_in);
      return;
    }
    showError(err, { username: 'login-id', email: 'login-id', password: 'login-password' });
    sayRetryAfter(err);
    // The address was never confirmed (or its link lapsed): offer a new link.
    $('login-resend').hidden = !(err.status === 403 && codeOf(err) === 'email_unverified');
  } finally { btn.disabled = false; }
});
$('login-resend').addEventListener('click', async (ev) => {
  const email = $('login-id').value.trim();
  if (!email.includes('@')) { say('Type your email address above, then ask again.'); return; }
  ev.target.disabled = true;
  try {
    await call('POST', '/api/auth/verify-email/resend', { email });
    say('If that address has an account waiting for confirmation, a new link is on its way.', true);
  } catch (err) { showError(err, { email: 'login-id' }); } finally { ev.target.disabled = false; }
});

// A token pair from a login (with or without a second factor): the session starts.
async function signedIn(tokens) {
  useTokens(tokens);
  await enterApp();
}
function sayRetryAfter(err) {
  const after = err.status === 429 && err.retryAfter;
  if (after) say($('msg').textContent + ' Try again in ' + after + ' s.');
}

// ---- the second step of a sign-in: a code from the app, or a backup code ----
function startMfaLogin(token, expiresIn) {
  mfaToken = token;
  clearTimeout(mfaTimer);
  mfaTimer = setTimeout(() => { endMfaLogin(); say('The sign-in took too long. Log in again.'); $('login-password').focus(); },
    Math.max(1, expiresIn || 300) * 1000);
  $('login-password').value = '';
  for (const id of ['login', 'register', 'forgot']) $(id).hidden = true;
  $('mfa-login').reset(); clearErrors($('mfa-login'));
  $('mfa-login').hidden = false;
  $('mfa-login-code').focus();
}
// Back to the login form (the mfa_token is forgotten).
function endMfaLogin() {
  mfaToken = null;
  clearTimeout(mfaTimer);
  $('mfa-login').reset(); $('mfa-login').hidden = true;
  for (const id of ['login', 'register', 'forgot']) $(id).hidden = false;
}
$('mfa-login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = $('mfa-login-submit');
  clearErrors(form);
  const code = $('mfa-login-code').value.trim();
  if (!code) { $('mfa-login-code-err').textContent = 'Enter the code.'; $('mfa-login-code').focus(); return; }
  btn.disabled = true;
  try {
    const tokens = await call('POST', '/api/auth/mfa', { mfa_token: mfaToken || '', code });
    endMfaLogin();
    await signedIn(tokens);
  } catch (err) {
    if (err.status === 401 && codeOf(err) === 'invalid_mfa_token') {
      endMfaLogin(); say(err.message); $('login-password').focus();
      return;
    }
    if (codeOf(err) === 'invalid_mfa_code') $('mfa-login-code-err').textContent = err.message;
    showError(err, { code: 'mfa-login-code' });
    sayRetryAfter(err);
    $('mfa-login-code').select();
  } finally { btn.disabled = false; }
});
$('mfa-login-cancel').addEventListener('click', () => { endMfaLogin(); say(''); $('login-password').focus(); });

$('register').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = form.querySelector('button');
  clearErrors(form);
  btn.disabled = true;
  try {
    const user = await call('POST', '/api/auth/register', {
      username: $('reg-username').value, email: $('reg-email').value, password: $('reg-password').value });
    form.reset();
    $('login-id').value = user.username;
    say('Account ' + user.username + ' created. Log in with your password.', true);
    $('login-password').focus();
  } catch (err) {
    const fields = { username: 'reg-username', email: 'reg-email', password: 'reg-password' };
    if (err.problem.code === 'username_taken') $('reg-username-err').textContent = err.message;
    if (err.problem.code === 'email_taken') $('reg-email-err').textContent = err.message;
    showError(err, fields);
  } finally { btn.disabled = false; }
});

$('logout').addEventListener('click', async () => {
  try { await api('POST', '/api/auth/logout'); } catch (err) { /* the session is over either way */ }
  signOut('You logged out.', true);
});

// ---- two-step sign-in: enrolment, backup codes, turning it off ----
// Shows the section for the second factor on or off (with no enrolment under way).
function showMfa(enabled) {
  $('mfa-state').textContent = enabled
    ? 'On: signing in asks for a code from your authenticator app after the password.'
    : 'Off: signing in asks for your password only.';
  $('mfa-enrol').hidden = enabled; $('mfa-on').hidden = !enabled;
  endMfaSetup();
}
function endMfaSetup() {
  $('mfa-setup').hidden = true;
  $('mfa-qr').removeAttribute('src'); $('mfa-secret').textContent = '';
  $('mfa-confirm').reset();
}
// Forgets everything secret the section showed (the key, the backup codes).
function resetMfa() {
  endMfaSetup();
  $('mfa-codes').replaceChildren(); $('mfa-codes-box').hidden = true;
  for (const id of ['mfa-enrol', 'mfa-regen', 'mfa-off']) {
    $(id).reset();
    for (const e of $(id).querySelectorAll('.err')) e.textContent = '';
  }
}
function showBackupCodes(codes) {
  $('mfa-codes').replaceChildren(...codes.map((c) => el('li', {}, c)));
  $('mfa-codes-box').hidden = false;
  $('mfa-codes-done').focus();
}
// An SVG document as a data: URL (base64 of its UTF-8), for an <img>: never parsed into the page.
function svgDataUrl(svg) {
  let bin = '';
  for (const b of new TextEncoder().encode(svg)) bin += String.fromCharCode(b);
  return 'data:image/svg+xml;base64,' + btoa(bin);
}
// The API's answer when the state changed elsewhere (another tab): show the state it names.
function mfaConflict(err) {
  const code = codeOf(err);
  if (code === 'mfa_already_enabled') showMfa(true);
  else if (code === 'mfa_not_enabled') showMfa(false);
  else if (code === 'mfa_not_pending') { $('mfa-setup').hidden = true; $('mfa-enrol').hidden = false; }
}
$('mfa-enrol').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = $('mfa-start');
  clearErrors(form);
  btn.disabled = true;
  try {
    const e = await api('POST', '/api/users/me/mfa/totp', { password: $('mfa-password').value });
    form.reset();
    $('mfa-codes').replaceChildren(); $('mfa-codes-box').hidden = true;
    if (e.qr_svg) $('mfa-qr').src = svgDataUrl(e.qr_svg);
    $('mfa-qr').hidden = !e.qr_svg;
    $('mfa-secret').textContent = e.secret;
    form.hidden = true; $('mfa-setup').hidden = false;
    $('mfa-code').focus();
  } catch (err) {
    if (codeOf(err) === 'invalid_credentials') $('mfa-password-err').textContent = err.message;
    showError(err, { password: 'mfa-password' });
    sayRetryAfter(err);
    mfaConflict(err);
  } finally { btn.disabled = false; }
});
$('mfa-confirm').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = $('mfa-confirm-submit');
  clearErrors(form);
  btn.disabled = true;
  try {
    const r = await api('POST', '/api/users/me/mfa/totp/confirm', { code: $('mfa-code').value.trim() });
    showMfa(true);
    showBackupCodes(r.recovery_codes);
    say('Two-step sign-in is on.', true);
  } catch (err) {
    if (codeOf(err) === 'invalid_mfa_code') $('mfa-code-err').textContent = err.message;
    showError(err, { code: 'mfa-code' });
    sayRetryAfter(err);
    mfaConflict(err);
  } finally { btn.disabled = false; }
});
$('mfa-setup-cancel').addEventListener('click', () => { endMfaSetup(); $('mfa-enrol').hidden = false; say(''); });
$('mfa-codes-done').addEventListener('click', () => { $('mfa-codes').replaceChildren(); $('mfa-codes-box').hidden = true; });
// The two forms that prove both factors again: the password and a code.
function mfaProofForm(form, method, path, done) {
  const pw = form.id + '-password', code = form.id + '-code';
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    clearErrors(form);
    btn.disabled = true;
    try {
      const r = await api(method, path, { password: $(pw).value, code: $(code).value.trim() });
      form.reset();
      done(r);
    } catch (err) {
      if (codeOf(err) === 'invalid_credentials') $(pw + '-err').textContent = err.message;
      if (codeOf(err) === 'invalid_mfa_code') $(code + '-err').textContent = err.message;
      showError(err, { password: pw, code });
      sayRetryAfter(err);
      mfaConflict(err);
    } finally { btn.disabled = false; }
  });
}
mfaProofForm($('mfa-regen'), 'POST', '/api/users/me/mfa/recovery-codes', (r) => {
  showBackupCodes(r.recovery_codes);
  say('New backup codes made; the old ones no longer work.', true);
});
mfaProofForm($('mfa-off'), 'DELETE', '/api/users/me/mfa/totp', () => {
  resetMfa(); showMfa(false);
  say('Two-step sign-in is off.', true);
});

// ---- passkeys (WebAuthn) ----
// The browser turns the server's WebAuthn JSON into its own objects and back (toJSON); one
// without these methods shows no passkey buttons, nor does a server with passkeys off.
let passkeysOff = !(window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON
  && PublicKeyCredential.parseRequestOptionsFromJSON);
$('passkey-login-row').hidden = passkeysOff;
function passkeysAreOff() {
  passkeysOff = true;
  $('passkey-login-row').hidden = true; $('passkeys-section').hidden = true;
}
// A refusal from the browser (cancelled, timed out, no passkey) or from the API.
function passkeyError(err, fields) {
  if (err instanceof DOMException) {
    if (err.name === 'NotAllowedError' || err.name === 'AbortError') say('No passkey was used.');
    else if (err.name === 'InvalidStateError') say('This device holds a passkey for your account already.');
    else say('The browser could not use a passkey: ' + err.message);
    return;
  }
  if (codeOf(err) === 'passkeys_off') passkeysAreOff();
  showError(err, fields);
  sayRetryAfter(err);
}
$('passkey-login').addEventListener('click', async (ev) => {
  const btn = ev.target;
  clearErrors($('login'));
  btn.disabled = true;
  try {
    const ceremony = await call('POST', '/api/auth/passkey/options', {});
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(ceremony.options.publicKey);
    const credential = await navigator.credentials.get({ publicKey });
    await signedIn(await call('POST', '/api/auth/passkey',
      { challenge_id: ceremony.challenge_id, credential: credential.toJSON() }));
  } catch (err) { passkeyError(err); } finally { btn.disabled = false; }
});

async function loadPasskeys() {
  if (passkeysOff) return;
  try {
    const list = await api('GET', '/api/users/me/passkeys');
    $('passkeys').replaceChildren(...list.map(passkeyItem));
    if (!list.length) $('passkeys').append(el('li', { className: 'small' }, 'No passkey yet.'));
    $('passkeys-section').hidden = false;
  } catch (err) { if (codeOf(err) === 'passkeys_off') passkeysAreOff(); else showError(err); }
}
function passkeyItem(p) {
  const li = el('li');
  li.dataset.id = p.id;
  const used = p.last_used_at ? 'last used ' + fmt(p.last_used_at) : 'never used';
  const info = el('div', { className: 'grow' }, el('div', {}, p.name),
    el('div', { className: 'small' }, ['Added ' + fmt(p.created_at), used, p.backed_up ? 'synced' : ''].filter(Boolean).join(' · ')));
  const remove = el('button', { type: 'button', className: 'danger', textContent: 'Remove' });
  remove.setAttribute('aria-label', 'Remove passkey ' + p.name);
  // Removal asks for the password again, in a form of its own under the passkey.
  remove.addEventListener('click', () => {
    remove.hidden = true;
    const pw = el('input', { type: 'password', autocomplete: 'current-password', id: 'passkey-remove-' + p.id });
    const go = el('button', { type: 'submit', className: 'danger', textContent: 'Remove it' });
    const form = el('form', { className: 'grow', noValidate: true },
      el('label', { htmlFor: pw.id }, 'Your password, to remove ' + p.name), pw, go);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      go.disabled = true;
      try {
        await api('DELETE', '/api/users/me/passkeys/' + encodeURIComponent(p.id), { password: pw.value });
        say('Passkey ' + p.name + ' removed.', true);
        await loadPasskeys();
      } catch (err) { go.disabled = false; showError(err); sayRetryAfter(err); }
    });
    li.append(form);
    pw.focus();
  });
  li.append(info, remove);
  return li;
}
$('passkey-add').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = $('passkey-add-submit');
  clearErrors(form);
  btn.disabled = true;
  try {
    const ceremony = await api('POST', '/api/users/me/passkeys/registration', { password: $('passkey-password').value });
    $('passkey-password').value = '';
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(ceremony.options.publicKey);
    const credential = await navigator.credentials.create({ publicKey });
    const added = await api('POST', '/api/users/me/passkeys',
      { challenge_id: ceremony.challenge_id, credential: credential.toJSON(), name: $('passkey-name').value });
    say('Passkey ' + added.name + ' added: you can sign in with it now.', true);
    await loadPasskeys();
  } catch (err) {
    if (codeOf(err) === 'invalid_credentials') $('passkey-password-err').textContent = err.message;
    passkeyError(err, { password: 'passkey-password', name: 'passkey-name' });
  } finally { btn.disabled = false; }
});

// ---- sign-in with OpenID providers ----
// What a provider's sign-in that ended without tokens says (the `#oidc_error=` codes).
const OIDC_ERRORS = {
  oidc_state_invalid: 'That sign-in is over or was already used. Start again.',
  oidc_browser_mismatch: 'That sign-in was started in another browser. Start again here.',
  oidc_provider_error: 'The provider did not complete the sign-in.',
  oidc_id_token_invalid: 'The provider\'s answer did not pass its checks.',
  oidc_email_taken: 'An account here already has that address. Log in with it, then link the provider from your account.',
  oidc_email_unverified: 'The provider has not verified your address, so no account was made.',
  oidc_identity_taken: 'That provider account is linked to another account here.',
  service_unavailable: 'A service is unavailable; try again shortly.',
};
let providers = [];
async function loadProviders() {
  try { providers = await call('GET', '/api/auth/oidc/providers'); } catch (err) { providers = []; }
  $('oidc-login-row').replaceChildren(...providers.map((p) => {
    const b = el('button', { type: 'button', className: 'plain', textContent: 'Sign in with ' + p.display_name, disabled: !p.up });
    b.addEventListener('click', () => {
      location.href = '/api/auth/oidc/' + encodeURIComponent(p.name) + '/authorize?return_to=%2F';
    });
    return b;
  }));
  $('oidc-login-row').hidden = providers.length === 0;
}
async function loadIdentities() {
  if (!providers.length) return;
  try {
    const list = await api('GET', '/api/users/me/identities');
    $('identities').replaceChildren(...list.map((i) => {
      const li = el('li');
      li.dataset.id = i.id;
      const used = i.last_used_at ? 'last used ' + fmt(i.last_used_at) : 'not used yet';
      li.append(el('div', { className: 'grow' }, el('div', {}, i.provider),
        el('div', { className: 'small' }, [i.email || '', 'linked ' + fmt(i.created_at), used].filter(Boolean).join(' · '))));
      const unlink = el('button', { type: 'button', className: 'danger', textContent: 'Unlink' });
      unlink.setAttribute('aria-label', 'Unlink ' + i.provider);
      unlink.addEventListener('click', async () => {
        unlink.disabled = true;
        try {
          await api('DELETE', '/api/users/me/identities/' + encodeURIComponent(i.id));
          say(i.provider + ' is unlinked.', true);
          await loadIdentities();
        } catch (err) { unlink.disabled = false; showError(err); }
      });
      li.append(unlink);
      return li;
    }));
    if (!list.length) $('identities').append(el('li', { className: 'small' }, 'No provider linked.'));
    $('identity-link-buttons').replaceChildren(...providers.map((p) => {
      const b = el('button', { type: 'submit', textContent: 'Link ' + p.display_name, disabled: !p.up });
      b.dataset.provider = p.name;
      return b;
    }));
    $('identities-section').hidden = false;
  } catch (err) { showError(err); }
}
$('identity-link').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, provider = ev.submitter && ev.submitter.dataset.provider;
  if (!provider) return;
  clearErrors(form);
  const password = $('identity-password').value;
  try {
    const r = await api('POST', '/api/users/me/identities/' + encodeURIComponent(provider),
      { password: password || null, return_to: '/' });
    location.href = r.location;
  } catch (err) {
    if (codeOf(err) === 'invalid_credentials') $('identity-password-err').textContent = err.message;
    showError(err, { password: 'identity-password' });
    sayRetryAfter(err);
  }
});
// The end of a provider's flow: the fragment says how it went; it is removed at once.
async function oidcLanding() {
  const found = new URLSearchParams(location.hash.slice(1));
  const code = found.get('oidc_code'), error = found.get('oidc_error'), linked = found.get('oidc_linked');
  if (!code && !error && !linked) return false;
  history.replaceState(null, '', location.pathname + location.search);
  if (error) { say(OIDC_ERRORS[error] || ('The sign-in failed (' + error + ').')); return false; }
  if (linked) { say('Linked: ' + linked + ' now signs you in.', true); return false; }
  try {
    await signedIn(await call('POST', '/api/auth/oidc/token', { code }));
  } catch (err) {
    if (err.status === 403 && codeOf(err) === 'mfa_required' && err.problem.mfa_token) {
      startMfaLogin(err.problem.mfa_token, err.problem.expires_in);
    } else showError(err);
  }
  return true;
}

// ---- mail: forgot password, the mailed links, change of address ----
// A mailed link opens /reset-password?token=… or /verify-email?token=…; opening it changes
// nothing: the token is sent only when the user submits the form.
const linkToken = new URLSearchParams(location.search).get('token');
function leaveLink(message, ok) {
  history.replaceState(null, '', '/');
  $('reset-page').hidden = true; $('verify-page').hidden = true; $('auth').hidden = false;
  say(message, ok);
}
$('forgot').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = form.querySelector('button');
  clearErrors(form);
  btn.disabled = true;
  try {
    await call('POST', '/api/auth/password-reset', { email: $('forgot-email').value });
    form.reset();
    say('If an account has this address, a reset link is on its way.', true);
  } catch (err) { showError(err, { email: 'forgot-email' }); } finally { btn.disabled = false; }
});
$('reset').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = form.querySelector('button');
  clearErrors(form);
  btn.disabled = true;
  try {
    await call('POST', '/api/auth/password-reset/confirm', { token: linkToken || '', new_password: $('reset-password').value });
    form.reset();
    leaveLink('Your password was changed and every session signed out. Log in with the new one.', true);
    $('login-id').focus();
  } catch (err) { showError(err, { new_password: 'reset-password' }); } finally { btn.disabled = false; }
});
$('verify').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const btn = ev.target.querySelector('button');
  btn.disabled = true;
  try {
    await call('POST', '/api/auth/verify-email', { token: linkToken || '' });
    leaveLink('Your email address is confirmed.', true);
  } catch (err) { showError(err); } finally { btn.disabled = false; }
});
$('change-email').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, btn = form.querySelector('button');
  clearErrors(form);
  btn.disabled = true;
  try {
    const to = $('new-email').value;
    const body = { new_email: to, password: $('email-password').value };
    if (!$('email-code-row').hidden) body.code = $('email-code').value.trim();
    await api('PUT', '/api/users/me/email', body);
    form.reset();
    say('A confirmation link is on its way to ' + to + '.', true);
  } catch (err) {
    showError(err, { new_email: 'new-email', password: 'email-password', code: 'email-code' });
  } finally { btn.disabled = false; }
});
$('resend').addEventListener('click', async (ev) => {
  ev.target.disabled = true;
  try {
    await call('POST', '/api/auth/verify-email/resend', { email: myEmail });
    say('A new verification link is on its way.', true);
  } catch (err) { showError(err); } finally { ev.target.disabled = false; }
});

const linkPage = { '/reset-password': 'reset-page', '/verify-email': 'verify-page' }[location.pathname];
// A reload in the same tab: resume with the stored refresh token.
refreshToken = sessionStorage.getItem(STORE_KEY);
if (linkPage) {
  $('auth').hidden = true; $(linkPage).hidden = false;
  if (!linkToken) say('This link has no token: open the one in the mail again.');
} else {
  loadProviders().then(() => oidcLanding()).then((handled) => {
    if (handled) return;
    if (refreshToken) {
      const [note, kind] = [$('msg').textContent, $('msg').className];
      $('auth').hidden = true; if (!note) say('Resuming your session…', true);
      refresh().then(async (ok) => {
        if (!ok) { $('auth').hidden = false; return; }
        say('');
        await enterApp();
        if (note) { $('msg').textContent = note; $('msg').className = kind; }
      });
    } else $('login-id').focus();
  });
}
