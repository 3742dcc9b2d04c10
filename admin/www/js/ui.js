// ui.js -- DOM helpers shared by the pages: elements, tables, money cells,
// dialogs, toasts, dates. Text always goes in as text (no innerHTML of
// data), so nothing from the API can inject markup.

import { t, currentLang } from './i18n.js';
import * as money from './money.js';

// el('div.panel#id', {attrs, on...}, children...)
export function el(spec, attrs, ...kids) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const node = document.createElement(m?.[1] || 'div');
  for (const part of (m?.[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') node.classList.add(part.slice(1)); else node.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, v);
  }
  append(node, kids);
  return node;
}

function append(node, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    node.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

export function clear(node, ...kids) { node.replaceChildren(); append(node, kids); return node; }

// A money cell: the amount right-aligned with its currency.
export function moneyCell(amount, currency, extra = '') {
  const td = el('td.num' + extra);
  if (amount == null || amount === '') { td.textContent = '—'; return td; }
  const span = el('span', { text: money.format(amount, currentLang()) });
  if (money.isNegative(amount)) span.classList.add('neg');
  td.append(span);
  if (currency) td.append(el('span.cur', { text: currency }));
  return td;
}

// An amount with its currency in small type (KPI values).
export function moneyNode(amount, currency) {
  const span = el('span', { text: amount == null ? '—' : money.format(amount, currentLang()) });
  if (amount != null && currency) span.append(el('span.cur', { text: currency }));
  return span;
}

export function numCell(v) { return el('td.num', { text: v == null ? '—' : fmtInt(v) }); }

export function fmtInt(v) {
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  return n.toLocaleString(currentLang() === 'es' ? 'es-AR' : 'en-US');
}

export function fmtMoney(amount, currency) {
  if (amount == null) return '—';
  return money.format(amount, currentLang()) + (currency ? ' ' + currency : '');
}

// Seconds -> "1:05:09" / "4:07"
export function fmtDuration(sec) {
  sec = Math.max(0, Math.floor(sec));
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  const mm = String(m).padStart(h ? 2 : 1, '0'), ss = String(s).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

// ISO string or µs / ms since the epoch -> local "2025-11-25 14:03:07"
export function fmtTime(v) {
  if (v == null || v === '') return '—';
  let d;
  if (typeof v === 'number') d = new Date(v > 1e14 ? v / 1000 : v);
  else d = new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// <input type="datetime-local"> value for a Date (local time)
export function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
// and back to unix seconds for the API ('' -> undefined)
export function inputToUnix(v) {
  if (!v) return undefined;
  const ms = new Date(v).getTime();
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

export function badge(text, kind = '') { return el('span.badge' + (kind ? '.' + kind : ''), { text }); }

// table({cols: [{key, label, num, cell(row) -> td|string}], rows, empty, onRow})
export function table({ cols, rows, empty, onRow, rowClass, id, compact }) {
  const thead = el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label }))));
  const tbody = el('tbody');
  fillRows(tbody, cols, rows, { empty, onRow, rowClass });
  return el('div.table-wrap', el('table', { id, class: compact ? 'compact' : null }, thead, tbody));
}

export function fillRows(tbody, cols, rows, { empty, onRow, rowClass } = {}) {
  tbody.replaceChildren();
  if (!rows.length) {
    tbody.append(el('tr', el('td.empty', { colspan: cols.length, text: empty || t('no_data') })));
    return;
  }
  for (const r of rows) {
    const tr = el('tr');
    if (rowClass) { const c = rowClass(r); if (c) tr.className = c; }
    for (const c of cols) {
      let v = c.cell ? c.cell(r) : r[c.key];
      if (!(v instanceof Node)) v = el('td' + (c.num ? '.num' : ''), { text: v == null || v === '' ? '—' : String(v) });
      tr.append(v);
    }
    if (onRow) {
      tr.classList.add('clickable');
      tr.tabIndex = 0;
      tr.addEventListener('click', () => onRow(r));
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target === tr) onRow(r); });
    }
    tbody.append(tr);
  }
}

export function field(label, input, id) {
  if (id) input.id = id;
  return el('div.field', el('label', { for: input.id || undefined, text: label }), input);
}

export function pageHead(title, sub, ...actions) {
  return el('div.page-head', el('div', el('h1', { text: title }), sub ? el('div.sub', { text: sub }) : null),
    el('div.actions', actions));
}

export function toast(msg, bad = false) {
  const n = el('div.toast' + (bad ? '.bad' : ''), { text: msg });
  document.getElementById('toasts').append(n);
  setTimeout(() => n.remove(), bad ? 7000 : 4000);
}

export function errText(e) {
  if (e?.status === 403) return t('err_forbidden');
  if (e?.status === 0) return t('err_network');
  return e?.message || String(e);
}

// A modal dialog with a form; resolves with the submit's result or null.
// build(form) adds the fields; submit(form) -> value (throws to keep it open).
// wide: a wider dialog (forms with rows of fields).
export function dialog({ title, build, submitLabel, submit, wide }) {
  return new Promise((resolve) => {
    const err = el('div.error', { hidden: true, role: 'alert' });
    const form = el('form', { method: 'dialog' }, el('h2', { text: title }));
    build(form);
    const ok = el('button.btn.btn-primary', { type: 'submit', text: submitLabel || t('save') });
    const cancel = el('button.btn', { type: 'button', text: t('cancel') });
    form.append(err, el('div.actions', cancel, ok));
    const d = el('dialog' + (wide ? '.wide' : ''), form);
    document.body.append(d);
    let done = false;
    const finish = (v) => { if (!done) { done = true; d.close(); d.remove(); resolve(v); } };
    cancel.addEventListener('click', () => finish(null));
    d.addEventListener('cancel', () => finish(null));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      ok.disabled = true;
      err.hidden = true;
      try {
        finish(await submit(form));
      } catch (ex) {
        err.textContent = errText(ex);
        err.hidden = false;
      } finally {
        ok.disabled = false;
      }
    });
    d.showModal();
    form.querySelector('input, select, textarea')?.focus();
  });
}

export function loading() { return el('div.empty', { text: t('loading') }); }
