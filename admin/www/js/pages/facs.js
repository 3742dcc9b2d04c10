// facs.js -- Forced Authorization Codes (Cisco CUCM, admin/api_fac.c):
// the list (GET /api/v1/facs: name, level, billing account, active, whether
// a code is set, the AXL push state), and the calls per FAC of a period
// (GET /api/v1/facs/report: calls, answered, minutes, cost).
//
// Codes are write-only: the API keeps only their keyed hash and never
// returns one (has_code says whether there is one), so the page never
// shows a code; the dialog has a password field for it, sent once with the
// POST or PATCH and not kept. Admins create, edit, deactivate (DELETE: the
// FAC stays, inactive, removed from CUCM), retry a failed push (POST
// .../{id}/push), retry every pending one (POST /facs/push) and import
// CUCM's FACs (POST /facs/import); viewers and operators see no button and
// the API refuses them (403). Amounts and minutes are decimal strings
// (money.js), never floats.

import { api } from '../api.js';
import { t, currentLang } from '../i18n.js';
import * as money from '../money.js';
import { el, clear, fillRows, moneyCell, numCell, fmtTime, fmtInt, badge, pageHead, field, dialog, toast, errText, localInput, inputToUnix } from '../ui.js';

const AXL_KIND = { synced: 'ok', pending: 'warn', failed: 'bad', local: '' };
const CODE_RE = /^\d{1,16}$/;
const RANGE_MAX = 31 * 86400;

function axlText(s) {
  const v = t('axl_' + s);
  return v === 'axl_' + s ? s : v;
}

// A decimal string (minutes "3.0833") in the reader's style, not rounded.
function decimal(s) { return s == null ? '—' : money.format(String(s), currentLang(), 2); }

// The server's message after ours, for the 409 and 422 it explains.
function facError(e) {
  if (e.status === 409 && /code/i.test(e.message)) return new Error(`${t('fac_code_taken')} (${e.message})`);
  if (e.status === 409) return new Error(`${t('fac_name_taken')} (${e.message})`);
  if (e.status === 422 && /fac\.secret/.test(e.message)) return new Error(`${t('fac_no_secret')} (${e.message})`);
  return e;
}

// The create (fac null) or edit dialog: resolves with the API's answer (the
// FAC as it is now, with its push state) or null (cancelled, or nothing
// changed). Only what changed is sent; an empty code field keeps the code.
function facDialog(fac, accounts) {
  const edit = !!fac;
  return dialog({
    title: edit ? t('fac_edit_title', { name: fac.name }) : t('fac_add'),
    submitLabel: edit ? t('save') : t('create'),
    build(form) {
      const acct = el('select', { id: 'fac-account', name: 'account' },
        el('option', { value: '', text: t('fac_account_none') }),
        [...accounts.values()].map((a) => el('option', { value: a.id, text: `${a.code} — ${a.name}` })));
      acct.value = edit && fac.account_id != null ? String(fac.account_id) : '';
      const active = el('input', { id: 'fac-active-input', name: 'active', type: 'checkbox', checked: edit ? fac.active : true });
      form.append(
        field(t('col_name'), el('input', { id: 'fac-name', name: 'name', required: true, maxlength: 50, autocomplete: 'off',
          spellcheck: 'false', placeholder: t('fac_name_ph'), value: edit ? fac.name : '' })),
        field(t('fac_code'), el('input', { id: 'fac-code', name: 'code', type: 'password', inputmode: 'numeric',
          autocomplete: 'new-password', maxlength: 16, required: !edit, placeholder: edit ? t('fac_code_keep') : '' })),
        el('p.muted.small', { id: 'fac-code-hint', text: edit ? t('fac_code_edit_hint') : t('fac_code_hint') }),
        field(t('fac_level'), el('input.narrow', { id: 'fac-level', name: 'level', type: 'number', min: 0, max: 255, step: 1,
          required: true, value: edit ? String(fac.authorization_level) : '0' })),
        field(t('col_billing_account'), acct),
        el('label.check', active, el('span', { text: t('fac_active') })));
    },
    async submit(form) {
      const f = form.elements;
      const name = f.name.value.trim(), code = f.code.value;
      const level = f.level.value.trim();
      if (code !== '' && !CODE_RE.test(code)) throw new Error(t('fac_code_invalid'));
      if (!edit && code === '') throw new Error(t('fac_code_invalid'));
      if (!/^\d{1,3}$/.test(level) || Number(level) > 255) throw new Error(t('fac_level_invalid'));
      const account = f.account.value === '' ? null : Number(f.account.value);
      const body = {};
      if (!edit || name !== fac.name) body.name = name;
      if (code !== '') body.code = code;
      if (!edit || Number(level) !== fac.authorization_level) body.authorization_level = Number(level);
      if (edit ? account !== (fac.account_id ?? null) : account != null) body.account_id = account;
      if (!edit || f.active.checked !== fac.active) body.active = f.active.checked;
      if (edit && !Object.keys(body).length) return null;
      try {
        return edit ? await api('PATCH', `/facs/${fac.id}`, { body }) : await api('POST', '/facs', { body });
      } catch (e) {
        throw facError(e);
      }
    },
  });
}

export async function render(main, ctx) {
  const admin = ctx.can('admin');
  const q = el('input', { id: 'fac-search', type: 'search', placeholder: t('fac_search_ph'), autocomplete: 'off' });
  const activeSel = el('select', { id: 'fac-filter-active' }, el('option', { value: '', text: t('all') }),
    el('option', { value: 'true', text: t('yes') }), el('option', { value: 'false', text: t('no') }));
  const tbody = el('tbody', { id: 'fac-body' });
  const pager = el('div.pager');
  const err = el('div.error', { id: 'fac-error', role: 'alert', hidden: true });

  let accounts = new Map();
  try {
    const r = await api('GET', '/accounts', { query: { limit: 500 } });
    accounts = new Map(r.accounts.map((a) => [a.id, a]));
  } catch (e) { /* ids only */ }
  const currencies = new Set([...accounts.values()].map((a) => a.currency));
  const onlyCurrency = currencies.size === 1 ? [...currencies][0] : '';
  const acctLink = (id) => (id == null ? el('span.muted', { text: t('fac_extension_account') })
    : el('a', { href: `#/accounts/${id}`, text: accounts.get(id)?.code || '#' + id }));

  function showError(e, prefix) {
    err.textContent = prefix ? `${prefix} ${e.message}` : errText(e);
    err.hidden = false;
  }
  const axlError = (e) => showError(e, e.status === 422 || e.status === 502 ? t('fac_axl_off') : '');
  function pushToast(f, done) {
    if (f?.axl?.state === 'failed') toast(t('fac_push_failed', { name: f.name, err: f.axl.error || '' }), true);
    else toast(done);
  }

  const cols = [
    { label: t('col_name'), cell: (f) => el('td', el('b.fac-name', { text: f.name })) },
    { label: t('col_auth_level'), num: true, cell: (f) => el('td.num.fac-level', { text: String(f.authorization_level) }) },
    { label: t('col_billing_account'), cell: (f) => el('td', acctLink(f.account_id)) },
    { label: t('col_active'), cell: (f) => el('td', f.active ? badge(t('yes'), 'ok') : badge(t('no'))) },
    { label: t('col_fac_code'), cell: (f) => el('td', f.has_code ? badge(t('fac_code_set'), 'ok')
      : el('span', { title: t('fac_code_missing_hint') }, badge(t('fac_code_missing'), 'warn'))) },
    { label: t('col_axl'), cell: (f) => {
      const s = f.axl?.state || 'local';
      const b = badge(axlText(s), AXL_KIND[s] ?? '');
      b.classList.add('axl-state');
      b.title = s === 'local' ? t('axl_local_hint') : f.axl?.pushed_at ? t('axl_pushed_at', { at: fmtTime(f.axl.pushed_at) }) : '';
      return el('td.wrap.last-error', b, f.axl?.error ? el('div.muted.small', { text: f.axl.error }) : null);
    } },
    { label: t('col_updated'), cell: (f) => el('td', { text: fmtTime(f.updated_at) }) },
  ];
  if (admin) {
    cols.push({ label: '', cell: (f) => el('td.num', el('div.row-actions',
      el('button.btn.btn-sm.fac-edit', { type: 'button', text: t('edit'), dataset: { fac: f.name },
        'aria-label': t('fac_edit_title', { name: f.name }), onclick: () => edit(f) }),
      f.active && (f.axl?.state === 'failed' || f.axl?.state === 'pending') ? el('button.btn.btn-sm.fac-push', { type: 'button',
        text: t('fac_push'), dataset: { fac: f.name }, 'aria-label': t('fac_push_label', { name: f.name }), onclick: () => push(f) }) : null,
      f.active ? el('button.btn.btn-sm.btn-danger.fac-deactivate', { type: 'button', text: t('deactivate'), dataset: { fac: f.name },
        'aria-label': t('fac_deactivate_label', { name: f.name }), onclick: () => deactivate(f) }) : null)) });
  }

  const cursors = [null];
  let page = 0;
  async function load() {
    err.hidden = true;
    try {
      const r = await api('GET', '/facs', { query: { q: q.value.trim(), active: activeSel.value, after: cursors[page], limit: 50 } });
      fillRows(tbody, cols, r.facs, { empty: t('fac_empty'), rowClass: (f) => (f.active ? '' : 'inactive') });
      cursors[page + 1] = r.next;
      clear(pager, el('span', { text: t('page_n', { n: page + 1 }) }), el('span.actions',
        el('button.btn.btn-sm', { type: 'button', text: t('prev'), disabled: page === 0, onclick: () => { page--; load(); } }),
        el('button.btn.btn-sm', { type: 'button', text: t('next'), disabled: !r.next, onclick: () => { page++; load(); } })));
    } catch (e) {
      showError(e);
      fillRows(tbody, cols, []);
    }
  }

  async function edit(f) {
    const r = await facDialog(f, accounts);
    if (!r) return;
    pushToast(r, t('fac_saved', { name: r.name }));
    await load();
  }
  async function deactivate(f) {
    if (!confirm(t('fac_deactivate_confirm', { name: f.name }))) return;
    err.hidden = true;
    try {
      pushToast(await api('DELETE', `/facs/${f.id}`), t('fac_deactivated', { name: f.name }));
      await load();
    } catch (e) { showError(e); }
  }
  async function push(f) {
    err.hidden = true;
    try {
      const r = await api('POST', `/facs/${f.id}/push`);
      pushToast(r, t('fac_pushed', { name: f.name, state: axlText(r?.axl?.state || '') }));
      await load();
    } catch (e) { axlError(e); }
  }

  let timer = 0;
  const reload = () => { clearTimeout(timer); timer = setTimeout(() => { page = 0; cursors.length = 1; load(); }, 200); };
  q.addEventListener('input', reload);
  activeSel.addEventListener('change', reload);

  const actions = [el('button.btn', { type: 'button', id: 'fac-refresh', text: t('refresh'), onclick: () => { load(); report.load(); } })];
  if (admin) {
    actions.push(el('button.btn', { type: 'button', id: 'fac-import', text: t('fac_import'), onclick: async (e) => {
      if (!confirm(t('fac_import_confirm'))) return;
      const b = e.currentTarget;
      b.disabled = true;
      err.hidden = true;
      try {
        const r = await api('POST', '/facs/import');
        toast(t('fac_import_done', r));
        page = 0; cursors.length = 1;
        await load();
      } catch (ex) { axlError(ex); } finally { b.disabled = false; }
    } }));
    actions.push(el('button.btn', { type: 'button', id: 'fac-push-all', text: t('fac_push_all'), onclick: async (e) => {
      const b = e.currentTarget;
      b.disabled = true;
      err.hidden = true;
      try {
        const r = await api('POST', '/facs/push');
        toast(t('fac_push_all_done', r), r.failed > 0);
        await load();
      } catch (ex) { axlError(ex); } finally { b.disabled = false; }
    } }));
    actions.push(el('button.btn.btn-primary', { type: 'button', id: 'fac-add', text: t('fac_add'), onclick: async () => {
      const r = await facDialog(null, accounts);
      if (!r) return;
      pushToast(r, t('fac_created', { name: r.name }));
      page = 0; cursors.length = 1;
      await load();
    } }));
  }

  const report = reportPanel(accounts, onlyCurrency, acctLink);
  clear(main, pageHead(t('fac_title'), t('fac_sub'), ...actions),
    el('div.panel', el('div.filters', field(t('search'), q), field(t('col_active'), activeSel)), err),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'fac-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), tbody)), pager),
    report.node);
  await Promise.all([load(), report.load()]);
  return () => clearTimeout(timer);
}

// ---- the report: calls, minutes and cost per FAC in [from, to) ---------------------

function reportPanel(accounts, onlyCurrency, acctLink) {
  const now = new Date();
  const from = el('input', { id: 'fac-from', type: 'datetime-local', value: localInput(new Date(now.getTime() - 7 * 86400000)) });
  const to = el('input', { id: 'fac-to', type: 'datetime-local', value: localInput(new Date(now.getTime() + 60000)) });
  const run = el('button.btn.btn-primary', { id: 'fac-report-run', type: 'submit', text: t('fac_report_run') });
  const err = el('div.error', { id: 'fac-report-error', role: 'alert', hidden: true });
  const tbody = el('tbody', { id: 'fac-report-body' });
  const tfoot = el('tfoot', { id: 'fac-report-total' });
  // the cost's currency: the FAC's billing account's; a FAC without one is
  // paid by the caller's extension account: the currency when all share one
  const cur = (r) => accounts.get(r.account_id)?.currency || onlyCurrency;
  const cols = [
    { label: t('col_fac'), cell: (r) => el('td', r.name != null ? el('b', { text: r.name })
      : el('span.muted', { text: t('fac_unknown', { id: r.fac_id }) })) },
    { label: t('col_billing_account'), cell: (r) => el('td', acctLink(r.account_id)) },
    { label: t('stat_calls'), num: true, cell: (r) => el('td.num.rep-calls', { text: fmtInt(r.calls) }) },
    { label: t('col_answered'), num: true, cell: (r) => numCell(r.answered) },
    { label: t('stat_minutes'), num: true, cell: (r) => el('td.num.rep-minutes', { title: t('fac_seconds', { s: fmtInt(r.seconds) }), text: decimal(r.minutes) }) },
    { label: t('col_cost'), num: true, cell: (r) => moneyCell(r.cost, cur(r), '.rep-cost') },
  ];

  function total(rows) {
    if (!rows.length) { tfoot.replaceChildren(); return; }
    const sum = (k) => rows.reduce((s, r) => s + BigInt(r[k] ?? 0), 0n);
    const curs = new Set(rows.map(cur));
    const cost = curs.size === 1 ? moneyCell(money.add(...rows.map((r) => r.cost)), [...curs][0], '.rep-cost')
      : el('td.num.rep-cost', { title: t('fac_mixed_currency'), text: '—' });
    clear(tfoot, el('tr',
      el('th', { scope: 'row', text: t('fac_total') }), el('td'),
      el('td.num.rep-calls', { text: fmtInt(sum('calls')) }), el('td.num', { text: fmtInt(sum('answered')) }),
      el('td.num.rep-minutes', { text: decimal(money.add(...rows.map((r) => r.minutes))) }), cost));
  }

  async function load() {
    err.hidden = true;
    const f = inputToUnix(from.value), tt = inputToUnix(to.value);
    if (f === undefined || tt === undefined || tt <= f || tt - f > RANGE_MAX) {
      err.textContent = t('fac_range_bad');
      err.hidden = false;
      return;
    }
    try {
      const r = await api('GET', '/facs/report', { query: { from: f, to: tt } });
      fillRows(tbody, cols, r.rows, { empty: t('fac_report_empty') });
      total(r.rows);
    } catch (e) {
      err.textContent = errText(e);
      err.hidden = false;
      fillRows(tbody, cols, []);
      total([]);
    }
  }
  const form = el('form.filters', field(t('from'), from), field(t('to'), to), run);
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  const node = el('div.panel.flush', { id: 'fac-report-panel' },
    el('div.panel-head', el('div', el('h2', { text: t('fac_report_title') }), el('p.muted.small', { text: t('fac_report_sub') }))),
    el('div.report-form', form, err),
    el('div.table-wrap', el('table', { id: 'fac-report-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), tbody, tfoot)));
  return { node, load };
}
