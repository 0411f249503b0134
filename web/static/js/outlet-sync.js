// The counter's offline life: what it knows of today's buyers without the
// server, keeping a sale the server did not answer in the outbox, and
// sending the outbox once the server is back (DESIGN.md §4.3, §6.3).

import * as outbox from './outbox.js';
import {
  $, el, PM, T, state, BACKGROUND, show, reasonText, personName, weekdayName, clock, ymdOf, serverNow,
  setBusy, focusId, selectId
} from './outlet-core.js';
import { api, setOffline, refresh, renderOutlet, clearForm, armUndo } from './outlet.js';

// ---------- today's buyers (memory, and encrypted for a reload) ----------

// Every tab of this browser is the same counter (two windows at one desk):
// each tab changes the stored memo by its own deltas, one tab at a time
// (Web Locks), and reads the others' in before it judges a buyer offline.
// Each tab once kept its own memo and overwrote the other's, so a buyer
// sold to in one tab was sold to again in the other.
function withMemoLock(fn) {
  if (navigator.locks && navigator.locks.request) return navigator.locks.request('publicmask-memo', fn);
  return fn();
}

// storedBuyers is today's stored memo, {} when there is none; it throws
// when it cannot be read (a lost key).
async function storedBuyers(code) {
  const m = (await outbox.loadMemo(code)) || {};
  const today = ymdOf(serverNow()), out = {};
  for (const [id, b] of Object.entries(m)) if (b.day === today) out[id] = b;
  return out;
}

// saveDelta applies one change (sign +1: a sale, -1: its undo) to the
// stored memo; memory already holds it.
function saveDelta(ids, qtys, sign) {
  if (!outbox.available || !state.outlet) return Promise.resolve();
  const code = state.outlet.code, today = ymdOf(serverNow());
  return withMemoLock(async () => {
    let m;
    try { m = await storedBuyers(code); } catch (e) { m = {}; } // a lost key: start again
    ids.forEach((id, i) => change(m, id, today, qtys[i], sign));
    await outbox.saveMemo(code, m);
  }).catch(() => { /* memory still holds them */ });
}

function change(m, id, today, qty, sign) {
  let b = m[id];
  if (!b || b.day !== today) b = m[id] = { day: today, purchases: 0, qty: 0 };
  b.purchases += sign; b.qty += sign * qty;
  if (b.purchases <= 0) delete m[id];
}

// loadBuyers reads what every tab of this counter stored today into
// memory (after a reload, and before an offline verdict): per buyer the
// larger count, so that neither side's sales are forgotten.
export async function loadBuyers() {
  if (!outbox.available || !state.outlet) return;
  const code = state.outlet.code;
  try {
    const m = await withMemoLock(() => storedBuyers(code));
    if (!state.outlet || state.outlet.code !== code) return;
    for (const [id, b] of Object.entries(m)) {
      const mine = state.buyers[id];
      if (!mine || mine.day !== b.day || mine.purchases < b.purchases) state.buyers[id] = b;
    }
  } catch (e) { /* a lost key: memory only from now on */ }
}

export const dropBuyers = outbox.dropMemo;

export function remember(ids, qtys) {
  const today = ymdOf(serverNow());
  ids.forEach((id, i) => change(state.buyers, id, today, qtys[i], 1));
  return saveDelta(ids, qtys, 1);
}
export function forget(ids, qtys) {
  const today = ymdOf(serverNow());
  (ids || []).forEach((id, i) => { if (state.buyers[id]) change(state.buyers, id, today, qtys[i], -1); });
  return saveDelta(ids || [], qtys || [], -1);
}

// offlineVerdict applies what the counter knows without the server: the
// day's rule by birth year (from the rules served at sign-in) and this
// counter's own sales today. persons: [{v, qty, role}]. It returns the first
// refusal or null.
export function offlineVerdict(persons) {
  const today = ymdOf(serverNow());
  const r = state.rules && state.rules.days[today];
  for (let i = 0; i < persons.length; i++) {
    const p = persons[i];
    if (p.qty <= 0) continue;
    if (r) {
      if (!r.sales_open) return { i: i, code: 'sales_closed' };
      if (r.digits_today && r.digits_today.indexOf(p.v.year % 10) < 0 && !proxyDay(r, persons, i)) {
        return { i: i, code: 'not_eligible_today', days: state.rules.weekday[p.v.year % 10] };
      }
    }
    const b = state.buyers[p.v.digits];
    // No check in force (8–11 July 2020): nobody is limited, as on the server.
    if (b && b.day === today && !(r && r.duplicate_check === false)) {
      const per = r && r.purchases_per_week, quota = r && r.weekly_quota;
      if ((per != null && b.purchases >= per) || (quota != null && b.qty + p.qty > quota) || per == null) {
        return { i: i, code: 'seen_today' };
      }
    }
  }
  return null;
}

// proxyDay: person i (bought for) may buy on the buyer's day under the
// rules' proxy day rule (POLICY-2020.md: a minor with a parent from 16 March,
// either person's day from 27 April), as the server judges it.
function proxyDay(r, persons, i) {
  if (i === 0 || !r.digits_today) return false;
  const buyerDay = r.digits_today.indexOf(persons[0].v.year % 10) >= 0;
  if (r.proxy_day_rule === 'either') return buyerDay;
  if (r.proxy_day_rule === 'minor_with_buyer') return buyerDay && persons[i].v.year >= r.proxy_minor_born_from;
  return false;
}

export function offlineReason(off, sale) {
  const who = personName(sale.persons[off.i].role, off.i, sale.cats) + ': ';
  if (off.code === 'seen_today') return who + T('offline.seen');
  if (off.code === 'not_eligible_today') {
    return who + T('reason.not_eligible_today') + (off.days && off.days.length ? ' · ' + T('offline.days', { days: off.days.map(weekdayName).join(', ') }) : '');
  }
  return who + reasonText(off.code);
}

// ---------- keeping a sale ----------

// queueSale keeps a sale the server did not answer: applied first against
// what the counter knows offline, then sealed into the outbox.
export async function queueSale(sale, ambiguous) {
  setOffline();
  if (!outbox.available || !state.cfg.sealKey) {
    if (ambiguous) state.orphans.push(sale.body);
    show('bad', T('offline.insecure.title'), [T('offline.insecure')]);
    selectId();
    return;
  }
  // Today's buyers from before a reload may still be decrypting, and
  // another tab of this counter may have sold since.
  setBusy(true);
  await state.buyersLoaded;
  await loadBuyers();
  setBusy(false);
  await keepSale(sale, ambiguous);
}

async function keepSale(sale, ambiguous) {
  const off = offlineVerdict(sale.persons);
  if (off) {
    if (ambiguous) state.orphans.push(sale.body);
    show('bad', T('sale.refused'), [offlineReason(off, sale), T('offline.ruled')]);
    selectId();
    return;
  }
  const b = sale.body, code = state.outlet.code;
  const ids = sale.persons.map((p) => p.v.digits), qtys = sale.persons.map((p) => p.qty);
  setBusy(true);
  try {
    const sealed = await outbox.seal({ buyer: b.buyer, on_behalf_of: b.on_behalf_of }, state.cfg.sealKey, code, b.txn_id);
    await outbox.put(outbox.record(sale, code, sealed, state.cfg.lateMs, ambiguous));
  } catch (e) {
    setBusy(false);
    if (ambiguous) state.orphans.push(b);
    show('bad', T('offline.storefail.title'), [T('offline.storefail')]);
    selectId();
    return;
  }
  setBusy(false);
  remember(ids, qtys);
  const n = await outbox.pendingCount(code);
  show('queued', T('offline.queued', { n: sale.total, year: sale.v.year }), [T('offline.handover'), T('conn.pending', { n: n })]);
  clearForm();
  armUndo({ txn_id: b.txn_id, total: sale.total, at: Date.now(), queued: true, ids: ids, qtys: qtys });
  focusId();
  renderOutbox();
}

// undoQueued takes a sale back out of the outbox if it was not sent yet.
// One whose first attempt may have reached the server (its answer did not
// come) is kept as an undo: the drain sends it again (the first answer if
// it was recorded) and cancels what is recorded. Removed, it stayed on the
// server: the buyer's week used up by masks handed back.
export async function undoQueued(last) {
  const rec = await outbox.get(last.txn_id);
  if (!rec || rec.state !== 'pending') { show('bad', T('undo.sent'), []); return; }
  if (rec.ambiguous) await outbox.put(Object.assign({}, rec, { state: 'undo' }));
  else await outbox.remove(last.txn_id);
  forget(last.ids, last.qtys);
  show('info', T('undo.done', { n: last.total }), [T(rec.ambiguous ? 'undo.ambiguous' : 'undo.queued')]);
  renderOutbox();
  if (rec.ambiguous) scheduleDrain(0);
}

// ---------- sending the outbox ----------

export function scheduleDrain(ms) {
  clearTimeout(state.drainTimer);
  state.drainTimer = setTimeout(drain, Math.max(0, ms));
}

// drain sends due outbox records, oldest first, one tab at a time (Web
// Locks); the server's txn_id idempotency covers the rest.
async function drain() {
  if (!state.token || !state.outlet || state.draining || state.offline || !outbox.available) return;
  state.draining = true;
  const run = () => drainOnce().catch(() => {});
  try {
    if (navigator.locks && navigator.locks.request) {
      await navigator.locks.request('publicmask-outbox', { ifAvailable: true }, (lock) => (lock ? run() : null));
    } else await run();
  } catch (e) { /* the next round retries */ }
  state.draining = false;
  renderOutbox();
  renderConn();
}

async function drainOnce() {
  const pending = (await outbox.records(state.outlet.code)).filter((r) => r.state === 'pending' || r.state === 'undo');
  if (!pending.length) return;
  const sum = state.sync = state.sync || { sent: 0, flagged: 0, refused: [] };
  if (await sendAll(pending, sum)) summarize();
  refresh(); // the stock and the recent sales, as sent
}

// sendAll sends the records in turn; false when it stopped before the end.
// Each is read again before and after it is sent: the pharmacist may undo
// it meanwhile (undoQueued), and then what the server recorded is cancelled.
async function sendAll(pending, sum) {
  for (const r0 of pending) {
    const r = await outbox.get(r0.txn_id);
    if (!r || (r.state !== 'pending' && r.state !== 'undo')) continue;
    if (r.state === 'pending' && r.expires_at && serverNow() > Date.parse(r.expires_at)) {
      await outbox.note(r, 'late_sale_too_old');
      sum.refused.push('late_sale_too_old');
      continue;
    }
    r.attempts += 1;
    let res;
    try {
      res = await api('POST', '/api/v2/outlet/sales', r.body, BACKGROUND);
    } catch (e) {
      await keep(r); // breaker open: the probe resumes
      return false;
    }
    if (res.status === 201 || res.status === 200) {
      const now = await outbox.get(r.txn_id);
      if (r.state === 'undo' || !now || now.state === 'undo') {
        if (!(await cancelSent(res.body && res.body.sale_id, r))) return false;
        continue;
      }
      sum.sent += 1;
      if (res.body && res.body.conflict) sum.flagged += 1;
      await outbox.remove(r.txn_id);
      if (res.body && res.body.outlet && state.outlet) { state.outlet.stock = res.body.outlet.stock; state.outlet.remain_stat = res.body.outlet.remain_stat; renderOutlet(); }
      continue;
    }
    if (res.status === 401) return false;
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      await keep(r);
      scheduleDrain(5000);
      return false;
    }
    if (r.state === 'undo') { await outbox.remove(r.txn_id); continue; } // refused: nothing to cancel
    const code = PM.errorCode(res) || String(res.status);
    sum.refused.push(code);
    await outbox.note(r, code);
  }
  return true;
}

// keep writes a record back after a failed attempt, unless it was undone
// meanwhile (its undo, or its removal, wins).
async function keep(r) {
  const now = await outbox.get(r.txn_id);
  if (now && now.state === 'pending') await outbox.put(r);
}

// cancelSent cancels a sale the server recorded although it was undone on
// the counter; false when the server did not answer (the record stays, as
// an undo, for the next round).
async function cancelSent(saleID, r) {
  let c = null;
  if (saleID) {
    try { c = await api('POST', '/api/v2/outlet/sales/' + encodeURIComponent(saleID) + '/cancel', undefined, BACKGROUND); } catch (e) { c = null; }
  }
  if (saleID && (!c || c.status >= 500 || c.status === 429 || c.status === 408)) {
    await outbox.put(Object.assign({}, r, { state: 'undo' }));
    if (c) scheduleDrain(5000);
    return false;
  }
  await outbox.remove(r.txn_id);
  return true;
}

// summarize shows what the sync since the outbox last emptied did: it
// may take several rounds (the server can fail again in the middle).
function summarize() {
  const s = state.sync;
  if (!s) return;
  outbox.pendingCount(state.outlet && state.outlet.code).then((n) => { if (!n && state.sync === s) state.sync = null; });
  if (!s.sent && !s.refused.length) return;
  const parts = [T('sync.sent', { n: s.sent })];
  if (s.flagged) parts.push(T('sync.flagged', { n: s.flagged }));
  if (s.refused.length) parts.push(T('sync.refused', { n: s.refused.length, reasons: s.refused.map((c) => reasonText(c)).join(', ') }));
  $('sync-summary').textContent = parts.join(' · ');
  $('outbox-card').hidden = false;
}

// ---------- showing the outbox ----------

export async function renderConn() {
  const c = $('conn');
  const n = await outbox.pendingCount(state.outlet && state.outlet.code);
  c.className = 'conn ' + (state.offline ? 'off' : 'ok');
  c.textContent = (state.offline ? T('conn.off') : T('conn.on')) + (n ? ' · ' + T('conn.pending', { n: n }) : '');
}

function outboxItem(r) {
  const li = el('li', { 'class': r.state });
  const when = ' · ' + clock(r.sold_at) + ' · ' + T('n.masks', { n: r.quantity }) + ' · ';
  if (r.state === 'pending' || r.state === 'undo') {
    li.append(el('span', { 'class': 'mark', 'aria-hidden': 'true', text: '⇪ ' }),
      el('span', { 'class': 'masked', text: r.masked || '' }), when + T(r.state === 'undo' ? 'outbox.undo' : 'outbox.pending'));
    return li;
  }
  li.append(el('span', { 'class': 'mark', 'aria-hidden': 'true', text: '✖ ' }),
    (r.masked || '') + when + T('outbox.refused', { reason: reasonText(r.code) }) + ' ');
  const b = el('button', { type: 'button', 'class': 'secondary small', text: T('outbox.dismiss') });
  b.addEventListener('click', async () => { await outbox.remove(r.txn_id); renderOutbox(); focusId(); });
  li.appendChild(b);
  return li;
}

// renderOutbox redraws the list only when it changed, so that a screen
// reader does not hear it again every second.
let outboxKey = '';
export async function renderOutbox() {
  if (!state.outlet) return;
  const rs = await outbox.records(state.outlet.code);
  const key = JSON.stringify(rs.map((r) => [r.txn_id, r.state, r.code])) + $('sync-summary').textContent;
  renderConn();
  if (key === outboxKey) return;
  outboxKey = key;
  $('outbox-card').hidden = rs.length === 0 && !$('sync-summary').textContent;
  $('outbox').replaceChildren(...rs.map(outboxItem));
}
setInterval(() => { if (state.outlet) renderOutbox(); }, 2000);
