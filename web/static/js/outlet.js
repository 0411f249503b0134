// The outlet counter: one decisive action per sale (Enter on a valid ID
// sells), fast failure to an outbox when the server does not answer, and an
// offline life that never loses a handover (DESIGN.md §2, §4.3, §6.2, §6.3).
//
// Privacy: a buyer's ID lives in the form fields and in memory. The outbox in
// IndexedDB holds each pending sale's IDs only sealed to the server's key
// (ECDH P-256 + AES-GCM; the browser cannot open it again) beside a masked
// ID. What the counter remembers of today's buyers (to catch a second
// purchase while offline) is in memory and, for a reload, encrypted under a
// non-extractable key; sign-out deletes it.
'use strict';

(function () {
  var PM = window.PM, el = PM.el;
  var $ = function (id) { return document.getElementById(id); };
  var TOKEN_KEY = 'publicmask.outlet.token'; // sessionStorage: this tab only
  var VIEW_KEY = 'publicmask.outlet.view';   // the outlet and rules, for a reload while offline
  var TIMEOUT = 2500;     // a request unanswered this long counts as offline
  var PROBE_EVERY = 2000; // the circuit breaker's background probe
  var UNDO_MS = 10000;
  var DAY_MS = 86400000;

  // ---------- language and messages ----------

  // Language, catalogue look-up and the page's static texts: the public
  // pages' i18n.js (one language choice for every page).
  var I18N = window.PM_I18N, LANG = I18N.lang, LOCALE = I18N.locale, T = I18N.T;
  I18N.apply();

  var TZ = 'Asia/Seoul';
  var fmtTime = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  var fmtDay = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, month: 'short', day: 'numeric', weekday: 'short' });
  var fmtYMD = new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' });
  var fmtWeekday = new Intl.DateTimeFormat(LOCALE, { timeZone: 'UTC', weekday: 'long' });
  function clock(iso) { var t = Date.parse(iso); return isNaN(t) ? '' : fmtTime.format(t); }
  function day(ymd) { var t = Date.parse(ymd + 'T12:00:00+09:00'); return isNaN(t) ? ymd : fmtDay.format(t); }
  function ymdOf(ms) { return fmtYMD.format(ms); }
  function weekdayName(ymd) { return fmtWeekday.format(Date.parse(ymd + 'T12:00:00Z')); }

  // ---------- state ----------

  var secure = !!(window.isSecureContext && window.crypto && crypto.subtle && window.indexedDB);
  var state = {
    token: null, outlet: null, cfg: null,
    rules: null,          // {today, days: {ymd: rules}, weekday: {digit: [ymd]}}
    busy: false,          // a sale or check in flight: keys are ignored
    offline: false,       // circuit breaker open
    probeTimer: 0, pollTimer: 0, drainTimer: 0, draining: false,
    last: null,           // the last sale, for undo: {sale_id | txn_id, total, at, queued}
    undoTimer: 0,
    buyers: {},           // today's buyers seen by this counter: {id: {day, purchases, qty}}
    buyersLoaded: null,   // the promise of loading them after a reload
    pendingForm: {},
    orphans: [],          // sale bodies that may have reached the server but were not handed over
    reconciling: false,
    sync: null            // the summary of the running outbox round
  };

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.from(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  // ---------- served configuration ----------

  // config reads what the server serves with the outlet: the seal key, the
  // quantity limit, the proxy categories the rules allow, the ID rule and
  // the late window.
  function config(v) {
    var lim = v.limits || {};
    return {
      sealKey: v.seal_key || '',
      qtyMax: lim.max_quantity_per_person || 10,
      maxProxies: lim.max_proxies || 10,
      categories: (v.proxy_categories || []).map(function (c) { return typeof c === 'string' ? c : c.name; }).filter(Boolean),
      idRule: v.id_check || null,
      lateMs: (lim.late_window_seconds || 86400) * 1000
    };
  }

  function idParse(s) { return window.IDCheck.parse(s, state.cfg && state.cfg.idRule); }

  // ---------- network ----------

  // api sends one request with the fail-fast timeout. A timeout or a
  // network error opens the circuit breaker and rejects.
  function api(method, path, body, timeout) {
    var ctl = new AbortController();
    var t = setTimeout(function () { ctl.abort(); }, timeout || TIMEOUT);
    return PM.fetchJSON(path, {
      method: method, body: body, signal: ctl.signal,
      headers: { 'Authorization': 'Bearer ' + state.token }
    }).then(function (r) {
      clearTimeout(t);
      if (r.status === 401 && state.token) { signOut(T('signin.expired')); }
      else if (r.status !== 503) setOnline(); // any other answer: the server is there
      return r;
    }, function (e) { clearTimeout(t); setOffline(); throw e; });
  }

  function setOffline() {
    if (!state.token) return;
    if (!state.offline) { state.offline = true; renderConn(); }
    if (!state.probeTimer) state.probeTimer = setTimeout(probe, PROBE_EVERY);
  }
  function setOnline() {
    if (state.offline) { state.offline = false; renderConn(); scheduleDrain(0); }
    if (state.orphans.length && !state.reconciling) setTimeout(reconcile, 0);
  }

  // reconcile undoes sales that may have reached the server although the
  // page told the pharmacist not to hand the masks over (the answer did not
  // come in time and the sale could not be kept offline): the same body is
  // sent again (same txn_id: the first answer if it was recorded) and what
  // is recorded is cancelled. The bodies stay in memory only.
  function reconcile() {
    if (state.reconciling || !state.token) return;
    state.reconciling = true;
    var list = state.orphans;
    state.orphans = [];
    var keep = function (b) { state.orphans.push(b); };
    list.reduce(function (p, b) {
      return p.then(function () {
        return api('POST', '/api/v2/outlet/sales', b).then(function (r) {
          if ((r.status === 200 || r.status === 201) && r.body && r.body.sale_id) {
            return api('POST', '/api/v2/outlet/sales/' + encodeURIComponent(r.body.sale_id) + '/cancel').then(function (c) {
              if (!c.ok && c.status >= 500) keep(b);
            }, function () { keep(b); });
          }
          if (r.status >= 500 || r.status === 429 || r.status === 408) keep(b);
        }, function () { keep(b); });
      });
    }, Promise.resolve()).then(function () {
      state.reconciling = false;
      poll();
    });
  }
  // probe is the breaker's background check: one small authenticated GET.
  function probe() {
    state.probeTimer = 0;
    if (!state.token || !state.offline) return;
    api('GET', '/api/v2/outlet').then(function (r) {
      if (r.ok && r.body) setView(r.body);
      if (!r.ok && state.offline) state.probeTimer = setTimeout(probe, PROBE_EVERY);
    }, function () { /* setOffline rescheduled */ });
  }

  function serverNow() { return PM.serverNow(); }

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

  function signIn(token, fromForm) {
    state.token = token;
    $('signin-msg').textContent = fromForm ? T('signin.checking') : '';
    return api('GET', '/api/v2/outlet', undefined, fromForm ? 10000 : TIMEOUT).then(function (r) {
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
    }, function () {
      var saved = null;
      try { saved = JSON.parse(sessionStorage.getItem(VIEW_KEY) || 'null'); } catch (e) { saved = null; }
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
    });
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
  function loadRules() {
    var now = serverNow(), today = ymdOf(now);
    var dow = (new Date(Date.parse(today + 'T12:00:00Z')).getUTCDay() + 6) % 7; // Monday 0
    var days = [];
    for (var i = 0; i < 7; i++) days.push(ymdOf(Date.parse(today + 'T12:00:00+09:00') + (i - dow) * DAY_MS));
    return Promise.all(days.map(function (d) {
      return PM.fetchJSON('/api/v2/rules?date=' + d).then(function (r) { return r.ok ? r.body : null; }, function () { return null; });
    })).then(function (rs) {
      var out = { today: today, days: {}, weekday: {} };
      rs.forEach(function (r, i) {
        if (!r) return;
        out.days[days[i]] = r;
        if (i < 5 && r.digits_today) r.digits_today.forEach(function (dg) { (out.weekday[dg] = out.weekday[dg] || []).push(days[i]); });
      });
      if (out.days[today] && state.token) { state.rules = out; saveSession(); }
    });
  }

  // ---------- outlet figures ----------

  function statusWord(s) { return T('stat.' + (s || 'unknown')); }

  function renderOutlet() {
    var o = state.outlet;
    if (!o) return;
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

  function renderConn() {
    var c = $('conn');
    countPending().then(function (n) {
      c.className = 'conn ' + (state.offline ? 'off' : 'ok');
      c.textContent = (state.offline ? T('conn.off') : T('conn.on')) + (n ? ' · ' + T('conn.pending', { n: n }) : '');
    });
  }

  function poll() {
    if (!state.token || state.offline) return;
    api('GET', '/api/v2/outlet').then(function (r) {
      if (r.ok && r.body) setView(r.body);
    }, function () {});
    if (!state.rules || state.rules.today !== ymdOf(serverNow())) loadRules();
    refreshRecent();
    scheduleDrain(0);
  }

  // ---------- the ID field ----------

  function focusId() {
    var b = $('buyer');
    if (!$('app').hidden && document.activeElement !== b) b.focus();
  }
  function selectId() { var b = $('buyer'); b.focus(); b.select(); }

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
    inputs.forEach(function (i) { i.type = on ? 'text' : 'password'; });
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
    var id = el('input', { id: 'pid' + n, 'class': 'p-id', type: state.showDigits ? 'text' : 'password', inputmode: 'numeric', autocomplete: 'off', maxlength: '14', spellcheck: 'false', 'aria-describedby': 'psum' + n });
    var qty = el('input', { id: 'pqty' + n, 'class': 'p-qty', type: 'number', min: '1', max: String(state.cfg.qtyMax), value: '1', inputmode: 'numeric' });
    var rm = el('button', { type: 'button', 'class': 'secondary p-rm', text: T('proxy.remove') });
    var sum = el('p', { id: 'psum' + n, 'class': 'p-sum' });
    var row = el('div', { 'class': 'proxy-row' },
      el('div', { 'class': 'field' }, el('label', { 'for': 'pid' + n, text: T('proxy.id', { n: document.querySelectorAll('.proxy-row').length + 1 }) }), id),
      el('div', { 'class': 'field' }, el('label', { 'for': 'pcat' + n, text: T('proxy.cat') }), sel),
      el('div', { 'class': 'field qty' }, el('label', { 'for': 'pqty' + n, text: T('proxy.qty') }), qty),
      rm, sum);
    rm.addEventListener('click', function () { row.remove(); focusId(); });
    id.addEventListener('input', function () {
      var v = idParse(id.value);
      sum.textContent = v.ok ? summaryOf(v) : ((id.value.match(/\d/g) || []).length >= 13 ? typoText(v) : '');
    });
    [id, qty, sel].forEach(function (x) { x.addEventListener('keydown', onSaleKey); });
    $('proxy-rows').appendChild(row);
    id.focus();
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

  function clearForm() {
    $('buyer').value = '';
    $('proxy-rows').replaceChildren();
    $('qty').value = String(defaultQty());
    updateSummary();
  }

  function defaultQty() {
    var r = state.rules && state.rules.days[state.rules.today];
    var q = r && r.weekly_quota;
    var max = state.cfg ? state.cfg.qtyMax : 10;
    return q != null && q > 0 ? Math.min(q, max) : Math.min(2, max);
  }

  // ---------- results ----------

  function show(kind, title, lines) {
    var box = $('result');
    box.className = 'result ' + kind;
    var icon = { ok: '✔', bad: '✖', typo: '⚠', wait: '⏳', queued: '⇪', info: 'ℹ' }[kind] || '';
    var ul = el('ul');
    (lines || []).forEach(function (l) { ul.appendChild(typeof l === 'string' ? el('li', { text: l }) : l); });
    box.replaceChildren(el('p', { 'class': 'result-title' },
      el('span', { 'class': 'result-icon', 'aria-hidden': 'true', text: icon }), el('span', { text: title })), ul);
  }

  function reasonText(code, next) {
    var t = T('reason.' + code);
    if (t === 'reason.' + code) t = T('reason.other', { code: code || '?' });
    if (next) t += ' · ' + T('reason.next', { date: day(next) });
    return t;
  }
  function resText(r) {
    var c = PM.errorCode(r);
    return c ? reasonText(c) : T('reason.status', { status: r.status });
  }

  function personName(role, i, cats) {
    if (role === 'buyer') return T('who.buyer');
    return T('who.proxy', { n: i, cat: T('cat.' + (cats[i - 1] || '')) });
  }

  // ---------- undo ----------

  function armUndo(last) {
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
      tx('readwrite', function (s) { return s.get(last.txn_id); }).then(function (rec) {
        if (rec && rec.state === 'pending') {
          return tx('readwrite', function (s) { return s.delete(last.txn_id); }).then(function () {
            forget(last.ids, last.qtys);
            show('info', T('undo.done', { n: last.total }), [T('undo.queued')]);
            renderOutbox();
          });
        }
        show('bad', T('undo.sent'), []);
      }).then(focusId, focusId);
      return true;
    }
    state.busy = true;
    setBusy(true);
    api('POST', '/api/v2/outlet/sales/' + encodeURIComponent(last.sale_id) + '/cancel').then(function (r) {
      state.busy = false; setBusy(false);
      if (r.ok) {
        forget(last.ids, last.qtys);
        show('info', T('undo.done', { n: last.total }), r.body && r.body.outlet ? [T('stock.now', { n: r.body.outlet.stock })] : []);
        poll();
      } else show('bad', T('undo.failed'), [resText(r)]);
      focusId();
    }, function () {
      state.busy = false; setBusy(false);
      show('bad', T('undo.failed'), [T('undo.offline')]);
      focusId();
    });
    return true;
  }
  $('undo').addEventListener('click', undo);

  // ---------- today's buyers (memory only) ----------

  // Today's buyers survive a reload (an outage is when a pharmacist
  // reloads) only encrypted under a non-extractable AES-GCM key that this
  // browser keeps beside them: the page can use the key, nobody can export
  // it, and no hash of an ID is ever stored (DESIGN.md §2). Sign-out deletes
  // both.
  function memoKey() {
    return tx('readonly', function (s) { return s.get('key'); }, 'memo').then(function (k) {
      if (k) return k;
      return crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']).then(function (nk) {
        return tx('readwrite', function (s) { return s.put(nk, 'key'); }, 'memo').then(function () { return nk; });
      });
    });
  }
  function saveBuyers() {
    if (!secure || !state.outlet) return;
    var code = state.outlet.code, today = ymdOf(serverNow()), keep = {};
    Object.keys(state.buyers).forEach(function (id) { if (state.buyers[id].day === today) keep[id] = state.buyers[id]; });
    var iv = crypto.getRandomValues(new Uint8Array(12));
    memoKey().then(function (k) {
      return crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv, additionalData: new TextEncoder().encode(code) }, k,
        new TextEncoder().encode(JSON.stringify(keep)));
    }).then(function (ct) {
      return tx('readwrite', function (s) { return s.put({ outlet: code, iv: iv, ct: new Uint8Array(ct) }, 'buyers'); }, 'memo');
    }).catch(function () { /* memory still holds them */ });
  }
  function loadBuyers() {
    if (!secure || !state.outlet) return Promise.resolve();
    var code = state.outlet.code;
    return tx('readonly', function (s) { return s.get('buyers'); }, 'memo').then(function (rec) {
      if (!rec || rec.outlet !== code) return;
      return memoKey().then(function (k) {
        return crypto.subtle.decrypt({ name: 'AES-GCM', iv: rec.iv, additionalData: new TextEncoder().encode(code) }, k, rec.ct);
      }).then(function (pt) {
        var m = JSON.parse(new TextDecoder().decode(pt)), today = ymdOf(serverNow());
        Object.keys(m).forEach(function (id) { if (m[id].day === today && !state.buyers[id]) state.buyers[id] = m[id]; });
      });
    }).catch(function () { /* a lost key: memory only from now on */ });
  }
  function dropBuyers() {
    return tx('readwrite', function (s) { s.delete('buyers'); return s.delete('key'); }, 'memo').catch(function () {});
  }

  function remember(ids, qtys) {
    var today = ymdOf(serverNow());
    ids.forEach(function (id, i) {
      var b = state.buyers[id];
      if (!b || b.day !== today) b = state.buyers[id] = { day: today, purchases: 0, qty: 0 };
      b.purchases += 1; b.qty += qtys[i];
    });
    saveBuyers();
  }
  function forget(ids, qtys) {
    (ids || []).forEach(function (id, i) {
      var b = state.buyers[id];
      if (b) { b.purchases -= 1; b.qty -= qtys[i]; if (b.purchases <= 0) delete state.buyers[id]; }
    });
    saveBuyers();
  }

  // offlineVerdict applies what the counter knows without the server: the
  // day's rule by birth year (from the rules served at sign-in) and this
  // counter's own sales today. persons: [{v, qty, role}]. It returns the first
  // refusal or null.
  function offlineVerdict(persons) {
    var r = state.rules && state.rules.days[ymdOf(serverNow())];
    var today = ymdOf(serverNow());
    for (var i = 0; i < persons.length; i++) {
      var p = persons[i];
      if (p.qty <= 0) continue;
      if (r) {
        if (!r.sales_open) return { i: i, code: 'sales_closed' };
        if (r.digits_today && r.digits_today.indexOf(p.v.year % 10) < 0) {
          var wd = state.rules.weekday[p.v.year % 10];
          return { i: i, code: 'not_eligible_today', days: wd };
        }
      }
      var b = state.buyers[p.v.digits];
      if (b && b.day === today) {
        var per = r && r.purchases_per_week, quota = r && r.weekly_quota;
        if ((per != null && b.purchases >= per) || (quota != null && b.qty + p.qty > quota) || per == null) {
          return { i: i, code: 'seen_today' };
        }
      }
    }
    return null;
  }

  // ---------- sell ----------

  function setBusy(on) {
    $('buyer').readOnly = on;
    $('sale-form').setAttribute('aria-busy', on ? 'true' : 'false');
  }

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

  function sell() {
    if (state.busy || !state.outlet) return;
    var sale = collect();
    if (!sale) return;
    sale.soldAt = new Date(serverNow()).toISOString(); // when the masks change hands
    if (state.offline) { queueSale(sale, false); return; }
    state.busy = true;
    setBusy(true);
    show('wait', T('sale.sending'), []);
    api('POST', '/api/v2/outlet/sales', sale.body).then(function (r) {
      if (r.status === 201 || r.status === 200) { done(); sold(sale, r.body); return; }
      if (r.status === 503 || r.status === 429 || r.status === 408) { done(); setOffline(); queueSale(sale, false); return; }
      if (r.status >= 500) { done(); setOffline(); queueSale(sale, true); return; }
      refused(sale, r).then(done, done);
    }, function () {
      // No answer in time: the request may have reached the server; the
      // outbox retries the same txn_id, which the server answers once.
      done();
      queueSale(sale, true);
    });
    function done() { state.busy = false; setBusy(false); }
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
    return Promise.resolve();
  }

  // ---------- check (optional) ----------

  function check() {
    if (state.busy || !state.outlet) return;
    var sale = collect();
    if (!sale) return;
    if (state.offline) {
      var off = offlineVerdict(sale.persons);
      show(off ? 'bad' : 'info', off ? T('sale.refused') : T('check.offline.ok'), off ? [offlineReason(off, sale)] : [T('check.offline.note')]);
      focusId();
      return;
    }
    var body = Object.assign({}, sale.body); delete body.txn_id;
    state.busy = true; setBusy(true);
    show('wait', T('check.sending'), []);
    api('POST', '/api/v2/outlet/check', body).then(function (r) {
      state.busy = false; setBusy(false);
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
    }, function () {
      state.busy = false; setBusy(false);
      show('info', T('check.unreachable'), [T('check.offline.note')]);
      focusId();
    });
  }

  function offlineReason(off, sale) {
    var who = personName(sale.persons[off.i].role, off.i, sale.cats) + ': ';
    if (off.code === 'seen_today') return who + T('offline.seen');
    if (off.code === 'not_eligible_today') {
      return who + T('reason.not_eligible_today') + (off.days && off.days.length ? ' · ' + T('offline.days', { days: off.days.map(weekdayName).join(', ') }) : '');
    }
    return who + reasonText(off.code);
  }

  // ---------- keys ----------

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
    var k = ev.key.toLowerCase();
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

  // ---------- outbox (IndexedDB, sealed) ----------

  var dbp = null;
  function db() {
    if (!dbp) dbp = new Promise(function (res, rej) {
      var rq = indexedDB.open('publicmask-counter', 2);
      rq.onupgradeneeded = function () {
        var names = rq.result.objectStoreNames;
        if (!names.contains('outbox')) rq.result.createObjectStore('outbox', { keyPath: 'txn_id' });
        if (!names.contains('memo')) rq.result.createObjectStore('memo');
      };
      rq.onsuccess = function () { res(rq.result); };
      rq.onerror = function () { rej(rq.error); };
    });
    return dbp;
  }
  function tx(mode, fn, store) {
    if (!secure) return Promise.resolve(undefined);
    store = store || 'outbox';
    return db().then(function (d) {
      return new Promise(function (res, rej) {
        var t = d.transaction(store, mode), out;
        out = fn(t.objectStore(store));
        t.oncomplete = function () { res(out && 'result' in out ? out.result : undefined); };
        t.onerror = function () { rej(t.error); };
      });
    });
  }
  function allRecords() {
    return tx('readonly', function (s) { return s.getAll(); }).then(function (rs) {
      var code = state.outlet && state.outlet.code;
      return (rs || []).filter(function (r) { return r.outlet === code; })
        .sort(function (a, b) { return a.sold_at < b.sold_at ? -1 : 1; });
    }).catch(function () { return []; });
  }
  function countPending() {
    if (!state.outlet) return Promise.resolve(0);
    return allRecords().then(function (rs) { return rs.filter(function (r) { return r.state === 'pending'; }).length; });
  }

  function b64u(buf) {
    var s = '', b = new Uint8Array(buf);
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function unb64u(s) {
    var bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // seal encrypts the IDs of a sale to the server (seal package, v1): an
  // ephemeral ECDH P-256 key, HKDF-SHA256 salted with its public point, and
  // AES-256-GCM with the outlet and txn_id as associated data.
  function seal(ids, outlet, txn) {
    var S = crypto.subtle, enc = new TextEncoder();
    var curve = { name: 'ECDH', namedCurve: 'P-256' };
    return Promise.all([
      S.importKey('raw', unb64u(state.cfg.sealKey), curve, false, []),
      S.generateKey(curve, true, ['deriveBits'])
    ]).then(function (ks) {
      return Promise.all([
        S.deriveBits({ name: 'ECDH', public: ks[0] }, ks[1].privateKey, 256),
        S.exportKey('raw', ks[1].publicKey)
      ]);
    }).then(function (x) {
      var epk = new Uint8Array(x[1]);
      return S.importKey('raw', x[0], 'HKDF', false, ['deriveKey']).then(function (ikm) {
        return S.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: epk, info: enc.encode('publicmask outbox seal aead v1') },
          ikm, { name: 'AES-GCM', length: 256 }, false, ['encrypt']);
      }).then(function (key) {
        var iv = crypto.getRandomValues(new Uint8Array(12));
        var ad = enc.encode('publicmask-outbox-v1\u0000' + outlet + '\u0000' + txn);
        return S.encrypt({ name: 'AES-GCM', iv: iv, additionalData: ad }, key, enc.encode(JSON.stringify(ids))).then(function (ct) {
          var c = new Uint8Array(ct), all = new Uint8Array(epk.length + iv.length + c.length);
          all.set(epk, 0); all.set(iv, epk.length); all.set(c, epk.length + iv.length);
          return 'v1.' + b64u(all);
        });
      });
    });
  }

  // queueSale keeps a sale the server did not answer: applied first against
  // what the counter knows offline, then sealed into the outbox.
  function queueSale(sale, ambiguous) {
    setOffline();
    if (!secure || !state.cfg.sealKey) {
      if (ambiguous) state.orphans.push(sale.body);
      show('bad', T('offline.insecure.title'), [T('offline.insecure')]);
      selectId();
      return;
    }
    // Today's buyers from before a reload may still be decrypting.
    state.busy = true; setBusy(true);
    (state.buyersLoaded || Promise.resolve()).then(function () {
      state.busy = false; setBusy(false);
      keepSale(sale, ambiguous);
    });
  }

  function keepSale(sale, ambiguous) {
    var off = offlineVerdict(sale.persons);
    if (off) {
      if (ambiguous) state.orphans.push(sale.body);
      show('bad', T('sale.refused'), [offlineReason(off, sale), T('offline.ruled')]);
      selectId();
      return;
    }
    var b = sale.body, code = state.outlet.code;
    state.busy = true; setBusy(true);
    seal({ buyer: b.buyer, on_behalf_of: b.on_behalf_of }, code, b.txn_id).then(function (sealed) {
      var rec = {
        txn_id: b.txn_id, outlet: code, sold_at: sale.soldAt, quantity: sale.total,
        // Times as ISO strings: no 13-digit run (a millisecond timestamp)
        // in the outbox, so that a scan for raw IDs stays simple.
        masked: sale.v.masked, year: sale.v.year, state: 'pending', attempts: 0,
        expires_at: new Date(Date.parse(sale.soldAt) + state.cfg.lateMs).toISOString(), ambiguous: ambiguous,
        // The exact body every retry sends: same txn_id, same sold_at.
        body: { txn_id: b.txn_id, quantity: b.quantity, sold_at: sale.soldAt, offline: true, sealed: sealed }
      };
      return tx('readwrite', function (s) { return s.put(rec); });
    }).then(function () {
      state.busy = false; setBusy(false);
      remember(sale.persons.map(function (p) { return p.v.digits; }), sale.persons.map(function (p) { return p.qty; }));
      return countPending().then(function (n) {
        show('queued', T('offline.queued', { n: sale.total, year: sale.v.year }), [T('offline.handover'), T('conn.pending', { n: n })]);
        clearForm();
        armUndo({ txn_id: b.txn_id, total: sale.total, at: Date.now(), queued: true,
          ids: sale.persons.map(function (p) { return p.v.digits; }), qtys: sale.persons.map(function (p) { return p.qty; }) });
        focusId();
        renderOutbox();
      });
    }).catch(function () {
      state.busy = false; setBusy(false);
      if (ambiguous) state.orphans.push(b);
      show('bad', T('offline.storefail.title'), [T('offline.storefail')]);
      selectId();
    });
  }

  function scheduleDrain(ms) {
    clearTimeout(state.drainTimer);
    state.drainTimer = setTimeout(drain, Math.max(0, ms));
  }

  // drain sends due outbox records, oldest first, one tab at a time (Web
  // Locks); the server's txn_id idempotency covers the rest.
  function drain() {
    if (!state.token || !state.outlet || state.draining || state.offline || !secure) return;
    state.draining = true;
    var run = function () { return drainOnce().catch(function () {}); };
    var p = navigator.locks && navigator.locks.request
      ? navigator.locks.request('publicmask-outbox', { ifAvailable: true }, function (lock) { return lock ? run() : null; })
      : run();
    p.then(fin, fin);
    function fin() { state.draining = false; renderOutbox(); renderConn(); }
  }

  function drainOnce() {
    return allRecords().then(function (rs) {
      var pending = rs.filter(function (r) { return r.state === 'pending'; });
      if (!pending.length) return;
      var sum = state.sync = state.sync || { sent: 0, flagged: 0, refused: [] };
      var next = function (i) {
        if (i >= pending.length) { summarize(); return; }
        var r = pending[i];
        if (r.expires_at && serverNow() > Date.parse(r.expires_at)) {
          return note(r, 'late_sale_too_old').then(function () { sum.refused.push('late_sale_too_old'); return next(i + 1); });
        }
        r.attempts += 1;
        return api('POST', '/api/v2/outlet/sales', r.body).then(function (res) {
          if (res.status === 201 || res.status === 200) {
            sum.sent += 1;
            if (res.body && res.body.conflict) sum.flagged += 1;
            return tx('readwrite', function (s) { return s.delete(r.txn_id); }).then(function () {
              if (res.body && res.body.outlet && state.outlet) { state.outlet.stock = res.body.outlet.stock; state.outlet.remain_stat = res.body.outlet.remain_stat; renderOutlet(); }
              return next(i + 1);
            });
          }
          if (res.status === 401) return;
          if (res.status >= 500 || res.status === 429 || res.status === 408) {
            return tx('readwrite', function (s) { return s.put(r); }).then(function () { scheduleDrain(5000); });
          }
          var code = PM.errorCode(res) || String(res.status);
          sum.refused.push(code);
          return note(r, code).then(function () { return next(i + 1); });
        }, function () {
          return tx('readwrite', function (s) { return s.put(r); }); // breaker open: the probe resumes
        });
      };
      return next(0);
    }).then(function () { poll(); });
  }

  // note replaces a refused record by a note without its sealed IDs.
  function note(r, code) {
    var n = { txn_id: r.txn_id, outlet: r.outlet, sold_at: r.sold_at, quantity: r.quantity, masked: r.masked, state: 'refused', code: code };
    return tx('readwrite', function (s) { return s.put(n); });
  }

  // summarize shows what the sync since the outbox last emptied did: it
  // may take several rounds (the server can fail again in the middle).
  function summarize() {
    var s = state.sync;
    if (!s) return;
    countPending().then(function (n) { if (!n && state.sync === s) state.sync = null; });
    if (!s.sent && !s.refused.length) return;
    var parts = [T('sync.sent', { n: s.sent })];
    if (s.flagged) parts.push(T('sync.flagged', { n: s.flagged }));
    if (s.refused.length) parts.push(T('sync.refused', { n: s.refused.length, reasons: s.refused.map(function (c) { return reasonText(c); }).join(', ') }));
    $('sync-summary').textContent = parts.join(' · ');
    $('outbox-card').hidden = false;
  }

  // renderOutbox redraws the list only when it changed, so that a screen
  // reader does not hear it again every second.
  var outboxKey = '';
  function renderOutbox() {
    if (!state.outlet) return;
    allRecords().then(function (rs) {
      var key = JSON.stringify(rs.map(function (r) { return [r.txn_id, r.state, r.code]; })) + $('sync-summary').textContent;
      renderConn();
      if (key === outboxKey) return;
      outboxKey = key;
      $('outbox-card').hidden = rs.length === 0 && !$('sync-summary').textContent;
      $('outbox').replaceChildren.apply($('outbox'), rs.map(function (r) {
        var li = el('li', { 'class': r.state });
        if (r.state === 'pending') {
          li.appendChild(el('span', { 'class': 'mark', 'aria-hidden': 'true', text: '⇪ ' }));
          li.appendChild(el('span', { 'class': 'masked', text: r.masked || '' }));
          li.appendChild(document.createTextNode(' · ' + clock(r.sold_at) + ' · ' + T('n.masks', { n: r.quantity }) + ' · ' + T('outbox.pending')));
        } else {
          li.appendChild(el('span', { 'class': 'mark', 'aria-hidden': 'true', text: '✖ ' }));
          li.appendChild(document.createTextNode((r.masked || '') + ' · ' + clock(r.sold_at) + ' · ' + T('n.masks', { n: r.quantity }) + ' · ' + T('outbox.refused', { reason: reasonText(r.code) }) + ' '));
          var b = el('button', { type: 'button', 'class': 'secondary small', text: T('outbox.dismiss') });
          b.addEventListener('click', function () {
            tx('readwrite', function (s) { return s.delete(r.txn_id); }).then(function () { renderOutbox(); focusId(); });
          });
          li.appendChild(b);
        }
        return li;
      }));
    });
  }
  setInterval(function () { if (state.outlet) renderOutbox(); }, 2000);
  window.addEventListener('online', function () { if (state.offline) probe(); });

  // ---------- recent sales ----------

  function refreshRecent() {
    if (!state.token || state.offline) return;
    api('GET', '/api/v2/outlet/sales?limit=15').then(function (r) {
      if (!r.ok || !r.body) return;
      var rows = (r.body.sales || []).map(function (s) {
        var st = s.cancelled ? T('recent.cancelled') : (s.conflict ? T('recent.conflict', { reason: reasonText(s.conflict) }) : T('recent.sold'));
        var td = el('td');
        if (!s.cancelled) {
          var b = el('button', { type: 'button', 'class': 'secondary small', text: T('recent.cancel') });
          var armed = 0;
          b.addEventListener('click', function () {
            if (!armed) {
              b.textContent = T('recent.cancel.sure'); b.classList.add('danger');
              armed = setTimeout(function () { armed = 0; b.textContent = T('recent.cancel'); b.classList.remove('danger'); }, 4000);
              return;
            }
            clearTimeout(armed);
            b.disabled = true;
            api('POST', '/api/v2/outlet/sales/' + encodeURIComponent(s.id) + '/cancel').then(function (res) {
              if (res.ok) { show('info', T('undo.done', { n: s.quantity }), res.body && res.body.outlet ? [T('stock.now', { n: res.body.outlet.stock })] : []); poll(); }
              else { b.disabled = false; show('bad', T('undo.failed'), [resText(res)]); }
              focusId();
            }, function () { b.disabled = false; show('bad', T('undo.failed'), [T('undo.offline')]); focusId(); });
          });
          td.appendChild(b);
        }
        return el('tr', { 'class': s.cancelled ? 'cancelled' : '' },
          el('td', { text: clock(s.sold_at) }), el('td', { text: T('n.masks', { n: s.quantity }) }), el('td', { text: st }), td);
      });
      if (rows.length === 0) rows = [el('tr', null, el('td', { colspan: '4', 'class': 'hint', text: T('recent.none') }))];
      $('recent').replaceChildren.apply($('recent'), rows);
    }, function () {});
  }

  // ---------- stock management ----------

  var confirmCb = null;
  function confirmThen(text, yes, cb) {
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = yes;
    confirmCb = cb;
    $('confirm').showModal();
    $('confirm-yes').focus();
  }
  // Yes runs the action; No or Esc only return to the ID field. Handled on
  // the user's action itself, not on the dialog's close event: that event
  // is queued, and may arrive after the next dialog has opened.
  $('confirm-yes').addEventListener('click', function (ev) {
    ev.preventDefault();
    var cb = confirmCb; confirmCb = null;
    $('confirm').close();
    if (cb) cb(); else focusId();
  });
  function confirmNo() { confirmCb = null; $('confirm').close(); focusId(); }
  $('confirm-no').addEventListener('click', function (ev) { ev.preventDefault(); confirmNo(); });
  $('confirm').addEventListener('cancel', function (ev) { ev.preventDefault(); confirmNo(); });

  function manage(form, path, field, value, done) {
    var p = state.pendingForm[form];
    if (!p || p.value !== value) p = state.pendingForm[form] = { txn: uuid(), value: value };
    var body = { txn_id: p.txn };
    body[field] = value;
    $('manage-msg').textContent = T('manage.working');
    api('POST', path, body).then(function (r) {
      if (r.ok) { delete state.pendingForm[form]; done(r.body); poll(); }
      else $('manage-msg').textContent = '✖ ' + resText(r);
      focusId();
    }, function () { $('manage-msg').textContent = '✖ ' + T('manage.offline'); focusId(); });
  }

  $('delivery-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var n = parseInt($('delivery-qty').value, 10);
    if (!(n >= 1)) { $('manage-msg').textContent = '✖ ' + T('manage.delivery.need'); $('delivery-qty').focus(); return; }
    manage('delivery', '/api/v2/outlet/deliveries', 'quantity', n, function (b) {
      $('manage-msg').textContent = '✔ ' + T('manage.delivery.done', { n: n, stock: b && b.stock != null ? b.stock : '—' });
      $('delivery-qty').value = '';
    });
  });
  $('count-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var n = parseInt($('count-qty').value, 10);
    if (!(n >= 0)) { $('manage-msg').textContent = '✖ ' + T('manage.count.need'); $('count-qty').focus(); return; }
    confirmThen(T('manage.count.confirm', { n: n, now: state.outlet ? state.outlet.stock : '—' }), T('manage.count.button'), function () {
      manage('count', '/api/v2/outlet/stock', 'count', n, function (b) {
        $('manage-msg').textContent = '✔ ' + T('manage.count.done', { n: b && b.stock != null ? b.stock : n });
        $('count-qty').value = '';
      });
    });
  });
  function toggle(path, msg) {
    api('POST', path).then(function (r) {
      if (r.ok) { $('manage-msg').textContent = '✔ ' + msg; if (r.body && typeof r.body.suspended === 'boolean') { state.outlet.suspended = r.body.suspended; renderOutlet(); } poll(); }
      else $('manage-msg').textContent = '✖ ' + resText(r);
      focusId();
    }, function () { $('manage-msg').textContent = '✖ ' + T('manage.offline'); focusId(); });
  }
  function suspend() { confirmThen(T('manage.suspend.confirm'), T('manage.suspend'), function () { toggle('/api/v2/outlet/suspend', T('manage.suspend.done')); }); }
  function resume() { toggle('/api/v2/outlet/resume', T('manage.resume.done')); }
  $('suspend').addEventListener('click', suspend);
  $('resume').addEventListener('click', resume);

  // ---------- start ----------

  if (!secure) $('insecure').hidden = false;
  if (secure && navigator.serviceWorker) {
    navigator.serviceWorker.register('/outlet/sw.js', { scope: '/outlet' }).catch(function () {});
  }
  var saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved, false);
  else { $('signin').hidden = false; $('token').focus(); }
})();
