// live.js -- the calls in progress, over the WebSocket /ws (admin/ws.h):
// a snapshot, then call_start / call_answer / call_update / call_end and a
// tick every second. Calls are kept by call_id (an event may repeat what
// the snapshot held). Each event is drawn in the next animation frame;
// the time from the server's detection ("at", µs) to the frame is kept
// (window.apoloLiveLatency) and shown as the event-to-screen latency.

import { api } from '../api.js';
import { t } from '../i18n.js';
import { el, clear, fillRows, moneyCell, fmtDuration, fmtTime, fmtMoney, badge, pageHead, field } from '../ui.js';

const ENDED_SHOWN_MS = 1200;   // an ended call stays, struck through, this long

export async function render(main) {
  const calls = new Map();            // call_id -> call
  const ended = new Map();            // call_id -> ms when it ended
  const flashed = new Set();          // call_ids to highlight once
  const lat = [];                     // last latencies (ms)
  let pending = [];                   // "at" of events not drawn yet
  let ws = null, closed = false, retry = null, frame = 0, tick = null;
  let accounts = new Map();           // id -> {code, currency}
  let lastAcctFetch = 0;

  const kActive = el('div.value', { id: 'kpi-active', text: '0' });
  const kCps = el('div.value', { id: 'kpi-cps', text: '0' });
  const kRev = el('div.value', { id: 'kpi-revenue', text: fmtMoney('0') });
  const kLat = el('div.value', { id: 'kpi-latency', text: '—' });
  const conn = el('span', el('span.dot'), t('live_connecting'));
  const kpi = (label, v, hint) => el('div.kpi', el('div.label', { text: label }), v, hint ? el('div.hint', { text: hint }) : null);

  const fExt = el('input.mid', { id: 'f-ext', type: 'search', placeholder: '1001' });
  const fAcct = el('input.mid', { id: 'f-account', type: 'search' });
  const fZone = el('input.mid', { id: 'f-zone', type: 'search' });
  const fDur = el('input.narrow', { id: 'f-duration', type: 'number', min: 0, step: 1, placeholder: '0' });
  for (const f of [fExt, fAcct, fZone, fDur]) f.addEventListener('input', () => draw());

  const cols = [
    { label: t('col_state'), cell: (c) => el('td', stateBadge(c)) },
    { label: t('col_extension'), cell: (c) => el('td', { class: 'mono', text: c.extension || c.caller || '—' }) },
    { label: t('col_callee'), cell: (c) => el('td', { class: 'mono', text: c.callee || '—' }) },
    { label: t('col_account'), cell: (c) => el('td', { text: acctName(c.account_id) }) },
    { label: t('col_zone'), key: 'zone' },
    { label: t('col_started'), cell: (c) => el('td', { text: fmtTime(c.start).slice(11) }) },
    { label: t('col_duration'), num: true, cell: (c) => el('td.num', { class: 'num dur', text: fmtDuration(talkSeconds(c)) }) },
    { label: t('col_max'), num: true, cell: (c) => el('td.num', { text: c.max_seconds ? fmtDuration(c.max_seconds) : '—' }) },
    { label: t('col_reserved'), num: true, cell: (c) => moneyCell(c.reserved, accounts.get(c.account_id)?.currency) },
    { label: t('col_flags'), cell: (c) => el('td', flagBadges(c)) },
  ];
  const tbody = el('tbody', { id: 'live-body' });
  const count = el('span.muted', { id: 'live-count' });

  clear(main,
    pageHead(t('live_title'), t('live_sub'), conn),
    el('div.grid.kpis',
      kpi(t('kpi_active'), kActive),
      kpi(t('kpi_cps'), kCps),
      kpi(t('kpi_revenue'), kRev, t('kpi_revenue_hint')),
      kpi(t('kpi_latency'), kLat, t('kpi_latency_hint'))),
    el('div.panel', el('div.filters',
      field(t('f_extension'), fExt), field(t('f_account'), fAcct),
      field(t('f_zone'), fZone), field(t('f_min_duration'), fDur), count)),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'live-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))),
      tbody))));

  function stateBadge(c) {
    if (ended.has(c.call_id)) return badge(t('state_ended'));
    if (c.state === 'answered') return badge(t('state_answered'), 'ok');
    if (c.state === 'final') return badge(t('state_ended'));
    return badge(t('state_ringing'), 'info');
  }
  function flagBadges(c) {
    const f = c.flags || {};
    return [f.low_balance ? badge(t('flag_low'), 'warn') : null,
      f.cut_scheduled ? badge(t('flag_cut'), 'bad') : null,
      f.estimated ? badge(t('flag_estimated')) : null];
  }
  function talkSeconds(c) {
    const from = c.answer || c.start;
    if (!from) return c.seconds || 0;
    return Math.max(c.seconds || 0, (Date.now() * 1000 - from) / 1e6);
  }
  function acctName(id) {
    if (id == null) return '—';
    const a = accounts.get(id);
    if (!a) { loadAccounts(); return '#' + id; }
    return a.code;
  }
  async function loadAccounts() {
    if (Date.now() - lastAcctFetch < 5000) return;
    lastAcctFetch = Date.now();
    try {
      const r = await api('GET', '/accounts', { query: { limit: 500 } });
      accounts = new Map(r.accounts.map((a) => [a.id, { code: a.code, currency: a.currency }]));
      draw();
    } catch (e) { /* names stay ids */ }
  }

  function visible(c) {
    const ext = fExt.value.trim(), ac = fAcct.value.trim().toLowerCase(), z = fZone.value.trim().toLowerCase();
    const d = Number(fDur.value || 0);
    if (ext && !(c.extension || '').startsWith(ext) && !(c.caller || '').startsWith(ext)) return false;
    if (ac) {
      const a = accounts.get(c.account_id);
      if (!(String(c.account_id) === ac || (a && a.code.toLowerCase().includes(ac)))) return false;
    }
    if (z && !(c.zone || '').toLowerCase().includes(z)) return false;
    if (d > 0 && talkSeconds(c) < d) return false;
    return true;
  }

  function draw() {
    const rows = [...calls.values()].filter(visible).sort((a, b) => (b.start || 0) - (a.start || 0));
    fillRows(tbody, cols, rows, {
      empty: t('live_empty'),
      rowClass: (c) => [ended.has(c.call_id) ? 'ending' : '', flashed.has(c.call_id) ? 'flash' : ''].join(' ').trim(),
    });
    [...tbody.rows].forEach((tr, i) => { if (rows[i]) tr.dataset.callId = rows[i].call_id; });
    flashed.clear();
    count.textContent = t('live_count', { shown: rows.length, total: calls.size });
  }

  // Draw in the next frame; the latency of each event is measured there.
  function schedule(at) {
    if (at) pending.push(at);
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      draw();
      const now = Date.now();
      for (const a of pending) lat.push(now - a / 1000);
      pending = [];
      while (lat.length > 200) lat.shift();
      if (lat.length) {
        const sorted = [...lat].sort((x, y) => x - y);
        const p50 = sorted[Math.floor(sorted.length / 2)];
        kLat.textContent = `${Math.max(0, p50).toFixed(0)} ms`;
        window.apoloLiveLatency = { p50, max: sorted[sorted.length - 1], n: sorted.length };
      }
    });
  }

  function endCall(id) {
    if (!calls.has(id) || ended.has(id)) return;
    ended.set(id, Date.now());
    setTimeout(() => { calls.delete(id); ended.delete(id); schedule(); }, ENDED_SHOWN_MS);
  }

  function onMessage(m) {
    switch (m.type) {
      case 'snapshot':   // not an event: no latency measured
        calls.clear(); ended.clear();
        for (const c of m.calls || []) calls.set(c.call_id, c);
        kActive.textContent = String(calls.size);
        schedule();
        return;
      case 'call_start': case 'call_answer': case 'call_update':
        if (m.call) {
          if (!calls.has(m.call.call_id) || m.type === 'call_answer') flashed.add(m.call.call_id);
          calls.set(m.call.call_id, m.call);
          ended.delete(m.call.call_id);
        }
        break;
      case 'call_end':
        if (m.call && calls.has(m.call_id)) calls.set(m.call_id, m.call);
        endCall(m.call_id);
        break;
      case 'tick':
        kActive.textContent = String(m.active ?? calls.size);
        kCps.textContent = String(m.cps ?? 0);
        kRev.textContent = fmtMoney(m.revenue_per_min ?? '0');
        return;
      default:
        return;
    }
    kActive.textContent = String(calls.size - ended.size);
    schedule(m.at);
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(`${proto}//${location.host}/ws`);
    ws.onopen = () => clear(conn, el('span.dot.on'), t('live_connected'));
    ws.onmessage = (ev) => { try { onMessage(JSON.parse(ev.data)); } catch (e) { /* bad frame */ } };
    ws.onclose = () => {
      if (closed) return;
      clear(conn, el('span.dot.off'), t('live_reconnecting'));
      // an ended session refuses the upgrade: /me then answers 401 and
      // the shell shows the login page (and this page's cleanup runs)
      api('GET', '/me').catch(() => {});
      retry = setTimeout(connect, 2000);
    };
  }

  loadAccounts();
  connect();
  draw();
  // durations move every second without an event
  tick = setInterval(() => {
    const rows = [...tbody.rows];
    for (const tr of rows) {
      const c = calls.get(tr.dataset.callId);
      const td = tr.querySelector('td.dur');
      if (c && td && !ended.has(c.call_id)) td.textContent = fmtDuration(talkSeconds(c));
    }
    if (Number(fDur.value || 0) > 0) draw();
  }, 1000);

  return () => {
    closed = true;
    clearTimeout(retry);
    clearInterval(tick);
    if (frame) cancelAnimationFrame(frame);
    if (ws) ws.close();
  };
}
