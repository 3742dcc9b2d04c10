// stats.js -- statistics drawn with ../chart.js: revenue and minutes per
// day, revenue per zone, ASR / ACD per day, top accounts, top
// destinations. Totals are summed as decimal strings (money.add), never
// floats; the charts use numbers for geometry only.

import { api } from '../api.js';
import { t, currentLang } from '../i18n.js';
import * as money from '../money.js';
import * as chart from '../chart.js';
import { el, clear, table, moneyCell, moneyNode, numCell, pageHead, field, errText, fmtInt, localInput, inputToUnix } from '../ui.js';

export async function render(main) {
  const days = el('select', { id: 'stats-range' },
    el('option', { value: '1', text: t('last_24h') }), el('option', { value: '7', text: t('last_7d') }),
    el('option', { value: '30', text: t('last_30d') }));
  days.value = '7';
  const acct = el('select', { id: 'stats-account' }, el('option', { value: '', text: t('all_accounts') }));
  const body = el('div');
  let accounts = new Map(), zones = new Map();
  try {
    const rz = await api('GET', '/zones');
    zones = new Map(rz.zones.map((z) => [String(z.id), z]));
  } catch (e) { /* ids only */ }
  const zoneName = (id, name) => name || zones.get(String(id))?.name || (id == null ? '—' : `#${id}`);
  try {
    const r = await api('GET', '/accounts', { query: { limit: 500 } });
    accounts = new Map(r.accounts.map((a) => [String(a.id), a]));
    for (const a of r.accounts) acct.append(el('option', { value: a.id, text: `${a.code} — ${a.name}` }));
  } catch (e) { /* */ }

  async function load() {
    const now = new Date();
    const to = inputToUnix(localInput(new Date(now.getTime() + 60000)));
    const from = to - Number(days.value) * 86400;
    const q = { from, to, account: acct.value };
    clear(body, el('div.panel', { text: t('loading') }));
    let day, zone, byAcct, quality, qDay, top;
    try {
      [day, zone, byAcct, quality, qDay, top] = await Promise.all([
        api('GET', '/stats/revenue', { query: { ...q, group: 'day' } }),
        api('GET', '/stats/revenue', { query: { ...q, group: 'zone' } }),
        api('GET', '/stats/revenue', { query: { ...q, group: 'account' } }),
        api('GET', '/stats/quality', { query: q }),
        api('GET', '/stats/quality', { query: { ...q, group: 'day' } }),
        api('GET', '/stats/top-destinations', { query: { ...q, by: 'prefix', limit: 10 } }),
      ]);
    } catch (e) {
      clear(body, el('div.panel', el('div.error', { text: errText(e) })));
      return;
    }
    const L = currentLang();
    const cur = accounts.get(acct.value)?.currency || [...accounts.values()][0]?.currency || '';
    const revenue = money.add(...day.rows.map((r) => r.revenue));
    const calls = day.rows.reduce((s, r) => s + Number(r.calls), 0);
    const seconds = day.rows.reduce((s, r) => s + Number(r.seconds), 0);
    const q0 = quality.rows[0] || {};
    const kpi = (label, v, idn) => el('div.kpi', el('div.label', { text: label }), el('div.value', { id: idn }, v));
    const dayLabels = day.rows.map((r) => (r.key || '').slice(5, 10));
    const cRev = el('div'), cMin = el('div'), cZone = el('div'), cQual = el('div'), cTop = el('div');
    const panel = (title, c) => el('div.panel', el('h2', { text: title }), c);

    clear(body,
      el('div.grid.kpis',
        kpi(t('stat_revenue'), moneyNode(revenue, cur), 'stat-revenue'),
        kpi(t('stat_calls'), fmtInt(calls), 'stat-calls'),
        kpi(t('stat_minutes'), fmtInt(Math.round(seconds / 60)), 'stat-minutes'),
        kpi('ASR', q0.asr != null ? `${(Number(q0.asr) * 100).toFixed(1)} %` : '—', 'stat-asr'),
        kpi('ACD', q0.acd_seconds != null ? `${Number(q0.acd_seconds).toFixed(0)} s` : '—', 'stat-acd')),
      el('div.grid.two',
        panel(t('chart_revenue_day'), cRev),
        panel(t('chart_minutes_day'), cMin),
        panel(t('chart_revenue_zone'), cZone),
        panel(t('chart_quality'), cQual),
        panel(t('chart_top_accounts'), cTop),
        el('div.panel.flush', el('h2', { text: t('top_destinations') }), table({
          id: 'top-dest',
          cols: [
            { label: t('col_prefix'), cell: (r) => el('td.mono', { text: r.prefix || '—' }) },
            { label: t('col_zone'), cell: (r) => el('td', { text: zoneName(r.zone_id, r.zone_name) }) },
            { label: t('stat_calls'), num: true, cell: (r) => numCell(r.calls) },
            { label: t('stat_minutes'), num: true, cell: (r) => el('td.num', { text: money.format(r.minutes, L, 0) }) },
            { label: t('stat_revenue'), num: true, cell: (r) => moneyCell(r.revenue, cur) },
          ],
          rows: top.rows, empty: t('no_data'),
        }))));
    const none = t('no_data');
    chart.bars(cRev, { title: t('chart_revenue_day'), labels: dayLabels, emptyText: none,
      series: [{ name: t('stat_revenue'), values: day.rows.map((r) => money.toNumber(r.revenue)), fmt: (i) => `${money.format(day.rows[i].revenue, L)} ${cur}` }] });
    chart.lines(cMin, { title: t('chart_minutes_day'), labels: dayLabels, emptyText: none,
      series: [{ name: t('stat_minutes'), values: day.rows.map((r) => Number(r.minutes)), fmt: (i) => day.rows[i].minutes },
        { name: t('stat_calls'), values: day.rows.map((r) => Number(r.calls)), right: true }] });
    const zs = [...zone.rows].sort((a, b) => money.cmp(b.revenue, a.revenue)).slice(0, 10);
    chart.hbars(cZone, { title: t('chart_revenue_zone'), labels: zs.map((r) => zoneName(r.key, r.name)), emptyText: none,
      values: zs.map((r) => money.toNumber(r.revenue)), fmt: (i) => `${money.format(zs[i].revenue, L)} ${cur}` });
    chart.lines(cQual, { title: t('chart_quality'), labels: qDay.rows.map((r) => (r.key || '').slice(5, 10)), emptyText: none,
      series: [{ name: 'ASR %', values: qDay.rows.map((r) => Number(r.asr) * 100), fmt: (i) => `${(Number(qDay.rows[i].asr) * 100).toFixed(1)} %` },
        { name: 'ACD s', values: qDay.rows.map((r) => Number(r.acd_seconds)), right: true, fmt: (i) => `${qDay.rows[i].acd_seconds} s` }] });
    const ta = [...byAcct.rows].sort((a, b) => money.cmp(b.revenue, a.revenue)).slice(0, 10);
    chart.hbars(cTop, { title: t('chart_top_accounts'), emptyText: none,
      labels: ta.map((r) => accounts.get(String(r.key))?.code || r.name || `#${r.key}`),
      values: ta.map((r) => money.toNumber(r.revenue)), fmt: (i) => `${money.format(ta[i].revenue, L)} ${cur}` });
  }
  days.addEventListener('change', load);
  acct.addEventListener('change', load);
  clear(main, pageHead(t('stats_title'), t('stats_sub')),
    el('div.panel', el('div.filters', field(t('range'), days), field(t('col_account'), acct))), body);
  await load();
}
