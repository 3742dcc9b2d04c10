// dashboard.test.mjs -- the dashboard in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; no browser is downloaded).
// Run by tests/t_dashboard.sh, which starts apolod, seeds the database and
// passes through the environment:
//
//   DASH_BASE     http://127.0.0.1:PORT (apolod's admin.listen)
//   DASH_ART      folder for the screenshots (one PNG per page)
//   DASH_WORK     the test's temp folder
//   DASH_FSSIM    the simulator binary; DASH_FSS its script (one call);
//   DASH_SIMPORT  the port apolod's ESL worker connects to
//
// Each step prints "ok:   ..." or "FAIL: ..." and the run goes on after a
// failure (a later step may still pass); the exit status is 1 when one
// failed. Steps: login (a wrong password first), the live call appears,
// is answered and disappears after its hangup (event-to-screen latency
// printed), accounts and the low-balance row, recharge and the new
// balance, the notification email (a bad address refused, a good one kept
// after a reload), extensions, bulk recharge with a bad row, prefix
// search, deck validation with a bad row, the zone tree (indented, by
// keyboard), time-of-day periods (create "night" 22:00-07:00, stored as
// two windows; an overlapping one refused; a deck rate with the period in
// the rates table; its deletion refused while the rate uses it), CDRs,
// their flags and the CSV export, statistics charts, notifications (the
// seeded rows; the test message refused with no channel), audit, users,
// Spanish, and a viewer: no recharge button, no notification email
// editing, no notifications nor admin page, and the server refuses its
// recharge and the notifications (403). FACs: an admin creates one with
// a code (a password field; the code is in neither the page nor the API's
// list), edits its level, reads the per-FAC report of the CDRs that
// t_dashboard.sh seeded (calls, minutes, cost; also in Spanish) and
// deactivates it; a viewer sees the list and the report without a button,
// and the server refuses its POST, PATCH and DELETE (403).

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = process.env.DASH_BASE;
const art = process.env.DASH_ART;
const work = process.env.DASH_WORK || tmpdir();
if (!base || !art) {
  console.error('run through tests/t_dashboard.sh (DASH_BASE, DASH_ART)');
  process.exit(2);
}
const ui = base + '/ui/';
let failures = 0;
const t0 = Date.now();

function ok(msg) { console.log(`ok:   ${msg}`); }
function fail(msg) { console.log(`FAIL: ${msg}`); failures++; }

// step(name, fn): runs fn, reports; a throw is a failure of that step.
async function step(name, fn) {
  try {
    const r = await fn();
    ok(r ? `${name}: ${r}` : name);
    return true;
  } catch (e) {
    fail(`${name}: ${String(e.message || e).split('\n').slice(0, 4).join(' | ')}`);
    return false;
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

// BigInt micro-units of a displayed amount "250,012.50" (en)
function micro(text) {
  const m = /-?[\d,]+(?:\.\d+)?/.exec(text.replace(/\s/g, ''));
  assert(m, `no amount in "${text}"`);
  const [i, f = ''] = m[0].replace(/,/g, '').split('.');
  const neg = i.startsWith('-');
  const u = BigInt(i.replace('-', '')) * 1000000n + BigInt((f + '000000').slice(0, 6));
  return neg ? -u : u;
}

async function shot(page, name) {
  // from the top: a full-page shot of a scrolled page draws the sticky
  // top bar in the middle
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(150);  // let the last frame paint
  await page.screenshot({ path: join(art, `${name}.png`), fullPage: true });
}

async function login(page, user, pass) {
  await page.goto(ui + '#/live');
  await page.fill('#username', user);
  await page.fill('#password', pass);
  await page.click('#login-submit');
  await page.waitForSelector('#topbar:not([hidden])', { timeout: 10000 });
}

// Playwright gives the browser a fresh profile of its own (a temporary
// --user-data-dir, removed at close): it refuses the flag from us.
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
}).catch((e) => { console.log(`FAIL: chromium did not start: ${e.message}`); process.exit(1); });

let sim = null;
let simExit = null;
try {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 820 }, acceptDownloads: true, locale: 'en-US' });
  const page = await ctx.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  // a refused request (401 before login, 4xx shown to the user) is logged
  // by Chromium as "Failed to load resource": not a script error
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) consoleErrors.push(m.text());
  });

  // ---- login ----------------------------------------------------------------
  await step('the login page is served and shown', async () => {
    await page.goto(ui);
    await page.waitForSelector('#login-form');
    await shot(page, '01-login');
  });
  await step('a wrong password is refused on the page', async () => {
    await page.fill('#username', 'admin');
    await page.fill('#password', 'not-the-password');
    await page.click('#login-submit');
    await page.waitForSelector('.login .error:not([hidden])', { timeout: 5000 });
  });
  await step('admin logs in and lands on the live page', async () => {
    await page.fill('#password', 'admin-password-1');
    await page.click('#login-submit');
    await page.waitForSelector('#live-table', { timeout: 10000 });
    await page.waitForSelector('.dot.on', { timeout: 5000 });
    const nav = await page.textContent('#nav');
    assert(/Audit/.test(nav) && /Users/.test(nav), `admin nav: ${nav}`);
    return 'WebSocket connected';
  });

  await step('money.js: decimal strings, never floats', async () => {
    const r = await page.evaluate(async () => {
      const m = await import('/ui/js/money.js');
      return [m.format('1234567.5', 'en'), m.format('1234567.5', 'es'), m.format('0.0125', 'en'),
        m.format('-3.100000', 'en'), m.add('0.1', '0.2'), m.microToString(m.parseMicro('10,5')),
        String(m.parseMicro('1.2345678')), m.add('9007199254.740993', '0.000001'), m.cmp('2.50', '2.5')];
    });
    const want = ['1,234,567.50', '1.234.567,50', '0.0125', '-3.10', '0.300000', '10.500000', 'null',
      '9007199254.740994', 0];
    assert(JSON.stringify(r) === JSON.stringify(want), `got ${JSON.stringify(r)}`);
  });

  // ---- live call --------------------------------------------------------------
  await step('a call started in the simulator appears on the live page, then is answered', async () => {
    sim = spawn(process.env.DASH_FSSIM, ['--listen', `127.0.0.1:${process.env.DASH_SIMPORT}`, '--quiet',
      '--script', process.env.DASH_FSS, '--report', join(work, 'report.jsonl')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let simErr = '';
    sim.stderr.on('data', (d) => { simErr += d; });
    simExit = new Promise((res) => sim.on('exit', (code) => res({ code, err: simErr })));
    const row = page.locator('#live-body tr', { hasText: '5491155554444' });
    await row.waitFor({ timeout: 15000 });
    await page.locator('#live-body tr', { hasText: 'answered' }).waitFor({ timeout: 5000 });
    const text = await row.textContent();
    assert(/1001/.test(text) && /ACME/.test(text), `row: ${text}`);
    await page.waitForFunction(() => document.querySelector('#kpi-active')?.textContent === '1', null, { timeout: 3000 });
    await page.waitForTimeout(1200);   // a second of talk on screen
    await shot(page, '02-live-call');
    return text.replace(/\s+/g, ' ').slice(0, 100);
  });
  await step('the call disappears from the live page after its hangup', async () => {
    await page.locator('#live-body tr', { hasText: '5491155554444' }).waitFor({ state: 'detached', timeout: 15000 });
    await page.waitForFunction(() => document.querySelector('#kpi-active')?.textContent === '0', null, { timeout: 3000 });
    const lat = await page.evaluate(() => window.apoloLiveLatency);
    assert(lat && lat.n > 0, 'no latency measured');
    assert(lat.p50 < 200, `event-to-screen median ${lat.p50} ms`);
    return `event to screen: median ${lat.p50.toFixed(1)} ms, max ${lat.max.toFixed(1)} ms over ${lat.n} events`;
  });
  await step('the live filters hide what does not match', async () => {
    await page.fill('#f-ext', '9999');
    await page.waitForSelector('#live-count');
    await page.fill('#f-ext', '');
  });
  await step('the simulator saw the engine do what it expected', async () => {
    const r = await Promise.race([simExit, new Promise((res) => setTimeout(() => res(null), 10000))]);
    assert(r, 'fssim still running');
    assert(r.code === 0, `fssim exit ${r.code}: ${r.err}`);
  });

  // ---- accounts, recharge -----------------------------------------------------------
  await step('accounts: search and the low-balance highlight', async () => {
    await page.click('#nav a[href="#/accounts"]');
    await page.waitForSelector('#acct-body tr');
    const low = page.locator('#acct-body tr.low', { hasText: 'LOWCO' });
    await low.waitFor({ timeout: 5000 });
    const cell = await low.locator('td.bal').textContent();
    assert(/5\.00\s*ARS/.test(cell), `LOWCO balance cell: ${cell}`);
    await shot(page, '03-accounts');
    await page.fill('#acct-search', 'acme');
    await page.locator('#acct-body tr', { hasText: 'LOWCO' }).waitFor({ state: 'detached', timeout: 5000 });
    assert(await page.locator('#acct-body tr', { hasText: 'ACME' }).count() === 1, 'ACME not found');
    return `LOWCO ${cell.trim()}`;
  });
  await step('recharge 12.50: the balance shows the new amount', async () => {
    await page.locator('#acct-body tr', { hasText: 'ACME' }).locator('a').click();
    await page.waitForSelector('#acct-balance');
    await page.waitForSelector('#ledger-body tr');
    const before = micro(await page.textContent('#acct-balance'));
    await page.click('#recharge-open');
    await page.fill('#recharge-amount', '12.50');
    await page.fill('#recharge-reason', 'pago en sucursal');
    await shot(page, '04-recharge-dialog');
    await page.click('dialog button[type="submit"]');
    const want = before + 12500000n;
    await page.waitForFunction((w) => {
      const t = document.querySelector('#acct-balance')?.textContent || '';
      return t.replace(/[^\d.]/g, '') !== '' && t.includes(w);
    }, fmtEn(want), { timeout: 5000 });
    await page.locator('#ledger-body tr', { hasText: 'pago en sucursal' }).waitFor({ timeout: 5000 });
    await shot(page, '05-account-detail');
    return `${fmtEn(before)} -> ${await page.textContent('#acct-balance')}`;
  });
  await step('notification email: a bad address refused (422), a good one kept after a reload', async () => {
    // the page is ACME's detail
    const shown = await page.textContent('#acct-notify-email');
    assert(/default/.test(shown), `before: ${shown}`);
    await page.click('#notify-email-edit');
    await page.fill('#notify-email-input', 'pagos acme@example');
    await page.click('dialog button[type="submit"]');
    const err = page.locator('dialog .error:not([hidden])');
    await err.waitFor({ timeout: 5000 });
    const msg = (await err.textContent()).trim();
    assert(/notify_email/.test(msg), `422 message: ${msg}`);
    await shot(page, '05a-notify-email-refused');
    await page.fill('#notify-email-input', 'facturacion@acme.example');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('dialog', { state: 'detached', timeout: 5000 });
    await page.waitForFunction(() => /facturacion@acme\.example/.test(document.querySelector('#acct-notify-email')?.textContent || ''), null, { timeout: 5000 });
    await page.reload();
    await page.waitForSelector('#acct-notify-email');
    const after = await page.textContent('#acct-notify-email');
    assert(after.trim() === 'facturacion@acme.example', `after the reload: ${after}`);
    await shot(page, '05b-account-notify-email');
    return `refused: ${msg}`;
  });
  await step('extensions page', async () => {
    await page.click('#nav a[href="#/extensions"]');
    await page.locator('#ext-body tr', { hasText: 'María Gómez' }).waitFor();
    await shot(page, '06-extensions');
  });

  // ---- FACs ---------------------------------------------------------------------------
  // t_dashboard.sh made "Gerencia" (level 3, BIGTEL) and three CUCM CDRs with
  // its fac_id: 125 s at 2.5125, 60 s at 1.20, one unanswered.
  const facCode = '4455667788';
  await step('FACs: an admin creates a FAC with a code; it is listed, its code nowhere', async () => {
    await page.click('#nav a[href="#/facs"]');
    await page.locator('#fac-body tr', { hasText: 'Gerencia' }).waitFor({ timeout: 5000 });
    // the dialog by keyboard: Enter on the button opens it, Escape closes it
    await page.focus('#fac-add');
    await page.keyboard.press('Enter');
    await page.waitForSelector('dialog #fac-name', { timeout: 3000 });
    assert(await page.evaluate(() => document.activeElement?.id) === 'fac-name', 'the dialog does not focus the name');
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog', { state: 'detached', timeout: 3000 });
    await page.click('#fac-add');
    assert(await page.getAttribute('#fac-code', 'type') === 'password', 'the code field is not a password field');
    await page.fill('#fac-name', 'Ventas Norte');
    await page.fill('#fac-code', '12ab');
    await page.fill('#fac-level', '2');
    await page.selectOption('#fac-account', { label: 'ACME — Acme Logistics SA' });
    await page.click('dialog button[type="submit"]');
    const bad = page.locator('dialog .error:not([hidden])');
    await bad.waitFor({ timeout: 3000 });
    assert(/digits/.test(await bad.textContent()), `a letter in the code: ${await bad.textContent()}`);
    await page.fill('#fac-code', facCode);
    await shot(page, '06b-fac-dialog');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('dialog', { state: 'detached', timeout: 5000 });
    const row = page.locator('#fac-body tr', { hasText: 'Ventas Norte' });
    await row.waitFor({ timeout: 5000 });
    const text = (await row.textContent()).replace(/\s+/g, ' ');
    assert(/ACME/.test(text) && /set/.test(text) && /local/.test(text), `row: ${text}`);
    assert(((await row.locator('.fac-level').textContent()) || '').trim() === '2', `level: ${text}`);
    assert(!(await page.content()).includes(facCode), 'the code is in the page');
    const list = await page.evaluate(async () => (await fetch('/api/v1/facs')).text());
    assert(!list.includes(facCode) && /Ventas Norte/.test(list), 'the code is in GET /api/v1/facs');
    await shot(page, '06a-facs');
    return text.trim();
  });
  await step('FACs: the admin edits its level; the code field stays empty (write-only)', async () => {
    await page.click('#fac-body .fac-edit[data-fac="Ventas Norte"]');
    await page.waitForSelector('dialog #fac-level');
    assert(await page.inputValue('#fac-code') === '', 'the code field is filled');
    assert(await page.inputValue('#fac-level') === '2', `level in the form: ${await page.inputValue('#fac-level')}`);
    await page.fill('#fac-level', '7');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('dialog', { state: 'detached', timeout: 5000 });
    const row = page.locator('#fac-body tr', { hasText: 'Ventas Norte' });
    await page.waitForFunction(() => [...document.querySelectorAll('#fac-body tr')].some((tr) => /Ventas Norte/.test(tr.textContent)
      && tr.querySelector('.fac-level')?.textContent.trim() === '7'), null, { timeout: 5000 });
    assert(/set/.test(await row.textContent()), 'the code is no longer set after the edit');
    const f = await page.evaluate(async () => (await (await fetch('/api/v1/facs?q=ventas')).json()).facs[0]);
    assert(f.authorization_level === 7 && f.has_code === true && f.account_id === 1, `API: ${JSON.stringify(f)}`);
    return `level ${f.authorization_level}`;
  });
  await step('FACs: the per-FAC report: Gerencia 3 calls, 3.0833 minutes, 3.7125 ARS', async () => {
    const row = page.locator('#fac-report-body tr', { hasText: 'Gerencia' });
    await row.waitFor({ timeout: 5000 });
    const cells = (await row.locator('td').allTextContents()).map((x) => x.replace(/\s+/g, ' ').trim());
    assert(/BIGTEL/.test(cells[1]), `account: ${cells[1]}`);
    assert(cells[2] === '3' && cells[3] === '2', `calls ${cells[2]}, answered ${cells[3]}`);
    assert(cells[4] === '3.0833', `minutes ${cells[4]}`);
    assert(/^3\.7125\s*ARS$/.test(cells[5]), `cost ${cells[5]}`);
    assert(micro(cells[5]) === 3712500n, `cost ${cells[5]}`);
    assert(await page.locator('#fac-report-body tr').count() === 1, 'a row for a FAC without calls');
    const total = (await page.textContent('#fac-report-total')).replace(/\s+/g, ' ');
    assert(/Total/.test(total) && /3\.7125/.test(total), `total: ${total}`);
    await shot(page, '06c-fac-report');
    // a period without those calls: the report is empty
    await page.fill('#fac-from', '2024-01-01T00:00');
    await page.fill('#fac-to', '2024-01-08T00:00');
    await page.click('#fac-report-run');
    await page.locator('#fac-report-body tr', { hasText: 'Gerencia' }).waitFor({ state: 'detached', timeout: 5000 });
    assert(/No call/.test(await page.textContent('#fac-report-body')), 'no "no call" row');
    // more than 31 days: refused on the page
    await page.fill('#fac-to', '2024-03-01T00:00');
    await page.click('#fac-report-run');
    await page.waitForSelector('#fac-report-error:not([hidden])', { timeout: 3000 });
    return cells.join(' | ');
  });
  await step('FACs: the admin deactivates it: inactive, no deactivate button, still no code', async () => {
    page.once('dialog', (d) => d.accept());
    await page.click('#fac-body .fac-deactivate[data-fac="Ventas Norte"]');
    await page.waitForFunction(() => {
      const tr = [...document.querySelectorAll('#fac-body tr')].find((x) => /Ventas Norte/.test(x.textContent));
      return tr && tr.classList.contains('inactive') && !tr.querySelector('.fac-deactivate');
    }, null, { timeout: 5000 });
    assert(!(await page.content()).includes(facCode), 'the code is in the page');
    await shot(page, '06d-fac-deactivated');
  });

  // ---- bulk recharge -------------------------------------------------------------------
  await step('bulk recharge: the preview reports the bad row', async () => {
    await page.click('#nav a[href="#/recharges"]');
    await page.setInputFiles('#bulk-file', { name: 'recargas.csv', mimeType: 'text/csv',
      buffer: Buffer.from('account,amount,reason\r\nACME,100.00,abono noviembre\r\nNOSUCH,5.00,cuenta inexistente\r\nBIGTEL,2.50,ajuste\r\n') });
    await page.click('#bulk-check');
    await page.waitForSelector('#bulk-rows, #bulk-error', { timeout: 10000 });
    const err = await page.locator('#bulk-error').count();
    if (err) throw new Error(`the dry run failed: ${await page.textContent('#bulk-error')}`);
    const bad = page.locator('#bulk-rows tr.row-invalid');
    assert(await bad.count() === 1, `${await bad.count()} invalid rows shown`);
    const text = await bad.textContent();
    assert(/NOSUCH/.test(text) && (await bad.locator('.row-error').textContent()).trim() !== '', `bad row: ${text}`);
    assert(await page.isDisabled('#bulk-apply-all'), '"all or none" should be disabled with a bad row');
    await shot(page, '07-bulk-preview');
    await page.click('#bulk-apply-valid');
    await page.waitForSelector('#bulk-outcome, #bulk-error', { timeout: 10000 });
    if (await page.locator('#bulk-error').count()) throw new Error(`apply: ${await page.textContent('#bulk-error')}`);
    const applied = await page.textContent('#bulk-applied');
    assert(applied.trim() === '2', `applied ${applied}`);
    await shot(page, '08-bulk-result');
    return `bad row: ${text.replace(/\s+/g, ' ').trim()}`;
  });

  // ---- rates --------------------------------------------------------------------------
  await step('prefix search: 5491155554444 gets AR-MOB at 11.00 a minute', async () => {
    await page.click('#nav a[href="#/rates"]');
    await page.waitForSelector('#rates-body tr');
    await page.fill('#quote-number', '5491155554444');
    await page.click('#quote-submit');
    await page.waitForSelector('#quote-zone', { timeout: 5000 });
    const prefix = await page.textContent('#quote-prefix'), zone = await page.textContent('#quote-zone');
    const rate = await page.textContent('#quote-rate');
    assert(prefix === '549115', `prefix ${prefix}`);
    assert(/AR-MOB|Argentina mobile/.test(zone), `zone ${zone}`);
    assert(/^11\.00 ARS$/.test(rate.trim()), `rate ${rate}`);
    return `${prefix} ${zone} ${rate}`;
  });
  await step('deck upload: the validation report lists the bad row', async () => {
    await page.setInputFiles('#deck-file', { name: 'deck.csv', mimeType: 'text/csv',
      buffer: Buffer.from('prefix,zone,rate_per_minute,increment\n5492,AR-MOB,13.00,1/1\n549x,AR-MOB,1.00,1/1\n') });
    await page.click('#deck-check');
    await page.waitForSelector('#deck-error, #deck-ok', { timeout: 5000 });
    const e = await page.locator('#deck-error').count();
    assert(e === 1, 'a deck with a bad row passed');
    const rows = await page.locator('#deck-bad-rows tbody tr').count();
    assert(rows === 1, `${rows} bad rows listed`);
    await shot(page, '09-rates');
    return (await page.textContent('#deck-bad-rows tbody tr')).replace(/\s+/g, ' ').trim();
  });
  await step('zone tree: AR-MOB indented under AR, with levels; opened and closed by keyboard', async () => {
    const items = await page.$$eval('#zone-tree [role="treeitem"]', (lis) => lis.map((li) => ({
      code: li.dataset.zone, level: Number(li.getAttribute('aria-level')),
      x: li.querySelector('.code').getBoundingClientRect().left, text: li.textContent })));
    const ar = items.findIndex((z) => z.code === 'AR'), mob = items.findIndex((z) => z.code === 'AR-MOB');
    assert(ar >= 0 && mob > ar, `order: ${items.map((z) => z.code).join(' ')}`);
    assert(items[ar].level === 1 && items[mob].level === 2, `levels ${items[ar].level} ${items[mob].level}`);
    for (let i = ar + 1; i < mob; i++) assert(items[i].level > 1, `${items[i].code} between AR and AR-MOB`);
    assert(items[mob].x - items[ar].x >= 15, `indent ${items[mob].x - items[ar].x}px`);
    const sat = items.find((z) => z.code === 'AR-SAT');
    assert(sat && /level 3/.test(sat.text), `AR-SAT: ${sat?.text}`);
    // keyboard: Tab lands on the tree's one focusable item; ← closes AR
    await page.focus('#zone-tree [role="treeitem"][tabindex="0"]');
    const first = await page.evaluate(() => document.activeElement.dataset.zone);
    for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement.dataset.zone)) !== 'AR'; i++) {
      await page.keyboard.press('ArrowDown');
    }
    assert(await page.evaluate(() => document.activeElement.dataset.zone) === 'AR', `from ${first}: AR not reached by ↓`);
    await page.keyboard.press('ArrowLeft');
    assert(await page.isHidden('#zone-tree [data-zone="AR-MOB"]'), 'AR-MOB still shown with AR closed');
    assert(await page.getAttribute('#zone-tree [data-zone="AR"]', 'aria-expanded') === 'false', 'AR not closed');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    const child = await page.evaluate(() => document.activeElement.dataset.zone);
    assert(await page.isVisible('#zone-tree [data-zone="AR-MOB"]') && /^AR-/.test(child), `after → →: ${child}`);
    return `${items.length} zones, AR-MOB +${Math.round(items[mob].x - items[ar].x)} px`;
  });
  await step('periods: an admin creates "night" 22:00-07:00 every day: two windows listed', async () => {
    assert(/America\/Argentina\/Buenos_Aires/.test(await page.textContent('#periods-tz')), 'the plan\'s time zone not shown');
    await page.click('#period-add');
    await page.fill('#period-name', 'night');
    for (const d of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) await page.check(`dialog input[data-day="${d}"]`);
    await page.fill('#w1-start', '22:00');
    await page.fill('#w1-end', '07:00');
    await shot(page, '09a-period-dialog');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('dialog', { state: 'detached', timeout: 5000 });
    const row = page.locator('#periods-body tr', { hasText: 'night' });
    await row.waitFor({ timeout: 5000 });
    const wins = await row.locator('.window').allTextContents();
    assert(wins.length === 2, `${wins.length} windows: ${wins.join(' | ')}`);
    assert(wins.includes('Every day 00:00–07:00') && wins.includes('Every day 22:00–24:00'), `windows: ${wins.join(' | ')}`);
    return wins.join(' | ');
  });
  await step('periods: an overlapping window is refused with the server\'s message (422)', async () => {
    await page.click('#period-add');
    await page.fill('#period-name', 'late');
    await page.check('dialog input[data-day="mon"]');
    await page.fill('#w1-start', '23:00');
    await page.fill('#w1-end', '23:30');
    await page.click('dialog button[type="submit"]');
    const err = page.locator('dialog .error:not([hidden])');
    await err.waitFor({ timeout: 5000 });
    const msg = (await err.textContent()).trim();
    assert(/another period/.test(msg) && /overlaps/.test(msg), `message: ${msg}`);
    await shot(page, '09b-period-overlap');
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog', { state: 'detached', timeout: 3000 });
    assert(await page.locator('#periods-body tr', { hasText: 'late' }).count() === 0, '"late" was created');
    return msg;
  });
  await step('a deck rate with the period "night" shows it in the rates table', async () => {
    await page.setInputFiles('#deck-file', { name: 'night.csv', mimeType: 'text/csv',
      buffer: Buffer.from('prefix,zone,rate_per_minute,increment,period\n34,ES,10.00,60/6,night\n') });
    await page.click('#deck-check');
    await page.waitForSelector('#deck-ok, #deck-error', { timeout: 5000 });
    if (await page.locator('#deck-error').count()) throw new Error(`dry run: ${await page.textContent('#deck-report')}`);
    await page.click('#deck-import');
    await page.waitForSelector('#deck-done, #deck-error', { timeout: 10000 });
    if (await page.locator('#deck-error').count()) throw new Error(`import: ${await page.textContent('#deck-report')}`);
    await page.fill('#rate-prefix', '34');
    await page.waitForFunction(() => [...document.querySelectorAll('#rates-body tr')].every((tr) => /^34/.test(tr.cells[0]?.textContent || '')),
      null, { timeout: 5000 });
    const night = page.locator('#rates-body tr', { hasText: 'night' });
    await night.waitFor({ timeout: 5000 });
    const text = (await night.textContent()).replace(/\s+/g, ' ');
    assert(/10\.00/.test(text) && /Spain|ES/.test(text), `row: ${text}`);
    assert(await page.locator('#rates-body tr').count() === 2, 'prefix 34: the rate at any time and the night rate');
    await shot(page, '09c-rates-period');
    return text.trim();
  });
  await step('deleting "night" is refused while the rate uses it (409, the server\'s message)', async () => {
    page.once('dialog', (d) => d.accept());
    await page.click('#periods-body .period-delete[data-period="night"]');
    await page.waitForSelector('#period-error:not([hidden])', { timeout: 5000 });
    const msg = (await page.textContent('#period-error')).trim();
    assert(/rates refer to it/.test(msg) && /night|period/.test(msg), `message: ${msg}`);
    assert(await page.locator('#periods-body tr', { hasText: 'night' }).count() === 1, 'night is gone');
    await shot(page, '09d-zone-tree-periods');
    return msg;
  });

  // ---- CDRs --------------------------------------------------------------------------
  await step('CDRs: the call is listed, the CSV export downloads it', async () => {
    await page.click('#nav a[href="#/cdrs"]');
    await page.locator('#cdr-body tr', { hasText: '5491155554444' }).waitFor({ timeout: 8000 });
    await shot(page, '10-cdrs');
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.click('#cdr-export')]);
    const path = await dl.path();
    const csv = readFileSync(path, 'utf8');
    const lines = csv.trim().split(/\r?\n/);
    assert(/call_id/.test(lines[0]), `header: ${lines[0]}`);
    assert(lines.some((l) => l.includes('5491155554444')), 'the live call is not in the export');
    const shown = await page.locator('#cdr-body tr').count();
    assert(lines.length - 1 === shown, `${lines.length - 1} rows exported, ${shown} shown`);
    return `${dl.suggestedFilename()}: ${lines.length - 1} rows`;
  });
  await step('CDRs: the unbilled and estimated badges', async () => {
    const unbilled = page.locator('#cdr-body .badge.flag', { hasText: 'unbilled' });
    const estimated = page.locator('#cdr-body .badge.flag', { hasText: 'estimated' });
    assert(await unbilled.count() === 1, `${await unbilled.count()} unbilled badges`);
    assert(await estimated.count() >= 1, 'no estimated badge');
    const tr = page.locator('#cdr-body tr', { has: page.locator('.badge.flag', { hasText: 'unbilled' }) });
    const row = (await tr.textContent()).replace(/\s+/g, ' ');
    assert(/5491166660002/.test(row), `unbilled row: ${row}`);
    await shot(page, '10a-cdrs-flags');
    return row.trim().slice(0, 90);
  });

  // ---- statistics, audit, users ----------------------------------------------------------
  await step('statistics: charts drawn', async () => {
    await page.click('#nav a[href="#/stats"]');
    await page.waitForSelector('#stat-revenue', { timeout: 8000 });
    const bars = await page.locator('svg.chart rect.bar').count();
    assert(bars >= 5, `${bars} bars`);
    await shot(page, '11-stats');
    return `${bars} bars, revenue ${await page.textContent('#stat-revenue')}`;
  });
  await step('notifications: the outbox rows; the test message refused with no channel (422)', async () => {
    await page.click('#nav a[href="#/notifications"]');
    const failed = page.locator('#notif-body tr', { hasText: 'pagos@lowco.example' });
    await failed.waitFor({ timeout: 5000 });
    const ftext = (await failed.textContent()).replace(/\s+/g, ' ');
    assert(/low balance/.test(ftext) && /LOWCO/.test(ftext) && /failed/.test(ftext) && /550 mailbox/.test(ftext), `row: ${ftext}`);
    assert(await page.locator('#notif-body tr', { hasText: 'webhook' }).count() >= 1, 'no webhook row');
    await page.selectOption('#notif-state', 'failed');
    await page.locator('#notif-body tr', { hasText: 'webhook' }).waitFor({ state: 'detached', timeout: 5000 });
    await page.selectOption('#notif-state', '');
    await page.locator('#notif-body tr', { hasText: 'webhook' }).first().waitFor({ timeout: 5000 });
    await page.click('#notif-test');
    await page.waitForSelector('#notif-error:not([hidden])', { timeout: 5000 });
    const msg = (await page.textContent('#notif-error')).trim();
    assert(/channel/.test(msg), `message: ${msg}`);
    await shot(page, '11a-notifications');
    return msg;
  });
  await step('audit trail shows the recharge', async () => {
    await page.click('#nav a[href="#/audit"]');
    await page.locator('#audit-body tr', { hasText: 'recharge' }).first().waitFor({ timeout: 5000 });
    await shot(page, '12-audit');
  });
  await step('users and roles', async () => {
    await page.click('#nav a[href="#/users"]');
    await page.locator('#users-body tr', { hasText: 'viewer' }).first().waitFor({ timeout: 5000 });
    await shot(page, '13-users');
  });

  // ---- Spanish ------------------------------------------------------------------------
  await step('switch to Spanish: Saldo, Recarga, Anexos', async () => {
    await page.click('#nav a[href="#/accounts"]');
    await page.waitForSelector('#acct-body tr');
    await page.selectOption('#lang', 'es');
    await page.waitForFunction(() => document.documentElement.lang === 'es');
    await page.waitForSelector('#acct-body tr .recharge-btn');
    const head = await page.textContent('#acct-table thead');
    const btn = await page.textContent('#acct-body .recharge-btn');
    const nav = await page.textContent('#nav');
    assert(/Saldo/.test(head), `head: ${head}`);
    assert(/Recarga/.test(btn), `button: ${btn}`);
    assert(/Anexos/.test(nav) && /En vivo/.test(nav) && /Tarifas/.test(nav), `nav: ${nav}`);
    await shot(page, '14-accounts-es');
    await page.click('#nav a[href="#/live"]');
    await page.waitForSelector('#live-table');
    assert(/Anexo/.test(await page.textContent('#live-table thead')), 'live: no Anexo');
    await shot(page, '15-live-es');
    assert(/Notificaciones/.test(nav), `nav: ${nav}`);
    const [sw, cw] = await page.evaluate(() => { const n = document.getElementById('nav'); return [n.scrollWidth, n.clientWidth]; });
    assert(sw <= cw + 1, `the Spanish navigation overflows at 1366 px: ${sw} > ${cw}`);
    await page.click('#nav a[href="#/rates"]');
    await page.locator('#periods-body tr', { hasText: 'night' }).waitFor({ timeout: 5000 });
    const per = await page.textContent('#periods-panel');
    assert(/Períodos horarios/.test(per) && /Todos los días 22:00–24:00/.test(per), `periods: ${per.slice(0, 200)}`);
    assert(/Período/.test(await page.textContent('#rates-table thead')), 'rates: no Período column');
    assert(/nivel 3/.test(await page.textContent('#zone-tree')), 'zone tree: no "nivel 3"');
    await shot(page, '15a-rates-es');
    await page.selectOption('#lang', 'en');
  });

  await step('FACs in Spanish: texts and amounts in the Spanish style', async () => {
    await page.selectOption('#lang', 'es');
    await page.waitForFunction(() => document.documentElement.lang === 'es');
    await page.click('#nav a[href="#/facs"]');
    const row = page.locator('#fac-report-body tr', { hasText: 'Gerencia' });
    await row.waitFor({ timeout: 5000 });
    const head = await page.textContent('h1');
    assert(/Códigos de autorización forzada/.test(head), `title: ${head}`);
    assert(/Cuenta que paga/.test(await page.textContent('#fac-table thead')), 'no "Cuenta que paga"');
    const cells = (await row.locator('td').allTextContents()).map((x) => x.replace(/\s+/g, ' ').trim());
    assert(cells[4] === '3,0833' && /^3,7125\s*ARS$/.test(cells[5]), `minutes ${cells[4]}, cost ${cells[5]}`);
    assert(/Llamadas por FAC/.test(await page.textContent('#fac-report-panel')), 'no "Llamadas por FAC"');
    const [sw, cw] = await page.evaluate(() => { const n = document.getElementById('nav'); return [n.scrollWidth, n.clientWidth]; });
    assert(sw <= cw + 1, `the Spanish navigation overflows at 1366 px: ${sw} > ${cw}`);
    await shot(page, '15b-facs-es');
    await page.selectOption('#lang', 'en');
    await page.waitForFunction(() => document.documentElement.lang === 'en');
    return cells.join(' | ');
  });

  await step('no script error in the page', async () => {
    assert(consoleErrors.length === 0, consoleErrors.slice(0, 3).join(' | '));
  });

  // ---- viewer ---------------------------------------------------------------------------
  const vctx = await browser.newContext({ viewport: { width: 1366, height: 820 }, locale: 'en-US' });
  const vpage = await vctx.newPage();
  await step('a viewer sees no recharge button and no admin page', async () => {
    await login(vpage, 'viewer', 'viewer-password-1');
    const nav = await vpage.textContent('#nav');
    assert(!/Audit|Users|Bulk|Notifications/.test(nav), `viewer nav: ${nav}`);
    assert(await vpage.locator('#nav a[href="#/notifications"]').count() === 0, 'a notifications link for a viewer');
    await vpage.click('#nav a[href="#/accounts"]');
    await vpage.waitForSelector('#acct-body tr');
    assert(await vpage.locator('.recharge-btn').count() === 0, 'a recharge button in the list');
    await shot(vpage, '16-viewer-accounts');
    await vpage.locator('#acct-body tr', { hasText: 'ACME' }).locator('a').click();
    await vpage.waitForSelector('#acct-balance');
    await vpage.waitForTimeout(200);
    assert(await vpage.locator('.recharge-btn, #recharge-open').count() === 0, 'a recharge button on the detail');
    assert((await vpage.textContent('#acct-notify-email')).trim() === 'facturacion@acme.example', 'the notification email not shown');
    assert(await vpage.locator('#notify-email-edit').count() === 0, 'a viewer can edit the notification email');
    await shot(vpage, '16a-viewer-account-detail');
    await vpage.goto(ui + '#/notifications');
    await vpage.waitForSelector('.error');
    assert(await vpage.locator('#notif-table').count() === 0, 'the notifications page drawn for a viewer');
    await vpage.goto(ui + '#/users');
    await vpage.waitForSelector('.error');
  });
  await step('a viewer sees the FACs and their report, without create, edit nor deactivate buttons', async () => {
    await vpage.goto(ui + '#/live');
    await vpage.waitForSelector('#nav a[href="#/facs"]');
    await vpage.click('#nav a[href="#/facs"]');
    await vpage.locator('#fac-body tr', { hasText: 'Ventas Norte' }).waitFor({ timeout: 5000 });
    await vpage.locator('#fac-report-body tr', { hasText: 'Gerencia' }).waitFor({ timeout: 5000 });
    const n = await vpage.locator('#fac-add, #fac-import, #fac-push-all, .fac-edit, .fac-deactivate, .fac-push').count();
    assert(n === 0, `${n} FAC buttons for a viewer`);
    assert(!(await vpage.content()).includes(facCode), 'the code is in the page');
    await shot(vpage, '16b-viewer-facs');
    const st = await vpage.evaluate(async () => {
      const post = await fetch('/api/v1/facs', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'viewer', code: '123456', authorization_level: 1 }) });
      const patch = await fetch('/api/v1/facs/1', { method: 'PATCH', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ authorization_level: 9 }) });
      const del = await fetch('/api/v1/facs/1', { method: 'DELETE' });
      return [post.status, patch.status, del.status];
    });
    assert(st.join() === '403,403,403', `POST, PATCH, DELETE /api/v1/facs: ${st.join(', ')}`);
    return `POST, PATCH, DELETE: ${st.join(', ')}`;
  });
  await step('the server refuses a viewer\'s recharge and the notifications (403)', async () => {
    const status = await vpage.evaluate(async () => {
      const r = await fetch('/api/v1/accounts/1/recharges', { method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'viewer-try-1' },
        body: JSON.stringify({ amount: '1.00' }) });
      return r.status;
    });
    assert(status === 403, `status ${status}`);
    const n = await vpage.evaluate(async () => (await fetch('/api/v1/notifications')).status);
    assert(n === 403, `GET /api/v1/notifications: ${n}`);
    return 'HTTP 403 (recharge, notifications)';
  });
  await step('logout ends the session', async () => {
    await vpage.click('#logout');
    await vpage.waitForSelector('#login-form');
    const status = await vpage.evaluate(async () => (await fetch('/api/v1/me')).status);
    assert(status === 401, `/me after logout: ${status}`);
  });
} finally {
  if (sim && sim.exitCode === null) sim.kill('SIGTERM');
  await browser.close().catch(() => {});
}

function fmtEn(u) {
  const neg = u < 0n, a = neg ? -u : u;
  const int = (a / 1000000n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  let frac = (a % 1000000n).toString().padStart(6, '0');
  while (frac.length > 2 && frac.endsWith('0')) frac = frac.slice(0, -1);
  return (neg ? '-' : '') + int + '.' + frac;
}

console.log(`dashboard browser test: ${failures} failed, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures ? 1 : 0);
