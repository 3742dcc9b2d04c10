// rates.js -- zones and rates: a plan's rates in force (prefix and zone
// filters, keyset pages; each rate's time-of-day period), the prefix
// search ("which rate does 5491155554444 get?", GET /api/v1/quote: the
// engine's own longest-prefix match, from shared memory), the deck CSV
// export, the zone tree (GET /api/v1/zones?tree=1: tree order, depth,
// path), the plan's time-of-day periods (GET /api/v1/periods?plan_id=;
// windows in the plan's time zone), and for admins the deck upload (a dry
// run shows the counts or every bad row, then import) and the periods'
// creation and deletion.

import { api } from '../api.js';
import { t, currentLang } from '../i18n.js';
import * as money from '../money.js';
import { el, clear, table, fillRows, moneyCell, pageHead, field, errText, fmtInt, toast, badge, dialog } from '../ui.js';

export async function render(main, ctx) {
  const [{ plans }, { zones }] = await Promise.all([api('GET', '/plans'), api('GET', '/zones', { query: { tree: 1 } })]);
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
    { label: t('col_period'), cell: (r) => el('td.period', r.period ? badge(r.period, 'info') : el('span.muted', { text: t('period_any') })) },
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
  const periods = periodsPanel(ctx, plan, plans);
  sections.push(el('div.grid.two', zoneTree(zones), periods.node));
  plan.addEventListener('change', () => periods.load());
  sections.push(el('div.panel', el('div.filters', field(t('col_prefix'), prefix), field(t('f_zone_code'), zoneF))),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'rates-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), tbody)), pager));
  clear(main, ...sections);
  await Promise.all([load(), periods.load()]);
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

// ---- the zone tree ------------------------------------------------------------
//
// A WAI-ARIA tree (flat items with aria-level, -setsize, -posinset), one
// item focusable at a time (roving tabindex): ↑ ↓ move, → opens or goes to
// the first child, ← closes or goes to the parent, Home / End, Enter and
// Space open and close. Indented by depth (a CSS variable set through the
// CSSOM: the CSP forbids style attributes, not this).
function zoneTree(zones) {
  // an older server without ?tree=1: depth 0 and by id, still listed
  const kids = new Map();
  for (const z of zones) {
    const k = z.parent_id ?? 0;
    if (!kids.has(k)) kids.set(k, []);
    kids.get(k).push(z.id);
  }
  const list = el('ul.tree', { id: 'zone-tree', role: 'tree', 'aria-label': t('zones_tree_label') });
  const items = [];
  for (const z of zones) {
    const sibs = kids.get(z.parent_id ?? 0);
    const depth = z.depth ?? 0;
    const lvl = z.min_authorization_level ?? 0;
    const li = el('li.tree-item', {
      role: 'treeitem', tabindex: -1, 'aria-level': depth + 1, 'aria-setsize': sibs.length,
      'aria-posinset': sibs.indexOf(z.id) + 1, title: z.path || z.name,
      'aria-label': `${z.code} ${z.name}, ${t('zone_level', { n: lvl })}`,
      dataset: { zone: z.code, depth },
    },
    el('span.twisty', { 'aria-hidden': 'true' }),
    el('span.code.mono', { text: z.code }),
    el('span.name', { text: z.name }),
    el('span.lvl', { title: t('zone_level_hint') }, badge(t('zone_level', { n: lvl }), lvl > 0 ? 'warn' : '')));
    li.style.setProperty('--depth', String(depth));
    if (kids.has(z.id)) li.setAttribute('aria-expanded', 'true');
    items.push(li);
  }
  if (items.length) items[0].tabIndex = 0;
  list.append(...items);

  const depthOf = (li) => Number(li.dataset.depth);
  function relayout() {
    let hideBelow = Infinity;
    for (const li of items) {
      const d = depthOf(li);
      if (d <= hideBelow) hideBelow = Infinity;
      li.hidden = d > hideBelow;
      if (!li.hidden && li.getAttribute('aria-expanded') === 'false') hideBelow = d;
    }
  }
  function focus(li) {
    if (!li) return;
    for (const x of items) x.tabIndex = -1;
    li.tabIndex = 0;
    li.focus();
  }
  const visible = () => items.filter((x) => !x.hidden);
  function parentOf(li) {
    const i = items.indexOf(li), d = depthOf(li);
    for (let j = i - 1; j >= 0; j--) if (depthOf(items[j]) < d) return items[j];
    return null;
  }
  function toggle(li, open) {
    if (!li.hasAttribute('aria-expanded')) return false;
    const now = li.getAttribute('aria-expanded') === 'true';
    const want = open ?? !now;
    if (want === now) return false;
    li.setAttribute('aria-expanded', String(want));
    relayout();
    return true;
  }
  list.addEventListener('click', (e) => {
    const li = e.target.closest('.tree-item');
    if (!li) return;
    focus(li);
    if (e.target.closest('.twisty')) toggle(li);
  });
  list.addEventListener('dblclick', (e) => { const li = e.target.closest('.tree-item'); if (li) toggle(li); });
  list.addEventListener('keydown', (e) => {
    const li = e.target.closest('.tree-item');
    if (!li) return;
    const vis = visible(), i = vis.indexOf(li);
    let handled = true;
    switch (e.key) {
      case 'ArrowDown': focus(vis[i + 1]); break;
      case 'ArrowUp': focus(vis[i - 1]); break;
      case 'Home': focus(vis[0]); break;
      case 'End': focus(vis[vis.length - 1]); break;
      case 'ArrowRight':
        if (!toggle(li, true) && li.getAttribute('aria-expanded') === 'true') focus(vis[i + 1]);
        break;
      case 'ArrowLeft':
        if (!toggle(li, false)) focus(parentOf(li));
        break;
      case 'Enter': case ' ': toggle(li); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });
  return el('div.panel', el('h2', { text: t('zones_title', { n: zones.length }) }),
    el('p.muted.small', { text: t('zones_tree_hint') }),
    items.length ? list : el('div.empty', { text: t('no_data') }));
}

// ---- time-of-day periods ----------------------------------------------------------

// Monday first; bit 0 of wday_mask is Sunday.
const WEEK = [1, 2, 3, 4, 5, 6, 0];
const DAY_KEYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const hhmm = (min) => `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;

// 0b0111110 -> "Mon–Fri"; 0b1000001 -> "Sat, Sun"; 127 -> "Every day"
export function daysText(mask) {
  if ((mask & 127) === 127) return t('days_every');
  const day = (d) => t('day_' + DAY_KEYS[d]);
  const parts = [];
  for (let i = 0; i < 7;) {
    if (!(mask & (1 << WEEK[i]))) { i++; continue; }
    let j = i;
    while (j + 1 < 7 && mask & (1 << WEEK[j + 1])) j++;
    if (j - i >= 2) parts.push(`${day(WEEK[i])}–${day(WEEK[j])}`);
    else for (let k = i; k <= j; k++) parts.push(day(WEEK[k]));
    i = j + 1;
  }
  return parts.join(', ');
}

export function windowText(w) { return `${daysText(w.wday_mask)} ${hhmm(w.start_min)}–${hhmm(w.end_min)}`; }

function periodsPanel(ctx, plan, plans) {
  const admin = ctx.can('admin');
  const sub = el('p.muted.small', { id: 'periods-tz' });
  const err = el('div.error', { id: 'period-error', role: 'alert', hidden: true });
  const tbody = el('tbody', { id: 'periods-body' });
  const cols = [
    { label: t('col_period'), cell: (p) => el('td', el('b', { text: p.name })) },
    { label: t('col_windows'), cell: (p) => el('td.windows',
      [...p.windows].sort((a, b) => a.start_min - b.start_min || a.wday_mask - b.wday_mask)
        .map((w) => el('div.window', { text: windowText(w) }))) },
  ];
  if (admin) {
    cols.push({ label: '', cell: (p) => el('td.num', el('button.btn.btn-sm.btn-danger.period-delete', {
      type: 'button', text: t('delete'), dataset: { period: p.name }, 'aria-label': t('period_delete_label', { name: p.name }),
      onclick: () => remove(p) })) });
  }
  const curPlan = () => plans.find((p) => String(p.id) === plan.value);
  async function load() {
    const p = curPlan();
    sub.textContent = t('periods_sub', { tz: p?.time_zone || 'UTC' });
    err.hidden = true;
    try {
      const r = await api('GET', '/periods', { query: { plan_id: plan.value } });
      fillRows(tbody, cols, r.periods, { empty: t('periods_empty') });
    } catch (e) { fillRows(tbody, cols, [], { empty: errText(e) }); }
  }
  async function remove(p) {
    if (!confirm(t('period_delete_confirm', { name: p.name }))) return;
    err.hidden = true;
    try {
      await api('DELETE', `/periods/${p.id}`);
      toast(t('period_deleted', { name: p.name }));
      load();
    } catch (e) {
      err.textContent = e.status === 409 ? `${t('period_in_use')} ${e.message}` : errText(e);
      err.hidden = false;
    }
  }
  const add = admin ? el('button.btn.btn-primary.btn-sm', { id: 'period-add', type: 'button', text: t('period_add'),
    onclick: async () => {
      const r = await periodDialog(curPlan() || { id: plan.value });
      if (r) { toast(t('period_created', { name: r.name })); load(); }
    } }) : null;
  const node = el('div.panel.flush', { id: 'periods-panel' },
    el('div.panel-head', el('div', el('h2', { text: t('periods_title') }), sub), add),
    err,
    el('div.table-wrap', el('table', { id: 'periods-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), tbody)));
  return { node, load };
}

// The new-period dialog: a name and one or more windows (days as
// checkboxes, start and end HH:MM; an end not after the start crosses
// midnight and the server stores two windows). Resolves with the answer.
function periodDialog(p) {
  let n = 0;
  const wins = el('div.windows-edit');
  function windowRow() {
    n++;
    const k = n;
    const days = WEEK.map((d) => el('label.check.day',
      el('input', { type: 'checkbox', name: `w${k}-${DAY_KEYS[d]}`, dataset: { day: DAY_KEYS[d] } }),
      el('span', { text: t('day_' + DAY_KEYS[d]) })));
    const time = (cls, label, ph) => field(label, el('input.hhmm.' + cls, { id: `w${k}-${cls}`, inputmode: 'numeric',
      maxlength: 5, placeholder: ph, autocomplete: 'off', required: true, pattern: '([01][0-9]|2[0-4]):[0-5][0-9]' }));
    const rm = el('button.btn.btn-sm.btn-ghost.window-remove', { type: 'button', text: t('period_remove_window') });
    const fs = el('fieldset.period-window',
      el('legend', { text: t('period_window_n', { n: wins.children.length + 1 }) }),
      el('div.days', { role: 'group', 'aria-label': t('period_days') }, days),
      el('div.filters', time('start', t('period_start'), '22:00'), time('end', t('period_end'), '07:00'), rm));
    rm.addEventListener('click', () => { fs.remove(); renumber(); });
    wins.append(fs);
    renumber();
    return fs;
  }
  function renumber() {
    const all = [...wins.querySelectorAll('fieldset.period-window')];
    all.forEach((fs, i) => {
      fs.querySelector('legend').textContent = t('period_window_n', { n: i + 1 });
      fs.querySelector('.window-remove').hidden = all.length < 2;
    });
  }
  const addWin = el('button.btn.btn-sm', { id: 'period-add-window', type: 'button', text: t('period_add_window') });
  addWin.addEventListener('click', () => windowRow().querySelector('input')?.focus());
  return dialog({
    title: t('period_add'), submitLabel: t('create'), wide: true,
    build(form) {
      windowRow();
      form.append(
        field(t('col_name'), el('input', { id: 'period-name', name: 'name', required: true, maxlength: 64, autocomplete: 'off', placeholder: t('period_name_ph') })),
        el('p.muted.small', { text: t('periods_sub', { tz: p.time_zone || 'UTC' }) }),
        wins, el('div', addWin),
        el('p.muted.small', { text: t('period_midnight_hint') }));
    },
    async submit(form) {
      const windows = [];
      const re = /^([01]\d|2[0-4]):[0-5]\d$/;
      [...wins.querySelectorAll('fieldset.period-window')].forEach((fs, i) => {
        const days = [...fs.querySelectorAll('input[data-day]:checked')].map((x) => x.dataset.day);
        const start = fs.querySelector('input.start').value.trim(), end = fs.querySelector('input.end').value.trim();
        if (!days.length) throw new Error(t('period_no_days', { n: i + 1 }));
        if (!re.test(start) || !re.test(end) || start === '24:00' || (end.startsWith('24') && end !== '24:00')) {
          throw new Error(t('period_bad_time', { n: i + 1 }));
        }
        windows.push({ days, start, end });
      });
      const name = form.elements.name.value.trim();
      try {
        return { ...((await api('POST', '/periods', { body: { plan_id: Number(p.id), name, windows } })) || {}), name };
      } catch (e) {
        if (e.status === 422 && /overlap/i.test(e.message)) throw new Error(`${t('period_overlap')} (${e.message})`);
        if (e.status === 409) throw new Error(`${t('period_name_taken', { name })} (${e.message})`);
        throw e;
      }
    },
  });
}
