// accounts.js -- accounts (search, balances, low-balance rows), one
// account (balances, extensions, ledger, recharge) and the extensions.
// Balances shown are the live ones of the region (live.balance) when the
// API has them, else PostgreSQL's drained balance.

import { api, newKey } from '../api.js';
import { t } from '../i18n.js';
import * as money from '../money.js';
import { el, clear, table, fillRows, moneyCell, moneyNode, fmtTime, badge, pageHead, field, dialog, toast, errText, loading, fmtMoney } from '../ui.js';

function bal(a) { return a.live ? a.live.balance : a.balance; }
function isLow(a) {
  return a.low_balance_threshold != null && money.cmp(a.live ? a.live.available : a.balance, a.low_balance_threshold) < 0;
}
function statusBadge(s) {
  return badge(t('status_' + s), s === 'active' ? 'ok' : s === 'blocked' ? 'warn' : '');
}

// The recharge dialog: resolves with the API's answer or null. One
// Idempotency-Key per submission of one amount and reason: a retry of the
// same submission (network failure) reuses it, a changed form gets a new one.
export function rechargeDialog(account) {
  let key = null, keyFor = '';
  return dialog({
    title: t('recharge_title', { code: account.code }),
    submitLabel: t('recharge_submit'),
    build(form) {
      form.append(
        el('div.muted', { text: t('recharge_current', { balance: fmtMoney(bal(account), account.currency) }) }),
        field(t('amount') + ' (' + account.currency + ')', el('input', { id: 'recharge-amount', name: 'amount', inputmode: 'decimal', autocomplete: 'off', required: true, placeholder: '10.00' })),
        field(t('reason'), el('input', { id: 'recharge-reason', name: 'reason', maxlength: 200, placeholder: t('reason_placeholder') })));
    },
    async submit(form) {
      const raw = form.elements.amount.value;
      const micro = money.parseMicro(raw);
      if (micro == null || micro <= 0n) throw new Error(t('amount_invalid'));
      const body = { amount: money.microToString(micro) };
      const reason = form.elements.reason.value.trim();
      if (reason) body.reason = reason;
      const sig = JSON.stringify(body);
      if (sig !== keyFor) { key = newKey(); keyFor = sig; }
      return api('POST', `/accounts/${account.id}/recharges`, { body, headers: { 'Idempotency-Key': key } });
    },
  });
}

export async function renderList(main, ctx) {
  const q = el('input', { id: 'acct-search', type: 'search', placeholder: t('acct_search_ph') });
  const type = el('select', { id: 'acct-type' }, el('option', { value: '', text: t('all') }),
    el('option', { value: 'prepaid', text: t('prepaid') }), el('option', { value: 'postpaid', text: t('postpaid') }));
  const status = el('select', { id: 'acct-status' }, el('option', { value: '', text: t('all') }),
    ...['active', 'blocked', 'closed'].map((s) => el('option', { value: s, text: t('status_' + s) })));
  const lowOnly = el('input', { id: 'acct-low', type: 'checkbox' });
  const tbody = el('tbody', { id: 'acct-body' });
  const pager = el('div.pager');
  const cols = [
    { label: t('col_code'), cell: (a) => el('td', el('a', { href: `#/accounts/${a.id}`, text: a.code })) },
    { label: t('col_name'), key: 'name' },
    { label: t('col_type'), cell: (a) => el('td', { text: t(a.type) }) },
    { label: t('col_status'), cell: (a) => el('td', statusBadge(a.status)) },
    { label: t('col_balance'), num: true, cell: (a) => moneyCell(bal(a), a.currency, '.bal') },
    { label: t('col_available'), num: true, cell: (a) => moneyCell(a.live?.available, a.currency) },
    { label: t('col_reserved'), num: true, cell: (a) => moneyCell(a.live?.reserved, a.currency) },
    { label: t('col_low_threshold'), num: true, cell: (a) => moneyCell(a.low_balance_threshold, a.low_balance_threshold == null ? '' : a.currency) },
  ];
  if (ctx.can('operator')) {
    cols.push({ label: '', cell: (a) => el('td.num', a.status === 'closed' ? null : el('button.btn.btn-sm.recharge-btn', {
      type: 'button', text: t('recharge'), dataset: { account: a.code },
      onclick: async (e) => { e.stopPropagation(); if (await rechargeDialog(a)) { toast(t('recharge_done', { code: a.code })); load(cursors[page]); } },
    })) });
  }
  const cursors = [null];
  let page = 0;
  async function load(after) {
    try {
      const r = await api('GET', '/accounts', { query: { q: q.value.trim(), type: type.value, status: status.value, after, limit: 50 } });
      let rows = r.accounts;
      if (lowOnly.checked) rows = rows.filter(isLow);
      fillRows(tbody, cols, rows, { empty: t('acct_empty'), rowClass: (a) => (isLow(a) ? 'low' : ''),
        onRow: (a) => ctx.go(`#/accounts/${a.id}`) });
      cursors[page + 1] = r.next;
      clear(pager, el('span', { text: t('page_n', { n: page + 1 }) }), el('span.actions',
        el('button.btn.btn-sm', { type: 'button', text: t('prev'), disabled: page === 0, onclick: () => { page--; load(cursors[page]); } }),
        el('button.btn.btn-sm', { type: 'button', text: t('next'), disabled: !r.next, onclick: () => { page++; load(cursors[page]); } })));
    } catch (e) {
      fillRows(tbody, cols, [], { empty: errText(e) });
    }
  }
  let timer = 0;
  const reload = () => { clearTimeout(timer); timer = setTimeout(() => { page = 0; load(null); }, 200); };
  q.addEventListener('input', reload);
  for (const f of [type, status, lowOnly]) f.addEventListener('change', reload);

  clear(main,
    pageHead(t('acct_title'), t('acct_sub'),
      ctx.can('operator') ? el('a.btn', { href: '#/recharges', text: t('nav_bulk') }) : null),
    el('div.panel', el('div.filters', field(t('search'), q), field(t('col_type'), type), field(t('col_status'), status),
      el('label.check', lowOnly, el('span', { text: t('low_only') })))),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'acct-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), tbody)), pager));
  await load(null);
  q.focus();
  return () => clearTimeout(timer);
}

export async function renderDetail(main, ctx) {
  const id = ctx.params[0];
  main.append(loading());
  let a = await api('GET', `/accounts/${id}`);
  const kpis = el('div.grid.kpis');
  const ledgerBody = el('tbody', { id: 'ledger-body' });
  const more = el('button.btn.btn-sm', { type: 'button', text: t('older') });
  let before = null;
  const kpi = (label, amount, idn, cls = '') => el('div.kpi' + cls, el('div.label', { text: label }),
    el('div.value', { id: idn }, moneyNode(amount, a.currency)));
  function drawKpis() {
    clear(kpis,
      kpi(t('col_balance'), bal(a), 'acct-balance', isLow(a) ? '.low' : ''),
      kpi(t('col_available'), a.live?.available, 'acct-available'),
      kpi(t('col_reserved'), a.live?.reserved, 'acct-reserved'),
      kpi(t('col_credit_limit'), a.credit_limit),
      kpi(t('col_low_threshold'), a.low_balance_threshold));
  }
  const ledgerCols = [
    { label: t('col_when'), cell: (e) => el('td', { text: fmtTime(e.at) }) },
    { label: t('col_kind'), cell: (e) => el('td', badge(t('kind_' + e.kind) === 'kind_' + e.kind ? e.kind : t('kind_' + e.kind), e.kind === 'recharge' ? 'ok' : '')) },
    { label: t('amount'), num: true, cell: (e) => moneyCell(e.amount, a.currency) },
    { label: t('col_balance_after'), num: true, cell: (e) => moneyCell(e.balance_after, a.currency) },
    { label: t('reason'), cell: (e) => {
      const ref = e.reason || e.reference || '—';
      return el('td.wrap.reason', { title: ref, text: e.kind === 'call_debit' && !e.reason ? t('ledger_call', { id: ref.length > 12 ? ref.slice(0, 8) + '…' : ref }) : ref });
    } },
    { label: t('col_actor'), key: 'actor' },
  ];
  const ledgerRows = [];
  async function loadLedger(reset) {
    if (reset) { before = null; ledgerRows.length = 0; }
    const r = await api('GET', '/ledger', { query: { account: id, before, limit: 50 } });
    ledgerRows.push(...r.entries);
    before = r.next_before;
    more.hidden = !before;
    fillRows(ledgerBody, ledgerCols, ledgerRows, { empty: t('ledger_empty') });
  }
  more.addEventListener('click', () => loadLedger(false));
  async function refresh() {
    a = await api('GET', `/accounts/${id}`);
    drawKpis();
    await loadLedger(true);
  }
  const actions = [];
  if (ctx.can('operator') && a.status !== 'closed') {
    actions.push(el('button.btn.btn-primary.recharge-btn', { type: 'button', id: 'recharge-open', text: t('recharge'), onclick: async () => {
      const r = await rechargeDialog(a);
      if (!r) return;
      toast(t('recharge_done', { code: a.code }));
      // the answer carries the new balance at once; the ledger row lands
      // when the flusher has drained it (milliseconds)
      if (a.live) a.live.balance = r.balance_after; else a.balance = r.balance_after;
      drawKpis();
      setTimeout(() => refresh().catch(() => {}), 400);
    } }));
  }
  drawKpis();
  // where the account's notifications go (null: alert.smtp_to); operators
  // and admins edit it (PATCH notify_email, null clears; 422 a bad address)
  const notifyVal = el('dd', { id: 'acct-notify-email' });
  function drawNotify() {
    if (a.notify_email) clear(notifyVal, el('span.mono', { text: a.notify_email }));
    else clear(notifyVal, el('span.muted', { text: t('notify_email_default') }));
  }
  drawNotify();
  const notifyEdit = ctx.can('operator') ? el('button.btn.btn-sm', { type: 'button', id: 'notify-email-edit', text: t('edit'),
    'aria-label': t('notify_email_title', { code: a.code }),
    onclick: async () => {
      const r = await dialog({
        title: t('notify_email_title', { code: a.code }),
        build(form) {
          form.append(field(t('notify_email'), el('input', { id: 'notify-email-input', name: 'email', type: 'text',
            inputmode: 'email', autocomplete: 'off', spellcheck: 'false', maxlength: 254, placeholder: 'facturacion@example.com',
            value: a.notify_email || '' })),
          el('p.muted.small', { text: t('notify_email_hint') }));
        },
        async submit(form) {
          const v = form.elements.email.value.trim();
          return (await api('PATCH', `/accounts/${id}`, { body: { notify_email: v === '' ? null : v } })) || {};
        },
      });
      if (!r) return;
      a.notify_email = 'notify_email' in r ? r.notify_email : (await api('GET', `/accounts/${id}`)).notify_email;
      drawNotify();
      toast(t('notify_email_saved', { code: a.code }));
    } }) : null;
  const contact = el('div.panel.contact', { id: 'acct-contact' },
    el('dl.dl', el('dt', { text: t('notify_email') }), notifyVal), notifyEdit);
  const exts = table({ cols: [
    { label: t('col_extension'), cell: (x) => el('td.mono', { text: x.number }) },
    { label: t('col_user'), key: 'user_name' },
    { label: t('col_department'), key: 'department' },
    { label: t('col_active'), cell: (x) => el('td', x.active ? badge(t('yes'), 'ok') : badge(t('no'))) },
  ], rows: a.extensions || [], empty: t('ext_empty') });
  clear(main,
    el('div', el('a', { href: '#/accounts', text: '← ' + t('nav_accounts') })),
    pageHead(`${a.code} — ${a.name}`, `${t(a.type)} · ${a.currency} · ${t('plan')} #${a.plan_id ?? '—'}`, statusBadge(a.status), ...actions),
    kpis,
    contact,
    el('div.grid.side',
      el('div.panel.flush', el('h2', { text: t('ledger_title') }), el('div.table-wrap', el('table', { id: 'ledger-table' },
        el('thead', el('tr', ledgerCols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), ledgerBody)),
        el('div.pager', el('span'), more)),
      el('div.panel.flush', el('h2', { text: t('ext_title') }), exts)));
  await loadLedger(true);
}

export async function renderExtensions(main, ctx) {
  const q = el('input', { id: 'ext-search', type: 'search', placeholder: t('ext_search_ph') });
  const tbody = el('tbody', { id: 'ext-body' });
  let accounts = new Map();
  try {
    const r = await api('GET', '/accounts', { query: { limit: 500 } });
    accounts = new Map(r.accounts.map((x) => [x.id, x]));
  } catch (e) { /* ids only */ }
  const cols = [
    { label: t('col_extension'), cell: (x) => el('td.mono', { text: x.number }) },
    { label: t('col_account'), cell: (x) => el('td', el('a', { href: `#/accounts/${x.account_id}`, text: accounts.get(x.account_id)?.code || '#' + x.account_id })) },
    { label: t('col_user'), key: 'user_name' },
    { label: t('col_department'), key: 'department' },
    { label: t('col_balance'), num: true, cell: (x) => { const a = accounts.get(x.account_id); return a ? moneyCell(bal(a), a.currency) : el('td.num', { text: '—' }); } },
    { label: t('col_auth_level'), num: true, key: 'authorization_level' },
    { label: t('col_active'), cell: (x) => el('td', x.active ? badge(t('yes'), 'ok') : badge(t('no'))) },
    { label: 'PIN', cell: (x) => el('td', { text: x.has_pin ? t('yes') : t('no') }) },
  ];
  async function load() {
    try {
      const r = await api('GET', '/extensions', { query: { q: q.value.trim(), limit: 200 } });
      fillRows(tbody, cols, r.extensions, { empty: t('ext_empty'), onRow: (x) => ctx.go(`#/accounts/${x.account_id}`) });
    } catch (e) { fillRows(tbody, cols, [], { empty: errText(e) }); }
  }
  let timer = 0;
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(load, 200); });
  clear(main, pageHead(t('ext_title'), t('ext_sub')),
    el('div.panel', el('div.filters', field(t('search'), q))),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'ext-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), tbody))));
  await load();
  return () => clearTimeout(timer);
}
