// app.js -- the dashboard's shell: session, language, navigation, router.
//
// Hash routes (#/live, #/accounts/12, ...), so the server serves one page
// (/ui/) and every view is a module of pages/. A page is
// render(main, ctx) -> optional cleanup (closes its WebSocket, timers).
// ctx: {me, can(role), params, go(hash)}. What a role may not do is not
// shown (can()); the API refuses it anyway (403).

import { api, setUnauthorizedHandler } from './api.js';
import { loadLang, savedLang, t, translateDom, currentLang } from './i18n.js';
import { el, clear, errText } from './ui.js';
import * as live from './pages/live.js';
import * as accounts from './pages/accounts.js';
import * as bulk from './pages/bulk.js';
import * as cdrs from './pages/cdrs.js';
import * as stats from './pages/stats.js';
import * as rates from './pages/rates.js';
import * as admin from './pages/admin.js';
import * as notifications from './pages/notifications.js';
import * as facs from './pages/facs.js';

const RANK = { viewer: 1, operator: 2, admin: 3 };

// [hash pattern, page module function, nav key, least role]
const ROUTES = [
  [/^\/live$/, live.render, 'nav_live', 'viewer'],
  [/^\/accounts$/, accounts.renderList, 'nav_accounts', 'viewer'],
  [/^\/accounts\/(\d+)$/, accounts.renderDetail, null, 'viewer'],
  [/^\/extensions$/, accounts.renderExtensions, 'nav_extensions', 'viewer'],
  [/^\/facs$/, facs.render, 'nav_facs', 'viewer'],
  [/^\/recharges$/, bulk.render, 'nav_bulk', 'operator'],
  [/^\/cdrs$/, cdrs.render, 'nav_cdrs', 'viewer'],
  [/^\/stats$/, stats.render, 'nav_stats', 'viewer'],
  [/^\/rates$/, rates.render, 'nav_rates', 'viewer'],
  [/^\/notifications$/, notifications.render, 'nav_notifications', 'operator'],
  [/^\/audit$/, admin.renderAudit, 'nav_audit', 'admin'],
  [/^\/users$/, admin.renderUsers, 'nav_users', 'admin'],
];

const state = { me: null, cleanup: null };
const main = document.getElementById('main');

function can(role) { return !!state.me && RANK[state.me.role] >= RANK[role]; }

function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function renderNav(path) {
  const nav = document.getElementById('nav');
  clear(nav);
  for (const [re, , key, role] of ROUTES) {
    if (!key || !can(role)) continue;
    const href = '#' + re.source.replace(/^\^\\?/, '').replace(/\$$/, '').replace(/\\\//g, '/');
    const a = el('a', { href, text: t(key) });
    const top = path.split('/')[1];
    if (href.slice(2) === top) a.setAttribute('aria-current', 'page');
    nav.append(a);
  }
  const u = document.getElementById('user');
  clear(u, el('b', { text: state.me.username }), ' · ', t('role_' + state.me.role));
}

function renderLogin() {
  document.getElementById('topbar').hidden = true;
  const err = el('div.error', { hidden: true, role: 'alert' });
  const user = el('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
  const pass = el('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = el('button.btn.btn-primary', { type: 'submit', id: 'login-submit', text: t('login_submit') });
  const lang = el('select.lang-login', { 'aria-label': t('language') },
    el('option', { value: 'en', text: 'English' }), el('option', { value: 'es', text: 'Español' }));
  lang.value = currentLang();
  lang.addEventListener('change', async () => { await setLang(lang.value); });
  const form = el('form', { id: 'login-form' },
    el('div.field', el('label', { for: 'username', text: t('username') }), user),
    el('div.field', el('label', { for: 'password', text: t('password') }), pass),
    err, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.hidden = true;
    try {
      await api('POST', '/login', { body: { username: user.value, password: pass.value } });
      state.me = await api('GET', '/me');
      if (!location.hash || location.hash === '#/login') location.hash = '#/live';
      route();
    } catch (ex) {
      err.textContent = ex.status === 401 ? t('login_bad') : ex.status === 429 ? t('login_throttled') : errText(ex);
      err.hidden = false;
      pass.select();
    } finally {
      submit.disabled = false;
    }
  });
  clear(main, el('div.login-wrap', el('div.login',
    el('div.brand', el('span.logo', { 'aria-hidden': 'true' }), 'ApoloBilling'),
    el('div.muted', { text: t('login_sub') }),
    form,
    el('div.foot', el('span', { text: t('login_foot') }), lang))));
  user.focus();
}

async function route() {
  if (state.cleanup) { try { state.cleanup(); } catch (e) { /* */ } state.cleanup = null; }
  const path = (location.hash || '#/live').slice(1) || '/live';
  if (!state.me) { renderLogin(); return; }
  document.getElementById('topbar').hidden = false;
  renderNav(path);
  for (const [re, fn, , role] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    if (!can(role)) {
      clear(main, el('div.panel', el('div.error', { text: t('err_forbidden') })));
      return;
    }
    // Each page draws into a view of its own: a page still loading when
    // the user moves on draws into a detached view, and is cleaned up.
    const view = el('div.view');
    clear(main, view);
    let cleanup = null;
    try {
      cleanup = (await fn(view, { me: state.me, can, params: m.slice(1), go })) || null;
    } catch (e) {
      view.append(el('div.panel', el('div.error', { text: errText(e) })));
    }
    if (view.parentNode !== main) { if (cleanup) cleanup(); return; }
    state.cleanup = cleanup;
    main.focus({ preventScroll: true });
    return;
  }
  go('#/live');
}

async function setLang(l) {
  await loadLang(l);
  document.getElementById('lang').value = l;
  translateDom();
  route();
}

async function start() {
  await loadLang(savedLang());
  translateDom();
  document.getElementById('lang').value = currentLang();
  document.getElementById('lang').addEventListener('change', (e) => setLang(e.target.value));
  document.getElementById('logout').addEventListener('click', async () => {
    try { await api('POST', '/logout'); } catch (e) { /* the session may be gone already */ }
    state.me = null;
    location.hash = '#/login';
    route();
  });
  setUnauthorizedHandler(() => {
    if (state.me) { state.me = null; route(); }
  });
  try {
    state.me = await api('GET', '/me');
  } catch (e) {
    state.me = null;
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
