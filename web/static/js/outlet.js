// The outlet counter: one decisive action per sale (Enter on a valid ID
// sells), fast failure to an outbox when the server does not answer, and an
// offline life that never loses a handover (DESIGN.md §2, §4.3, §6.2, §6.3).
//
// Privacy: a buyer's ID lives in the form fields and in memory. The outbox in
// IndexedDB holds each pending sale's IDs only sealed to the server's key
// (outbox.js) beside a masked ID. What the counter remembers of today's
// buyers (to catch a second purchase while offline) is in memory and, for a
// reload, encrypted under a non-extractable key; sign-out deletes it.
//
// Modules: outlet-core.js (state, formats, served configuration, results),
// outbox.js (IndexedDB, sealing), outlet-sync.js (offline verdicts, keeping
// and sending the outbox), outlet-manage.js (recent sales, stock forms).

import {
  $, el, PM, T, state, TOKEN_KEY, VIEW_KEY, TIMEOUT, BACKGROUND, PROBE_EVERY, UNDO_MS, DAY_MS,
  ymdOf, weekdayName, serverNow, config, idParse, uuid, show, reasonText, resText, personName,
  setBusy, focusId, selectId
} from './outlet-core.js';
import { available as secure } from './outbox.js';
import {
  loadBuyers, dropBuyers, remember, forget, offlineVerdict, offlineReason,
  queueSale, undoQueued, scheduleDrain, renderConn, renderOutbox
} from './outlet-sync.js';
import { refreshRecent, suspend, resume } from './outlet-manage.js';

// ---------- network ----------

// api sends one request with the fail-fast timeout. A timeout or a
// network error opens the circuit breaker and rejects.
export async function api(method, path, body, timeout) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), timeout || TIMEOUT);
  let r;
  try {
    r = await PM.fetchJSON(path, {
      method: method, body: body, signal: ctl.signal,
      headers: { 'Authorization': 'Bearer ' + state.token }
    });
  } catch (e) {
    clearTimeout(t);
    setOffline();
    throw e;
  }
  clearTimeout(t);
  if (r.status === 401 && state.token) signOut(T('signin.expired'));
  else if (r.status !== 503) setOnline(); // any other answer: the server is there
  return r;
}

export function setOffline() {
  if (!state.token) return;
  if (!state.offline) { state.offline = true; renderConn(); }
  if (!state.probeTimer) state.probeTimer = setTimeout(probe, PROBE_EVERY);
}
function setOnline() {
  if (state.offline) { state.offline = false; renderConn(); poll(); } // the view as it is now, and the outbox sent
  if (state.orphans.length && !state.reconciling) setTimeout(reconcile, 0);
}

// reconcile undoes sales that may have reached the server although the
// page told the pharmacist not to hand the masks over (the answer did not
// come in time and the sale could not be kept offline): the same body is
// sent again (same txn_id: the first answer if it was recorded) and what
// is recorded is cancelled. The bodies stay in memory only.
async function reconcile() {
  if (state.reconciling || !state.token) return;
  state.reconciling = true;
  const list = state.orphans;
  state.orphans = [];
  for (const b of list) {
    try {
      const r = await api('POST', '/api/v2/outlet/sales', b, BACKGROUND);
      if ((r.status === 200 || r.status === 201) && r.body && r.body.sale_id) {
        const c = await api('POST', '/api/v2/outlet/sales/' + encodeURIComponent(r.body.sale_id) + '/cancel', undefined, BACKGROUND);
        if (!c.ok && c.status >= 500) state.orphans.push(b);
      } else if (r.status >= 500 || r.status === 429 || r.status === 408) state.orphans.push(b);
    } catch (e) { state.orphans.push(b); }
  }
  state.reconciling = false;
  poll();
}
// probe is the breaker's background check: one small authenticated GET.
async function probe() {
  state.probeTimer = 0;
  if (!state.token || !state.offline) return;
  let r;
  try { r = await api('GET', '/api/v2/outlet', undefined, BACKGROUND); } catch (e) { return; /* setOffline rescheduled */ }
  if (r.ok && r.body) setView(r.body);
  if (!r.ok && state.offline) state.probeTimer = setTimeout(probe, PROBE_EVERY);
}

// ---------- sign in ----------

function saveSession() {
  if (!state.token) return; // an answer that arrives after sign-out
  try {
    // The service clock's offset too: a sale made after a reload while
    // offline must carry the server's time (--clock may set it to 2020).
    sessionStorage.setItem(VIEW_KEY, JSON.stringify({ outlet: state.outlet, rules: state.rules, offset: serverNow() - Date.now() }));
  } catch (e) { /* full or blocked: only the offline reload suffers */ }
}

function setView(v) {
  if (!state.token) return;
  if (v.now) PM.observeServerTime(v.now);
  state.outlet = v;
  state.cfg = config(v);
  renderOutlet();
  saveSession();
}

async function signIn(token, fromForm) {
  state.token = token;
  $('signin-msg').textContent = fromForm ? T('signin.checking') : '';
  let r;
  try {
    // Typed in, the pharmacist waits on "checking…" as long as the outbox
    // would (at 10 s every sign-in over a 10 s network failed); a reload
    // gives up fast for the counter it saved.
    r = await api('GET', '/api/v2/outlet', undefined, fromForm ? BACKGROUND : TIMEOUT);
  } catch (e) {
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(VIEW_KEY) || 'null'); } catch (e2) { saved = null; }
    if (!fromForm && saved && saved.outlet) {
      // A reload during an outage: the counter works from what sign-in
      // served, sales go to the outbox.
      state.outlet = saved.outlet; state.cfg = config(saved.outlet); state.rules = saved.rules;
      if (typeof saved.offset === 'number') PM.observeServerTime(new Date(Date.now() + saved.offset).toISOString());
      start();
      setOffline();
      return;
    }
    state.token = null;
    $('signin-msg').textContent = T('signin.unreachable');
    return;
  }
  if (r.status === 200 && r.body) {
    sessionStorage.setItem(TOKEN_KEY, token);
    setView(r.body);
    loadRules();
    start();
    return;
  }
  state.token = null;
  $('token').select();
  $('signin-msg').textContent = r.status === 401 ? T('signin.bad') : T('signin.failed', { reason: resText(r) });
}

function start() {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  $('token').value = '';
  renderOutlet();
  renderProxyOptions();
  refreshRecent();
  renderOutbox();
  state.buyersLoaded = loadBuyers();
  scheduleDrain(0);
  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(poll, 10000);
  focusId();
}

function signOut(msg) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(VIEW_KEY);
  state.token = null; state.outlet = null; state.cfg = null; state.rules = null;
  state.buyers = {}; state.last = null; state.offline = false; state.orphans = [];
  dropBuyers();
  clearTimeout(state.probeTimer); state.probeTimer = 0;
  clearInterval(state.pollTimer);
  clearForm();
  $('result').replaceChildren(); $('result').className = 'result';
  $('undo-row').hidden = true;
  $('app').hidden = true; $('signout').hidden = true; $('signin').hidden = false;
  $('outlet-name').textContent = '';
  $('signin-msg').textContent = msg || '';
  $('token').focus();
}

$('signin-form').addEventListener('submit', function (ev) {
  ev.preventDefault();
  var t = $('token').value.trim();
  if (t) signIn(t, true);
});
$('signout').addEventListener('click', function () { signOut(T('signin.signedout')); });

// loadRules fetches this week's rules (public, cacheable): today's for the
// offline weekday check, the week's to show a buyer's weekday.
async function loadRules() {
  const now = serverNow(), today = ymdOf(now);
  const dow = (new Date(Date.parse(today + 'T12:00:00Z')).getUTCDay() + 6) % 7; // Monday 0
  const days = [];
  for (let i = 0; i < 7; i++) days.push(ymdOf(Date.parse(today + 'T12:00:00+09:00') + (i - dow) * DAY_MS));
  // Tomorrow too, when it is in the next week (Sunday night): a counter that
  // loses the server before midnight still knows Monday's weekday rule.
  const tomorrow = ymdOf(Date.parse(today + 'T12:00:00+09:00') + DAY_MS);
  if (days.indexOf(tomorrow) < 0) days.push(tomorrow);
  const rs = await Promise.all(days.map((d) => PM.fetchJSON('/api/v2/rules?date=' + d).then((r) => (r.ok ? r.body : null), () => null)));
  const out = { today: today, days: {}, weekday: {} };
  rs.forEach((r, i) => {
    if (!r) return;
    out.days[days[i]] = r;
    if (i < 5 && r.digits_today) r.digits_today.forEach((dg) => { (out.weekday[dg] = out.weekday[dg] || []).push(days[i]); });
  });
  if (out.days[today] && state.token) { state.rules = out; saveSession(); }
}

// ---------- outlet figures ----------

function statusWord(s) { return T('stat.' + (s || 'unknown')); }

export function renderOutlet() {
  var o = state.outlet;
  if (!o) return;
  if (state.cfg) { // the server's limits, not copies
    $('qty').max = String(state.cfg.qtyMax);
    $('delivery-qty').max = String(state.cfg.deliveryMax);
    $('count-qty').max = String(state.cfg.countMax);
  }
  $('outlet-name').textContent = o.name + ' (' + o.code + ')';
  $('stock').textContent = T('n.masks', { n: o.stock });
  var k = o.suspended ? 'break' : PM.statKey(o.remain_stat);
  var b = el('span', { 'class': 'badge s-' + k });
  b.innerHTML = PM.statusGlyph(k);
  b.appendChild(el('span', { 'class': 'badge-text' }, statusWord(k)));
  $('stat').replaceChildren(b);
  $('sold-today').textContent = T('n.masks', { n: o.sold_today });
  $('suspend').hidden = !!o.suspended;
  $('resume').hidden = !o.suspended;
  $('suspended-note').hidden = !o.suspended;
  renderConn();
}


export function poll() {
  if (!state.token || state.offline) return;
  refresh();
  scheduleDrain(0);
}

// refresh reads the outlet, the day's rules when the day changed, and the
// recent sales. Sending the outbox ends with it, not with poll: poll's
// drain would come straight back, a loop of reads that redrew the recent
// sales under the pharmacist's cursor and overrode the drain's back-off.
export function refresh() {
  if (!state.token || state.offline) return;
  api('GET', '/api/v2/outlet', undefined, BACKGROUND).then((r) => { if (r.ok && r.body) setView(r.body); }, () => {});
  if (!state.rules || state.rules.today !== ymdOf(serverNow())) loadRules();
  refreshRecent();
}


// summaryOf is "1983년생 · 수요일" for a parsed ID.
function summaryOf(v) {
  var s = T('id.born', { year: v.year });
  var r = state.rules;
  if (r) {
    var today = r.days[r.today];
    var wd = r.weekday[v.year % 10];
    if (wd && wd.length) s += ' · ' + wd.map(weekdayName).join(', ');
    else if (today && today.sales_open && !today.rotation) s += ' · ' + T('id.anyday');
  }
  if (v.foreign) s += ' · ' + T('id.foreign');
  return s;
}

function typoText(v) {
  if (v.kind === 'length') return T('typo.length', { n: v.count });
  return T('typo.' + v.kind);
}

function updateSummary() {
  var raw = $('buyer').value, box = $('buyer-summary');
  var v = idParse(raw);
  var n = (raw.match(/\d/g) || []).length;
  if (v.ok) { box.className = 'summary ok'; box.textContent = summaryOf(v); return; }
  // Say what is wrong only once it cannot be a number still being typed.
  if (v.kind === 'chars' || (v.kind !== 'length' && v.kind !== 'empty') || n > 13) {
    box.className = 'summary bad'; box.textContent = typoText(v);
  } else {
    box.className = 'summary'; box.textContent = n ? T('id.count', { n: n }) : '';
  }
}
$('buyer').addEventListener('input', updateSummary);

function setShowDigits(on) {
  var inputs = [$('buyer')].concat(Array.from(document.querySelectorAll('.p-id')));
  // Masked by CSS, never type=password: Chromium takes a password field's
  // value for a password and offers to save a typed ID (the page left with
  // it typed), and once a field has been a password field it stays one.
  inputs.forEach(function (i) { i.classList.toggle('masked', !on); });
  $('show-digits').setAttribute('aria-pressed', on ? 'true' : 'false');
  state.showDigits = on;
}
$('show-digits').addEventListener('click', function () { setShowDigits(!state.showDigits); focusId(); });

// ---------- proxies ----------

function renderProxyOptions() {
  var cats = (state.cfg && state.cfg.categories) || [];
  $('proxies').hidden = cats.length === 0;
  Array.prototype.forEach.call(document.querySelectorAll('.p-cat'), function (sel) {
    var cur = sel.value;
    sel.replaceChildren.apply(sel, cats.map(function (c) { return el('option', { value: c, text: T('cat.' + c) }); }));
    if (cats.indexOf(cur) >= 0) sel.value = cur;
  });
}

var proxySeq = 0;
function addProxy() {
  var cats = (state.cfg && state.cfg.categories) || [];
  if (!cats.length || document.querySelectorAll('.proxy-row').length >= state.cfg.maxProxies) return;
  var n = ++proxySeq;
  var sel = el('select', { id: 'pcat' + n, 'class': 'p-cat' });
  cats.forEach(function (c) { sel.appendChild(el('option', { value: c, text: T('cat.' + c) })); });
  var id = el('input', { id: 'pid' + n, 'class': state.showDigits ? 'p-id' : 'p-id masked', type: 'text', inputmode: 'numeric', autocomplete: 'off', maxlength: '14', spellcheck: 'false', 'aria-describedby': 'psum' + n });
  var qty = el('input', { id: 'pqty' + n, 'class': 'p-qty', type: 'number', min: '1', max: String(state.cfg.qtyMax), value: '1', inputmode: 'numeric' });
  var rm = el('button', { type: 'button', 'class': 'secondary p-rm', text: T('proxy.remove') });
  var sum = el('p', { id: 'psum' + n, 'class': 'p-sum' });
  var row = el('div', { 'class': 'proxy-row' },
    el('div', { 'class': 'field' }, el('label', { 'for': 'pid' + n, 'class': 'p-label' }), id),
    el('div', { 'class': 'field' }, el('label', { 'for': 'pcat' + n, text: T('proxy.cat') }), sel),
    el('div', { 'class': 'field qty' }, el('label', { 'for': 'pqty' + n, text: T('proxy.qty') }), qty),
    rm, sum);
  rm.addEventListener('click', function () { row.remove(); numberProxies(); focusId(); });
  id.addEventListener('input', function () {
    var v = idParse(id.value);
    sum.textContent = v.ok ? summaryOf(v) : ((id.value.match(/\d/g) || []).length >= 13 ? typoText(v) : '');
  });
  [id, qty, sel].forEach(function (x) { x.addEventListener('keydown', onSaleKey); });
  $('proxy-rows').appendChild(row);
  numberProxies();
  id.focus();
}

// numberProxies numbers the rows as the messages do (by position), again
// after one is removed: "proxy 1" in a refusal is the first row on screen.
// Each Remove button says whose row it removes.
function numberProxies() {
  document.querySelectorAll('.proxy-row').forEach(function (r, i) {
    r.querySelector('.p-label').textContent = T('proxy.id', { n: i + 1 });
    r.querySelector('.p-rm').setAttribute('aria-label', T('proxy.remove.n', { n: i + 1 }));
  });
}
$('add-proxy').addEventListener('click', addProxy);

function proxies() {
  return Array.from(document.querySelectorAll('.proxy-row')).map(function (r) {
    return {
      input: r.querySelector('.p-id'),
      id: r.querySelector('.p-id').value.trim(),
      category: r.querySelector('.p-cat').value,
      quantity: parseInt(r.querySelector('.p-qty').value, 10)
    };
  });
}

export function clearForm() {
  $('buyer').value = '';
  $('proxy-rows').replaceChildren();
  $('qty').value = String(defaultQty());
  updateSummary();
}

function defaultQty() {
  var r = state.rules && state.rules.days[state.rules.today];
  var q = r && r.weekly_quota;
  var max = state.cfg ? state.cfg.qtyMax : Infinity;
  return q != null && q > 0 ? Math.min(q, max) : Math.min(2, max);
}

// ---------- undo ----------

export function armUndo(last) {
  state.last = last;
  clearInterval(state.undoTimer);
  $('undo-row').hidden = false;
  var tick = function () {
    var left = Math.ceil((last.at + UNDO_MS - Date.now()) / 1000);
    if (left <= 0 || state.last !== last) { disarmUndo(); return; }
    $('undo-left').textContent = T('undo.left', { n: left });
  };
  tick();
  state.undoTimer = setInterval(tick, 1000);
}
function disarmUndo() {
  clearInterval(state.undoTimer);
  $('undo-row').hidden = true;
  state.last = null;
}

function undo() {
  var last = state.last;
  if (!last || Date.now() - last.at > UNDO_MS || state.busy) return false;
  disarmUndo();
  if (last.queued) {
    undoQueued(last).then(focusId, focusId);
    return true;
  }
  cancelLast(last);
  return true;
}

// busyCall sends one request with the sale form busy (keys ignored); null
// when the server did not answer.
async function busyCall(method, path, body) {
  setBusy(true);
  try {
    return await api(method, path, body);
  } catch (e) {
    return null;
  } finally {
    setBusy(false);
  }
}

async function cancelLast(last) {
  const r = await busyCall('POST', '/api/v2/outlet/sales/' + encodeURIComponent(last.sale_id) + '/cancel');
  if (!r) {
    show('bad', T('undo.failed'), [T('undo.offline')]);
    focusId();
    return;
  }
  if (r.ok) {
    forget(last.ids, last.qtys);
    show('info', T('undo.done', { n: last.total }), r.body && r.body.outlet ? [T('stock.now', { n: r.body.outlet.stock })] : []);
    poll();
  } else show('bad', T('undo.failed'), [resText(r)]);
  focusId();
}
$('undo').addEventListener('click', undo);

// collect validates the form in the browser; it returns the sale or null
// (having shown why and selected the field to retype).
function collect() {
  var v = idParse($('buyer').value);
  var qty = parseInt($('qty').value, 10);
  var ps = proxies();
  var max = state.cfg.qtyMax;
  if (!v.ok) {
    show('typo', typoText(v), [T('typo.retype')]);
    updateSummary();
    selectId();
    return null;
  }
  if (!(qty >= 0 && qty <= max) || (qty === 0 && ps.length === 0)) {
    show('typo', T('typo.qty', { max: max }), []);
    $('qty').select();
    return null;
  }
  var persons = [{ role: 'buyer', v: v, qty: qty }];
  for (var i = 0; i < ps.length; i++) {
    var pv = idParse(ps[i].id);
    if (!pv.ok) {
      show('typo', T('who.proxy', { n: i + 1, cat: T('cat.' + ps[i].category) }) + ': ' + typoText(pv), [T('typo.retype')]);
      ps[i].input.focus(); ps[i].input.select();
      return null;
    }
    if (!(ps[i].quantity >= 1 && ps[i].quantity <= max)) {
      show('typo', T('typo.pqty', { n: i + 1, max: max }), []);
      return null;
    }
    persons.push({ role: 'proxy', v: pv, qty: ps[i].quantity, category: ps[i].category });
  }
  var body = {
    txn_id: uuid(), buyer: v.digits, quantity: qty,
    on_behalf_of: ps.map(function (p, i) { return { id: persons[i + 1].v.digits, category: p.category, quantity: p.quantity }; })
  };
  var total = persons.reduce(function (s, p) { return s + p.qty; }, 0);
  return { v: v, body: body, persons: persons, total: total, cats: ps.map(function (p) { return p.category; }) };
}

// repeatEnter: an Enter on the emptied field while the last sale's result
// is on screen and can still be undone (a double press, a bouncing key).
// It leaves that result there: "enter the buyer's number" would hide the
// confirmation the masks are handed over on.
function repeatEnter() {
  var r = $('result').classList;
  return !$('buyer').value && !$('proxy-rows').children.length && state.last !== null &&
    (r.contains('ok') || r.contains('queued'));
}

async function sell() {
  if (state.busy || !state.outlet) return;
  if (repeatEnter()) { focusId(); return; }
  const sale = collect();
  if (!sale) return;
  sale.soldAt = new Date(serverNow()).toISOString(); // when the masks change hands
  if (state.offline) { queueSale(sale, false); return; }
  show('wait', T('sale.sending'), []);
  const r = await busyCall('POST', '/api/v2/outlet/sales', sale.body);
  if (!r) {
    // No answer in time: the request may have reached the server; the
    // outbox retries the same txn_id, which the server answers once.
    queueSale(sale, true);
    return;
  }
  if (r.status === 201 || r.status === 200) { sold(sale, r.body); return; }
  // Only overloaded, 429 and 408 say the sale was not taken: a 503
  // store_unavailable may come with the sale queued for a commit that still
  // happens (ledger/batch.go), so it is kept as possibly recorded.
  if (r.status === 429 || r.status === 408 || (r.status === 503 && PM.errorCode(r) === 'overloaded')) { setOffline(); queueSale(sale, false); return; }
  if (r.status >= 500) { setOffline(); queueSale(sale, true); return; }
  refused(sale, r);
}

function sold(sale, rec) {
  if (rec && rec.sold_at) PM.observeServerTime(rec.sold_at);
  remember(sale.persons.map(function (p) { return p.v.digits; }), sale.persons.map(function (p) { return p.qty; }));
  var lines = [];
  var pi = 0;
  (rec && rec.items || []).forEach(function (it) {
    var who = it.role === 'buyer' ? T('who.buyer') : personName('proxy', ++pi, sale.cats);
    lines.push(who + ' ' + T('n.masks', { n: it.quantity }) + (it.remaining_this_week != null ? ' · ' + T('sale.remaining', { n: it.remaining_this_week }) : ''));
  });
  if (rec && rec.outlet && state.outlet) {
    state.outlet.stock = rec.outlet.stock;
    state.outlet.remain_stat = rec.outlet.remain_stat;
    state.outlet.sold_today += sale.total;
    renderOutlet();
    lines.push(T('stock.now', { n: rec.outlet.stock }));
  }
  show('ok', T('sale.done', { n: sale.total, year: sale.v.year }), lines);
  clearForm();
  armUndo({ sale_id: rec && rec.sale_id, total: sale.total, at: Date.now(), queued: false,
    ids: sale.persons.map(function (p) { return p.v.digits; }), qtys: sale.persons.map(function (p) { return p.qty; }) });
  focusId();
  refreshRecent();
}

// refused shows who was refused, why, and when they may buy next: the
// sale's refusal carries the check's verdict on every person.
function refused(sale, r) {
  var code = PM.errorCode(r);
  var ps = r.body && r.body.error && r.body.error.persons;
  var lines = [], pi = 0;
  (ps || []).forEach(function (p) {
    var i = p.role === 'buyer' ? 0 : ++pi;
    if (!p.eligible) lines.push(el('li', { 'class': 'no' }, personName(p.role, i, sale.cats) + ': ' + reasonText(p.reason, p.next_date)));
  });
  if (!lines.length) lines.push(resText(r));
  show('bad', code === 'sales_suspended' ? T('sale.suspended') : T('sale.refused'), lines);
  if (code === 'sales_suspended' && state.outlet && !state.outlet.suspended) { state.outlet.suspended = true; renderOutlet(); }
  selectId();
}

// ---------- check (optional) ----------

async function check() {
  if (state.busy || !state.outlet) return;
  var sale = collect();
  if (!sale) return;
  if (state.offline) {
    await loadBuyers(); // another tab of this counter may have sold since
    var off = offlineVerdict(sale.persons);
    show(off ? 'bad' : 'info', off ? T('sale.refused') : T('check.offline.ok'), off ? [offlineReason(off, sale)] : [T('check.offline.note')]);
    focusId();
    return;
  }
  const body = Object.assign({}, sale.body); delete body.txn_id;
  show('wait', T('check.sending'), []);
  const r = await busyCall('POST', '/api/v2/outlet/check', body);
  if (!r) {
    show('info', T('check.unreachable'), [T('check.offline.note')]);
    focusId();
    return;
  }
  if (!r.ok || !r.body) { show('bad', T('check.failed'), [resText(r)]); selectId(); return; }
  if (r.body.reason) { show('bad', T('sale.refused'), [reasonText(r.body.reason)]); selectId(); return; }
  var lines = [], pi = 0;
  (r.body.persons || []).forEach(function (p) {
    var i = p.role === 'buyer' ? 0 : ++pi;
    lines.push(el('li', { 'class': p.eligible ? 'yes' : 'no' }, personName(p.role, i, sale.cats) + ': ' +
      (p.eligible ? T('check.may') : reasonText(p.reason, p.next_date)) +
      (p.remaining_this_week != null ? ' · ' + T('sale.remaining', { n: p.remaining_this_week }) : '')));
  });
  show(r.body.eligible ? 'info' : 'bad', r.body.eligible ? T('check.ok') : T('sale.refused'), lines);
  if (r.body.eligible) focusId(); else selectId();
}

// ---------- keys ----------

// shortcutKey is the letter of a shortcut: the key's own letter, or the
// key's position when Alt makes it type something else (a Mac's Option+P
// types "π").
function shortcutKey(ev) {
  var k = (ev.key || '').toLowerCase();
  if (/^[a-z]$/.test(k) || !/^Key[A-Z]$/.test(ev.code || '')) return k;
  return ev.code.slice(3).toLowerCase();
}

function onSaleKey(ev) {
  if (ev.key !== 'Enter' || ev.isComposing) return;
  ev.preventDefault();
  if (state.busy) return; // one decisive action: a second Enter is ignored
  sell();
}
$('buyer').addEventListener('keydown', onSaleKey);
$('qty').addEventListener('keydown', onSaleKey);
$('sale-form').addEventListener('submit', function (ev) { ev.preventDefault(); sell(); });
$('check').addEventListener('click', check);

document.addEventListener('keydown', function (ev) {
  if ($('app').hidden || $('confirm').open) return;
  var k = shortcutKey(ev);
  if (ev.key === 'Escape' || ((ev.ctrlKey || ev.metaKey) && k === 'z' && document.activeElement === $('buyer') && !$('buyer').value)) {
    if (undo()) { ev.preventDefault(); return; }
    if (ev.key === 'Escape' && document.activeElement === $('buyer') && $('buyer').value) { ev.preventDefault(); clearForm(); }
    return;
  }
  if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
  var act = { v: function () { setShowDigits(!state.showDigits); focusId(); }, k: check, p: addProxy,
    i: function () { $('delivery-qty').focus(); }, c: function () { $('count-qty').focus(); },
    s: function () { (state.outlet && state.outlet.suspended ? resume : suspend)(); } }[k];
  if (act) { ev.preventDefault(); act(); }
});

// ---------- start ----------

if (!secure) $('insecure').hidden = false;
if (secure && navigator.serviceWorker) {
  navigator.serviceWorker.register('/outlet/sw.js', { scope: '/outlet' }).catch(function () {});
}
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved, false);
else { $('signin').hidden = false; $('token').focus(); }
window.addEventListener('online', () => { if (state.offline) probe(); });