// bulk.js -- bulk recharges from a CSV or XLSX file (POST
// /api/v1/recharges/bulk): the file is checked first (dry_run=true: every
// row's validation, nothing moves), the preview shows each row's status,
// then the operator chooses "all or none" (mode=all) or "the valid rows"
// (mode=valid) and the same file is sent again with a new Idempotency-Key.

import { api, newKey } from '../api.js';
import { t } from '../i18n.js';
import { el, clear, table, moneyCell, badge, pageHead, field, errText, fmtTime, fmtMoney, fmtInt } from '../ui.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

function typeOf(file) {
  return /\.xlsx$/i.test(file.name) ? XLSX : 'text/csv';
}

const STATUS_KIND = { valid: 'ok', applied: 'ok', invalid: 'bad', failed: 'bad', skipped: 'warn' };

export async function render(main) {
  const file = el('input', { id: 'bulk-file', type: 'file', accept: '.csv,.xlsx,text/csv,' + XLSX });
  const check = el('button.btn.btn-primary', { id: 'bulk-check', type: 'button', text: t('bulk_check'), disabled: true });
  const steps = el('div.steps');
  const out = el('div', { id: 'bulk-result' });
  let preview = null;
  let busy = false;

  function drawSteps(n) {
    clear(steps, [t('bulk_step1'), t('bulk_step2'), t('bulk_step3')].map((s, i) => el('span' + (i === n ? '.on' : ''), { text: `${i + 1}. ${s}` })));
  }
  drawSteps(0);
  file.addEventListener('change', () => { check.disabled = !file.files.length; preview = null; clear(out); drawSteps(0); });

  async function send(query, headers) {
    const f = file.files[0];
    return api('POST', '/recharges/bulk', { query, raw: f, headers: { 'Content-Type': typeOf(f), ...headers }, withStatus: true });
  }

  function summary(b) {
    const k = (label, v, idn) => el('div.kpi', el('div.label', { text: label }), el('div.value', { id: idn, text: v }));
    return el('div.result-card',
      k(t('bulk_rows'), fmtInt(b.rows_total), 'bulk-total'),
      k(t('bulk_valid'), fmtInt(b.rows_valid), 'bulk-valid'),
      k(t('bulk_invalid'), fmtInt(b.rows_invalid), 'bulk-invalid'),
      b.rows_applied != null && b.state !== 'preview' ? k(t('bulk_applied'), fmtInt(b.rows_applied), 'bulk-applied') : null,
      k(t('bulk_total'), fmtMoney(b.total_amount), 'bulk-amount'));
  }

  function rowsTable(rows, applied) {
    const cols = [
      { label: t('col_line'), num: true, key: 'line' },
      { label: t('col_account'), cell: (r) => el('td', r.account_id ? el('a', { href: `#/accounts/${r.account_id}`, text: r.account }) : (r.account || '—')) },
      { label: t('amount'), num: true, cell: (r) => moneyCell(r.amount) },
      { label: t('reason'), cell: (r) => el('td.wrap', { text: r.reason || '—' }) },
      { label: t('col_status'), cell: (r) => el('td', badge(t('row_' + r.status), STATUS_KIND[r.status] || '')) },
      { label: t('col_error'), cell: (r) => el('td.wrap', { class: 'wrap row-error', text: r.error || '' }) },
    ];
    if (applied) cols.push({ label: t('col_balance_after'), num: true, cell: (r) => moneyCell(r.balance_after) });
    return table({ id: 'bulk-rows', cols, rows, rowClass: (r) => (r.status === 'invalid' || r.status === 'failed' ? 'row-invalid' : '') });
  }

  check.addEventListener('click', async () => {
    if (busy) return;
    busy = true; check.disabled = true;
    clear(out, el('div.panel', { text: t('loading') }));
    try {
      const { data } = await send({ mode: 'valid', dry_run: 'true' });
      preview = data;
      drawPreview();
    } catch (e) {
      showError(e);
    } finally {
      busy = false; check.disabled = !file.files.length;
    }
  });

  function showError(e) {
    const b = e.body;
    if (b && b.batch && b.rows) {  // 422: the rows say why
      drawResult(b, true);
      return;
    }
    clear(out, el('div.panel', el('div.error', { id: 'bulk-error', role: 'alert', text: errText(e) })));
  }

  function drawPreview() {
    drawSteps(1);
    const b = preview.batch;
    const allBtn = el('button.btn', { id: 'bulk-apply-all', type: 'button', text: t('bulk_apply_all'), disabled: b.rows_invalid > 0 || b.rows_valid === 0 });
    const validBtn = el('button.btn.btn-primary', { id: 'bulk-apply-valid', type: 'button', text: t('bulk_apply_valid', { n: b.rows_valid }), disabled: b.rows_valid === 0 });
    allBtn.addEventListener('click', () => apply('all'));
    validBtn.addEventListener('click', () => apply('valid'));
    clear(out,
      el('div.panel', el('h2', { text: t('bulk_preview') }),
        b.rows_invalid > 0 ? el('div.error', { id: 'bulk-invalid-note', role: 'alert', text: t('bulk_has_invalid', { n: b.rows_invalid }) })
          : el('div.notice', { text: t('bulk_all_valid') }),
        summary(b),
        el('div.actions', { style: null }, allBtn, validBtn)),
      el('div.panel.flush', rowsTable(preview.rows, false)));
  }

  async function apply(mode) {
    if (busy) return;
    busy = true;
    for (const b of out.querySelectorAll('button')) b.disabled = true;
    try {
      const { data } = await send({ mode }, { 'Idempotency-Key': newKey() });
      drawResult(data, false);
    } catch (e) {
      showError(e);
    } finally {
      busy = false;
    }
  }

  function drawResult(data, rejected) {
    drawSteps(2);
    const b = data.batch;
    const note = rejected || b.state === 'rejected'
      ? el('div.error', { id: 'bulk-outcome', role: 'alert', text: t('bulk_rejected') })
      : el('div.notice', { id: 'bulk-outcome', text: t('bulk_done', { n: b.rows_applied ?? 0, state: t('batch_' + b.state) }) });
    clear(out,
      el('div.panel', el('h2', { text: t('bulk_result') }), note, summary(b),
        el('div.muted', { text: `${t('batch')} #${b.id ?? '—'} · ${fmtTime(b.created_at)}` })),
      el('div.panel.flush', rowsTable(data.rows, true)));
  }

  clear(main,
    pageHead(t('bulk_title'), t('bulk_sub')),
    el('div.panel', steps,
      el('div.filters', field(t('bulk_file'), file), check),
      el('p.muted', { text: t('bulk_format') })),
    out);
}
