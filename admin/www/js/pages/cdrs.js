// cdrs.js -- call records: filters, keyset pages (the API's opaque
// cursor; a stack of them for "previous"), CSV export of every matching
// row (GET /api/v1/cdrs.csv with the same filters: the browser downloads
// it with the session cookie).

import { api } from '../api.js';
import { t } from '../i18n.js';
import { el, clear, fillRows, moneyCell, fmtTime, fmtDuration, badge, pageHead, field, errText, localInput, inputToUnix } from '../ui.js';

// a CDR flag: a small badge, its meaning as the tooltip
function flag(text, kind, hint) {
  const b = badge(text, kind);
  b.classList.add('flag');
  b.title = hint;
  return b;
}

export async function render(main) {
  const now = new Date();
  const from = el('input', { id: 'cdr-from', type: 'datetime-local', value: localInput(new Date(now.getTime() - 7 * 86400000)) });
  const to = el('input', { id: 'cdr-to', type: 'datetime-local', value: localInput(new Date(now.getTime() + 60000)) });
  const acct = el('input.mid', { id: 'cdr-account', type: 'search', placeholder: t('code_or_id') });
  const ext = el('input.narrow', { id: 'cdr-extension', type: 'search', placeholder: '1001' });
  const callee = el('input.mid', { id: 'cdr-callee', type: 'search', placeholder: '5491*' });
  const zone = el('select', { id: 'cdr-zone' }, el('option', { value: '', text: t('all') }));
  const status = el('select', { id: 'cdr-status' }, el('option', { value: '', text: t('all') }),
    ...['answered', 'unanswered', 'refused'].map((s) => el('option', { value: s, text: t('cdr_' + s) })));
  const sort = el('select', { id: 'cdr-sort' }, el('option', { value: 'start_at', text: t('sort_newest') }),
    el('option', { value: 'cost', text: t('sort_dearest') }));
  const apply = el('button.btn.btn-primary', { id: 'cdr-apply', type: 'submit', text: t('apply') });
  const exportA = el('a.btn', { id: 'cdr-export', href: '#', download: 'cdrs.csv', text: t('export_csv') });
  const tbody = el('tbody', { id: 'cdr-body' });
  const pager = el('div.pager');
  const err = el('div.error', { hidden: true, role: 'alert' });

  let accounts = new Map(), byCode = new Map(), zones = new Map();
  try {
    const [ra, rz] = await Promise.all([api('GET', '/accounts', { query: { limit: 500 } }), api('GET', '/zones')]);
    accounts = new Map(ra.accounts.map((a) => [a.id, a]));
    byCode = new Map(ra.accounts.map((a) => [a.code.toLowerCase(), a]));
    zones = new Map(rz.zones.map((z) => [z.id, z]));
    for (const z of rz.zones) zone.append(el('option', { value: z.id, text: `${z.code} — ${z.name}` }));
  } catch (e) { /* filters by id only */ }

  const cols = [
    { label: t('col_started'), cell: (c) => el('td', { text: fmtTime(c.start_at) }) },
    { label: t('col_extension'), cell: (c) => el('td.mono', { text: c.extension || c.caller || '—' }) },
    { label: t('col_callee'), cell: (c) => el('td.mono', { text: c.callee || '—' }) },
    { label: t('col_account'), cell: (c) => el('td', { text: accounts.get(c.account_id)?.code || (c.account_id ?? '—') }) },
    { label: t('col_zone'), cell: (c) => el('td', { text: c.zone_name || zones.get(c.zone_id)?.name || '—' }) },
    { label: t('col_direction'), cell: (c) => el('td', { text: t('dir_' + c.direction) }) },
    { label: t('col_status'), cell: (c) => el('td', badge(t('cdr_' + c.status), c.status === 'answered' ? 'ok' : c.status === 'refused' ? 'bad' : ''), 
      c.estimated ? [' ', flag(t('flag_estimated'), 'warn', t('flag_estimated_hint'))] : null,
      c.unbilled ? [' ', flag(t('flag_unbilled'), 'bad', t('flag_unbilled_hint'))] : null) },
    { label: t('col_billsec'), num: true, cell: (c) => el('td.num', { text: fmtDuration(c.billsec || 0) }) },
    { label: t('col_rate'), num: true, cell: (c) => moneyCell(c.rate_per_minute) },
    { label: t('col_cost'), num: true, cell: (c) => moneyCell(c.cost, accounts.get(c.account_id)?.currency) },
    { label: t('col_cause'), cell: (c) => el('td.muted', { text: c.hangup_cause || '' }) },
  ];

  function filters() {
    const q = { from: inputToUnix(from.value), to: inputToUnix(to.value), extension: ext.value.trim(),
      callee: callee.value.trim(), zone: zone.value, status: status.value };
    const a = acct.value.trim();
    if (a) q.account = /^\d+$/.test(a) ? a : (byCode.get(a.toLowerCase())?.id ?? '0');
    return q;
  }
  function exportHref() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filters())) if (v !== undefined && v !== '') q.set(k, v);
    return '/api/v1/cdrs.csv?' + q.toString();
  }

  const cursors = [null];
  let page = 0;
  async function load() {
    err.hidden = true;
    exportA.href = exportHref();
    try {
      const r = await api('GET', '/cdrs', { query: { ...filters(), sort: sort.value, after: cursors[page], limit: 50 } });
      fillRows(tbody, cols, r.cdrs, { empty: t('cdr_empty') });
      cursors[page + 1] = r.next;
      clear(pager, el('span', { id: 'cdr-page', text: t('page_rows', { n: page + 1, rows: r.cdrs.length }) }), el('span.actions',
        el('button.btn.btn-sm', { type: 'button', text: t('prev'), disabled: page === 0, onclick: () => { page--; load(); } }),
        el('button.btn.btn-sm', { id: 'cdr-next', type: 'button', text: t('next'), disabled: !r.next, onclick: () => { page++; load(); } })));
    } catch (e) {
      err.textContent = errText(e);
      err.hidden = false;
      fillRows(tbody, cols, []);
    }
  }
  const form = el('form.filters', field(t('from'), from), field(t('to'), to), field(t('f_account'), acct),
    field(t('f_extension'), ext), field(t('col_callee'), callee), field(t('col_zone'), zone),
    field(t('col_status'), status), field(t('sort'), sort), apply);
  form.addEventListener('submit', (e) => { e.preventDefault(); page = 0; cursors.length = 1; load(); });
  form.addEventListener('change', () => { exportA.href = exportHref(); });

  clear(main, pageHead(t('cdr_title'), t('cdr_sub'), exportA),
    el('div.panel', form, err),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'cdr-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), tbody)), pager));
  await load();
}
