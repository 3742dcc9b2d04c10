// rates.js -- zones and rates: a plan's rates in force (prefix and zone
// filters, keyset pages), the prefix search ("which rate does
// 5491155554444 get?", GET /api/v1/quote: the engine's own longest-prefix
// match, from shared memory), the deck CSV export, and for admins the
// deck upload: a dry run shows the counts or every bad row, then import.

import { api } from '../api.js';
import { t, currentLang } from '../i18n.js';
import * as money from '../money.js';
import { el, clear, table, fillRows, moneyCell, pageHead, field, errText, fmtInt, toast } from '../ui.js';

export async function render(main, ctx) {
  const [{ plans }, { zones }] = await Promise.all([api('GET', '/plans'), api('GET', '/zones')]);
  const plan = el('select', { id: 'plan' }, plans.map((p) => el('option', { value: p.id, text: `${p.name} (${p.currency})` })));
  const prefix = el('input.mid', { id: 'rate-prefix', type: 'search', placeholder: '549' });
  const zoneF = el('input.mid', { id: 'rate-zone', type: 'search', placeholder: 'AR-MOB' });
  const number = el('input', { id: 'quote-number', type: 'search', inputmode: 'tel', placeholder: '5491155554444', size: 20 });
  const secs = el('input.narrow', { id: 'quote-seconds', type: 'number', min: 0, value: 60 });
  const quoteBtn = el('button.btn.btn-primary', { id: 'quote-submit', type: 'submit', text: t('quote_submit') });
  const quoteOut = el('div', { id: 'quote-result' });
  const tbody = el('tbody', { id: 'rates-body' });
  const pager = el('div.pager');
  const deckLink = el('a.btn', { id: 'deck-export', download: 'deck.csv', text: t('deck_export') });
  const cur = () => plans.find((p) => String(p.id) === plan.value)?.currency || '';
  const L = currentLang();

  const cols = [
    { label: t('col_prefix'), cell: (r) => el('td.mono', { text: r.prefix }) },
    { label: t('col_zone'), cell: (r) => el('td', { text: r.zone || '—' }) },
    { label: t('col_rate'), num: true, cell: (r) => moneyCell(r.rate_per_minute, cur()) },
    { label: t('col_conn_fee'), num: true, cell: (r) => moneyCell(r.connection_fee, cur()) },
    { label: t('col_increments'), num: true, cell: (r) => el('td.num', { text: `${r.first_increment}/${r.next_increment}` }) },
    { label: t('col_min_grace'), num: true, cell: (r) => el('td.num', { text: `${r.min_seconds || 0}/${r.grace_seconds || 0}` }) },
    { label: t('col_effective'), cell: (r) => el('td', { text: `${(r.effective_from || '').slice(0, 10)} → ${(r.effective_to || '').slice(0, 10) || '∞'}` }) },
    { label: t('col_deck'), num: true, key: 'deck_version' },
  ];
  const cursors = [null];
  let page = 0;
  async function load() {
    deckLink.href = `/api/v1/plans/${plan.value}/deck.csv`;
    try {
      const r = await api('GET', `/plans/${plan.value}/rates`, { query: { prefix: prefix.value.trim(), zone: zoneF.value.trim(), after: cursors[page], limit: 100 } });
      fillRows(tbody, cols, r.rates, { empty: t('rates_empty') });
      cursors[page + 1] = r.next;
      clear(pager, el('span', { text: t('page_n', { n: page + 1 }) }), el('span.actions',
        el('button.btn.btn-sm', { type: 'button', text: t('prev'), disabled: page === 0, onclick: () => { page--; load(); } }),
        el('button.btn.btn-sm', { type: 'button', text: t('next'), disabled: !r.next, onclick: () => { page++; load(); } })));
    } catch (e) { fillRows(tbody, cols, [], { empty: errText(e) }); }
  }
  let timer = 0;
  const reload = () => { clearTimeout(timer); timer = setTimeout(() => { page = 0; cursors.length = 1; load(); }, 200); };
  prefix.addEventListener('input', reload);
  zoneF.addEventListener('input', reload);
  plan.addEventListener('change', reload);

  const quoteForm = el('form.filters', field(t('quote_number'), number), field(t('quote_seconds'), secs), quoteBtn);
  quoteForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const n = number.value.replace(/[^\d+]/g, '');
    if (!n) return;
    try {
      const q = await api('GET', '/quote', { query: { number: n, seconds: secs.value || 60, plan: plan.value } });
      const tf = q.tariff || q;
      const c = q.currency || cur();
      const kv = (label, v, idn) => el('div.kpi', el('div.label', { text: label }), el('div.value', { id: idn, text: v }));
      clear(quoteOut, el('div.result-card',
        kv(t('col_prefix'), q.prefix, 'quote-prefix'),
        kv(t('col_zone'), q.zone, 'quote-zone'),
        kv(t('col_rate'), `${money.format(tf.rate_per_minute, L)} ${c}`, 'quote-rate'),
        kv(t('quote_cost', { s: q.seconds }), `${money.format(q.cost, L)} ${c}`, 'quote-cost')),
        el('p.muted', { text: t('quote_trace', { inc: `${tf.first_increment}/${tf.next_increment}`, rounded: q.rounded_seconds, rounding: q.rounding, deck: q.deck_version, plan: q.plan_name || q.plan_id }) }));
    } catch (ex) {
      clear(quoteOut, el('div.error', { id: 'quote-error', role: 'alert', text: ex.code === 'no_rate' ? t('quote_no_rate', { n }) : errText(ex) }));
    }
  });

  const sections = [
    pageHead(t('rates_title'), t('rates_sub'), field(t('plan'), plan), deckLink),
    el('div.panel', el('h2', { text: t('quote_title') }), quoteForm, quoteOut),
  ];
  if (ctx.can('admin')) sections.push(deckPanel(plan, cur, () => reload()));
  const byId = new Map(zones.map((z) => [z.id, z]));
  const zoneList = el('details.panel', el('summary', el('h2.inline', { text: t('zones_title', { n: zones.length }) })),
    table({ id: 'zones-table', cols: [
      { label: t('col_code'), cell: (z) => el('td.mono', { text: z.code }) },
      { label: t('col_name'), key: 'name' },
      { label: t('zone_parent'), cell: (z) => el('td', { text: byId.get(z.parent_id)?.code || '—' }) },
      { label: t('col_auth_level'), num: true, key: 'min_authorization_level' },
    ], rows: zones }));
  sections.push(zoneList);
  sections.push(el('div.panel', el('div.filters', field(t('col_prefix'), prefix), field(t('f_zone_code'), zoneF))),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'rates-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), tbody)), pager));
  clear(main, ...sections);
  await load();
  return () => clearTimeout(timer);
}

function deckPanel(plan, cur, reload) {
  const file = el('input', { id: 'deck-file', type: 'file', accept: '.csv,text/csv' });
  const createZones = el('input', { id: 'deck-create-zones', type: 'checkbox' });
  const check = el('button.btn', { id: 'deck-check', type: 'button', text: t('deck_check'), disabled: true });
  const out = el('div', { id: 'deck-report' });
  file.addEventListener('change', () => { check.disabled = !file.files.length; clear(out); });

  const post = (dry) => api('POST', `/plans/${plan.value}/deck`, {
    query: { dry_run: dry ? 1 : undefined, create_zones: createZones.checked ? 1 : undefined },
    raw: file.files[0], headers: { 'Content-Type': 'text/csv' } });
  const counts = (r) => {
    const k = (label, v) => el('div.kpi', el('div.label', { text: label }), el('div.value', { text: fmtInt(v ?? 0) }));
    return el('div.result-card', k(t('deck_rows'), r.rows), k(t('deck_new'), r.new), k(t('deck_changed'), r.changed),
      k(t('deck_closed'), r.closed), k(t('deck_unchanged'), r.unchanged));
  };
  function bad(e) {
    const rows = e.body?.error?.rows;
    clear(out, el('div.error', { id: 'deck-error', role: 'alert', text: rows ? t('deck_bad_rows', { n: e.body.error.bad_rows ?? rows.length }) : errText(e) }),
      rows ? table({ id: 'deck-bad-rows', compact: true, cols: [
        { label: t('col_line'), num: true, key: 'line' },
        { label: t('col_error'), cell: (r) => el('td.wrap', { text: r.error }) }], rows }) : null);
  }
  check.addEventListener('click', async () => {
    try {
      const r = await post(true);
      const importBtn = el('button.btn.btn-primary', { id: 'deck-import', type: 'button', text: t('deck_import') });
      importBtn.addEventListener('click', async () => {
        importBtn.disabled = true;
        try {
          const d = await post(false);
          clear(out, el('div.notice', { id: 'deck-done', text: t('deck_done', { v: d.deck_version }) }), counts(d),
            d.warning ? el('div.error', { text: d.warning }) : null);
          toast(t('deck_done', { v: d.deck_version }));
          reload();
        } catch (e) { bad(e); }
      });
      clear(out, el('div.notice', { id: 'deck-ok', text: t('deck_dry_ok') }), counts(r),
        (r.zones_created || []).length ? el('p.muted', { text: t('deck_zones_created', { z: r.zones_created.join(', ') }) }) : null,
        el('div.actions', importBtn));
    } catch (e) { bad(e); }
  });
  return el('div.panel', el('h2', { text: t('deck_title') }),
    el('div.filters', field(t('deck_file'), file),
      el('label.check', createZones, el('span', { text: t('deck_create_zones') })), check),
    el('p.muted', { text: t('deck_format') }), out);
}
