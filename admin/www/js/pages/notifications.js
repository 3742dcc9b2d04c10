// notifications.js -- the notifications outbox (GET /api/v1/notifications:
// operators and admins; the navigation hides it from viewers, the API
// answers them 403): newest first, filters state and kind, keyset pages
// ("older", next_before). Admins can queue a test message on every
// configured channel (POST /api/v1/notifications/test; 422 when none is).

import { api } from '../api.js';
import { t } from '../i18n.js';
import { el, clear, fillRows, fmtTime, badge, pageHead, field, errText, toast } from '../ui.js';

const STATES = ['pending', 'sent', 'failed'];

// a known kind in the reader's language, else the kind as the API has it
function kindText(k) {
  const s = t('notif_kind_' + k);
  return s === 'notif_kind_' + k ? k : s;
}

export async function render(main, ctx) {
  const state = el('select', { id: 'notif-state' }, el('option', { value: '', text: t('all') }),
    ...STATES.map((s) => el('option', { value: s, text: t('notif_state_' + s) })));
  const kind = el('input.mid', { id: 'notif-kind', type: 'search', placeholder: 'low_balance', autocomplete: 'off' });
  const tbody = el('tbody', { id: 'notif-body' });
  const more = el('button.btn.btn-sm', { type: 'button', id: 'notif-older', text: t('older'), hidden: true });
  const err = el('div.error', { id: 'notif-error', role: 'alert', hidden: true });
  const rows = [];
  let before = null;

  let accounts = new Map();
  try {
    const r = await api('GET', '/accounts', { query: { limit: 500 } });
    accounts = new Map(r.accounts.map((a) => [a.id, a]));
  } catch (e) { /* ids only */ }

  const stateBadge = (s) => badge(t('notif_state_' + s), s === 'sent' ? 'ok' : s === 'failed' ? 'bad' : 'warn');
  const cols = [
    { label: t('col_id'), num: true, cell: (n) => el('td.num.mono', { text: String(n.id) }) },
    { label: t('col_notif_kind'), cell: (n) => el('td', { title: n.kind, text: kindText(n.kind) }) },
    { label: t('col_channel'), cell: (n) => el('td', el('span', { text: t('channel_' + n.channel) }),
      n.recipient ? el('div.muted.small.mono', { text: n.recipient }) : null) },
    { label: t('col_account'), cell: (n) => el('td', n.account_id == null ? '—'
      : el('a', { href: `#/accounts/${n.account_id}`, text: accounts.get(n.account_id)?.code || '#' + n.account_id })) },
    { label: t('col_state'), cell: (n) => el('td', stateBadge(n.state)) },
    { label: t('col_attempts'), num: true, cell: (n) => el('td.num', { text: String(n.attempts ?? 0) }) },
    { label: t('col_last_error'), cell: (n) => el('td.wrap.last-error', { title: n.last_error || '', text: n.last_error || '—' }) },
    { label: t('col_created'), cell: (n) => el('td', { text: fmtTime(n.created_at) }) },
    { label: t('col_sent'), cell: (n) => el('td', { text: n.sent_at ? fmtTime(n.sent_at)
      : n.state === 'pending' && n.next_attempt_at ? t('notif_next_at', { at: fmtTime(n.next_attempt_at) }) : '—' }) },
  ];

  async function load(reset) {
    if (reset) { rows.length = 0; before = null; }
    err.hidden = true;
    try {
      const r = await api('GET', '/notifications', { query: { state: state.value, kind: kind.value.trim(), before, limit: 50 } });
      rows.push(...r.notifications);
      before = r.next_before;
      more.hidden = before == null;
      fillRows(tbody, cols, rows, { empty: t('notif_empty') });
    } catch (e) {
      err.textContent = errText(e);
      err.hidden = false;
      fillRows(tbody, cols, []);
    }
  }
  let timer = 0;
  const reload = () => { clearTimeout(timer); timer = setTimeout(() => load(true), 250); };
  kind.addEventListener('input', reload);
  state.addEventListener('change', reload);
  more.addEventListener('click', () => load(false));

  const actions = [el('button.btn', { type: 'button', id: 'notif-refresh', text: t('refresh'), onclick: () => load(true) })];
  if (ctx.can('admin')) {
    const test = el('button.btn.btn-primary', { type: 'button', id: 'notif-test', text: t('notif_test') });
    test.addEventListener('click', async () => {
      test.disabled = true;
      err.hidden = true;
      try {
        const r = await api('POST', '/notifications/test');
        toast(t('notif_test_done', { ch: (r?.channels || []).map((c) => t('channel_' + c)).join(', ') }));
        await load(true);
      } catch (e) {
        err.textContent = e.status === 422 ? `${t('notif_test_refused')} ${e.message}` : errText(e);
        err.hidden = false;
      } finally {
        test.disabled = false;
      }
    });
    actions.push(test);
  }

  clear(main, pageHead(t('notif_title'), t('notif_sub'), ...actions),
    el('div.panel', el('div.filters', field(t('col_state'), state), field(t('col_notif_kind'), kind)), err),
    el('div.panel.flush', el('div.table-wrap', el('table', { id: 'notif-table' },
      el('thead', el('tr', cols.map((c) => el('th' + (c.num ? '.num' : ''), { scope: 'col', text: c.label })))), tbody)),
    el('div.pager', el('span'), more)));
  await load(true);
  return () => clearTimeout(timer);
}
