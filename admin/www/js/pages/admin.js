// admin.js -- the audit trail and the users (admin role only: the
// navigation hides them from the others, the API answers them 403).

import { api } from '../api.js';
import { t } from '../i18n.js';
import { el, clear, fillRows, fmtTime, badge, pageHead, field, errText, dialog, toast, localInput, inputToUnix } from '../ui.js';

export async function renderAudit(main) {
  const days = el('select', { id: 'audit-range' },
    el('option', { value: '1', text: t('last_24h') }), el('option', { value: '7', text: t('last_7d') }),
    el('option', { value: '30', text: t('last_30d') }));
  const actor = el('input.mid', { id: 'audit-actor', type: 'search' });
  const action = el('input.mid', { id: 'audit-action', type: 'search', placeholder: 'recharge' });
  const tbody = el('tbody', { id: 'audit-body' });
  const more = el('button.btn.btn-sm', { type: 'button', text: t('older') });
  const rows = [];
  let before = null;
  const cols = [
    { label: t('col_when'), cell: (e) => el('td', { text: fmtTime(e.at) }) },
    { label: t('col_actor'), key: 'actor' },
    { label: t('col_action'), cell: (e) => el('td', badge(e.action, /fail|denied/.test(e.action) ? 'bad' : 'info')) },
    { label: t('col_object'), cell: (e) => el('td.mono', { text: e.object || '—' }) },
    { label: t('col_details'), cell: (e) => el('td.details', details(e.details)) },
  ];
  async function load(reset) {
    if (reset) { rows.length = 0; before = null; }
    const to = inputToUnix(localInput(new Date(Date.now() + 60000)));
    try {
      const r = await api('GET', '/audit', { query: { from: to - Number(days.value) * 86400, to, actor: actor.value.trim(), action: action.value.trim(), before, limit: 100 } });
      rows.push(...r.entries);
      before = r.next_before;
      more.hidden = !before;
      fillRows(tbody, cols, rows, { empty: t('no_data') });
    } catch (e) { fillRows(tbody, cols, [], { empty: errText(e) }); }
  }
  let timer = 0;
  const reload = () => { clearTimeout(timer); timer = setTimeout(() => load(true), 250); };
  for (const f of [actor, action]) f.addEventListener('input', reload);
  days.addEventListener('change', reload);
  more.addEventListener('click', () => load(false));
  clear(main, pageHead(t('audit_title'), t('audit_sub')),
    el('div.panel', el('div.filters', field(t('range'), days), field(t('col_actor'), actor), field(t('col_action'), action))),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'audit-table' },
      el('thead', el('tr', cols.map((c) => el('th', { scope: 'col', text: c.label })))), tbody)), el('div.pager', el('span'), more)));
  await load(true);
  return () => clearTimeout(timer);
}

// {"amount":"2.5","reason":"x"} -> "amount 2.5 · reason x" (key in grey)
function details(d) {
  if (!d || typeof d !== 'object') return d == null ? '' : String(d);
  const out = [];
  for (const [k, v] of Object.entries(d)) {
    if (out.length) out.push(' · ');
    const s = v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
    out.push(el('span.k', { text: k + ' ' }), s.length > 80 ? s.slice(0, 79) + '…' : s);
  }
  return out;
}

const ROLES = ['viewer', 'operator', 'admin'];

export async function renderUsers(main, ctx) {
  const tbody = el('tbody', { id: 'users-body' });
  const cols = [
    { label: t('username'), cell: (u) => el('td', el('b', { text: u.username }), u.id === ctx.me.id ? el('span.muted', { text: ' (' + t('you') + ')' }) : null) },
    { label: t('col_role'), cell: (u) => {
      const s = el('select', { 'aria-label': t('col_role') + ' ' + u.username, disabled: u.id === ctx.me.id || !u.active },
        ROLES.map((r) => el('option', { value: r, text: t('role_' + r) })));
      s.value = u.role;
      s.addEventListener('change', async () => {
        try { await api('PATCH', `/users/${u.id}`, { body: { role: s.value } }); toast(t('user_saved', { u: u.username })); } catch (e) { toast(errText(e), true); s.value = u.role; }
      });
      return el('td', s);
    } },
    { label: t('col_status'), cell: (u) => el('td', u.active ? badge(t('status_active'), 'ok') : badge(t('inactive'))) },
    { label: t('col_created'), cell: (u) => el('td', { text: fmtTime(u.created_at) }) },
    { label: '', cell: (u) => el('td.num', u.active && u.id !== ctx.me.id ? el('button.btn.btn-sm.btn-danger', { type: 'button', text: t('deactivate'), onclick: async () => {
      if (!confirm(t('deactivate_confirm', { u: u.username }))) return;
      try { await api('DELETE', `/users/${u.id}`); load(); } catch (e) { toast(errText(e), true); }
    } }) : null) },
  ];
  async function load() {
    try {
      const r = await api('GET', '/users');
      fillRows(tbody, cols, r.users);
    } catch (e) { fillRows(tbody, cols, [], { empty: errText(e) }); }
  }
  const add = el('button.btn.btn-primary', { id: 'user-add', type: 'button', text: t('user_add'), onclick: async () => {
    const r = await dialog({
      title: t('user_add'), submitLabel: t('create'),
      build(form) {
        form.append(field(t('username'), el('input', { name: 'username', required: true, autocomplete: 'off' })),
          field(t('password'), el('input', { name: 'password', type: 'password', required: true, minlength: 10, autocomplete: 'new-password' })),
          field(t('col_role'), el('select', { name: 'role' }, ROLES.map((x) => el('option', { value: x, text: t('role_' + x) })))));
      },
      submit: (form) => api('POST', '/users', { body: { username: form.elements.username.value.trim(), password: form.elements.password.value, role: form.elements.role.value } }),
    });
    if (r) { toast(t('user_created')); load(); }
  } });
  clear(main, pageHead(t('users_title'), t('users_sub'), add),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'users-table' },
      el('thead', el('tr', cols.map((c) => el('th', { scope: 'col', text: c.label })))), tbody))));
  await load();
}
