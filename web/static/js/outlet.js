// The outlet counter: check and sell in a few keystrokes, with an offline
// outbox so that a sale made while the server is unreachable is recorded
// later, exactly once (DESIGN.md §4.3; issue 5).
//
// Privacy: buyer IDs live in form fields and, only while a sale waits in the
// outbox, in IndexedDB. They are never logged, never put in sessionStorage or
// localStorage, and deleted from the outbox once the server has answered.
'use strict';

(function () {
  var PM = window.PM, el = PM.el;
  var $ = function (id) { return document.getElementById(id); };
  var TOKEN_KEY = 'publicmask.outlet.token'; // sessionStorage: this tab only

  var CATEGORIES = [
    ['child', '어린이'], ['elderly', '노인'], ['long_term_care', '장기요양 등급자'],
    ['disabled', '장애인'], ['pregnant', '임신부'], ['national_merit', '국가유공자'],
    ['inpatient', '입원 환자'], ['care_facility', '요양시설 입소자'], ['family', '가족']
  ];

  var state = {
    token: null, outlet: null,
    checked: null,      // {key, eligible} of the last check, in memory only
    busy: false,
    pollTimer: 0, drainTimer: 0, draining: false,
    haveServerClock: false, asOfClock: false, offline: false,
    pendingForm: {}     // per management form: {txn, value} to retry idempotently
  };

  // ---------- helpers ----------

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // crypto.randomUUID needs a secure context; a counter on a LAN address
    // over plain HTTP still gets a random v4 UUID.
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.from(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  var REASONS = {
    not_eligible_today: '오늘 구매 요일이 아닙니다',
    quota_exceeded: '이번 주 구매 한도를 모두 사용했습니다',
    proxy_not_allowed: '이 분류는 대리 구매를 할 수 없습니다',
    sales_closed: '지금은 공적 마스크 판매 기간이 아닙니다',
    outlet_closed: '이 판매처는 오늘 판매하지 않습니다',
    out_of_stock: '재고가 부족합니다',
    sales_suspended: '판매 중지 상태입니다. 판매를 재개한 뒤 다시 시도하세요',
    invalid_id: '주민등록번호(외국인등록번호)가 올바르지 않습니다',
    bad_request: '입력값을 확인해 주세요',
    txn_conflict: '같은 거래 번호로 다른 판매가 이미 기록되어 있습니다',
    rate_limited: '요청이 너무 많습니다. 잠시 후 다시 시도하세요',
    unauthorized: '로그인이 필요합니다 (토큰이 올바르지 않거나 만료됨)',
    forbidden: '이 토큰으로는 할 수 없는 작업입니다',
    body_too_large: '요청이 너무 큽니다',
    not_found: '대상을 찾을 수 없습니다',
    overloaded: '서버가 혼잡합니다',
    store_unavailable: '서버 저장소에 연결할 수 없습니다'
  };
  function reasonText(code, nextDate) {
    var t = REASONS[code] || ('처리할 수 없습니다' + (code ? ' (' + code + ')' : ''));
    if (nextDate && (code === 'not_eligible_today' || code === 'quota_exceeded')) {
      t += ' (다음 구매 가능일: ' + PM.day(nextDate) + ')';
    }
    return t;
  }
  function resText(res) {
    var c = PM.errorCode(res);
    if (c) return reasonText(c);
    return '서버 오류 (' + res.status + ')';
  }

  function api(method, path, body, timeoutMs) {
    var ctl = window.AbortController ? new AbortController() : null;
    var t = ctl ? setTimeout(function () { ctl.abort(); }, timeoutMs || 10000) : 0;
    return PM.fetchJSON(path, {
      method: method, body: body, signal: ctl && ctl.signal,
      headers: { 'Authorization': 'Bearer ' + state.token }
    }).then(function (r) {
      clearTimeout(t);
      setOffline(false);
      // The Date header is wall time; a receipt's sold_at (service clock,
      // which may be simulated) is a better sample and wins once seen.
      if (!state.haveServerClock && !state.asOfClock && r.headers.get('Date')) PM.observeServerTime(new Date(r.headers.get('Date')).toISOString());
      if (r.status === 401 && state.token) signOut('로그인이 만료되었거나 토큰이 올바르지 않습니다.');
      return r;
    }, function (e) { clearTimeout(t); setOffline(true); throw e; });
  }

  function setOffline(off) {
    state.offline = off;
    renderConn();
  }

  // ---------- sign in ----------

  function showApp(on) {
    $('signin').hidden = on;
    $('app').hidden = !on;
    $('who').hidden = !on;
  }

  function signIn(token, fromForm) {
    state.token = token;
    $('signin-msg').textContent = fromForm ? '확인 중…' : '';
    return api('GET', '/api/v2/outlet').then(function (r) {
      if (r.status === 200 && r.body) {
        sessionStorage.setItem(TOKEN_KEY, token);
        state.outlet = r.body;
        $('token').value = '';
        showApp(true);
        renderOutlet();
        syncClock();
        refreshRecent();
        renderOutbox();
        drain();
        clearInterval(state.pollTimer);
        state.pollTimer = setInterval(poll, 10000);
        $('buyer').focus();
        return;
      }
      state.token = null;
      $('token').select(); // retype over it
      $('signin-msg').textContent = r.status === 401 ? '토큰이 올바르지 않습니다.' : '로그인할 수 없습니다: ' + resText(r);
    }, function () {
      state.token = null;
      $('signin-msg').textContent = '서버에 연결할 수 없습니다. 네트워크를 확인하세요.';
    });
  }

  function signOut(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null; state.outlet = null; state.checked = null;
    clearInterval(state.pollTimer);
    clearForm();
    showApp(false);
    $('signin-msg').textContent = msg || '';
    $('token').focus();
  }

  $('signin-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var t = $('token').value.trim();
    if (t) signIn(t, true);
  });
  $('signout').addEventListener('click', function () { signOut('로그아웃했습니다.'); });

  // ---------- outlet figures ----------

  function renderOutlet() {
    var o = state.outlet;
    if (!o) return;
    $('outlet-name').textContent = o.name + ' (' + o.code + ')';
    $('stock').textContent = o.stock + '개';
    $('stat').replaceChildren(PM.badge(o.suspended ? 'break' : o.remain_stat));
    $('sold-today').textContent = o.sold_today + '개';
    $('suspend').disabled = !!o.suspended;
    $('resume').disabled = !o.suspended;
    renderConn();
  }

  function renderConn() {
    var c = $('conn');
    countPending().then(function (n) {
      c.className = state.offline ? 'conn down' : 'conn ok';
      c.textContent = (state.offline ? '✖ 연결 안 됨' : '✔ 연결됨') + (n ? ' · 전송 대기 ' + n + '건' : '');
    });
  }

  // syncClock samples the service clock (which --clock may set to 2020)
  // from the public snapshot's as_of, a tiny query, until a receipt gives a
  // better sample: an offline sale's sold_at must be in the server's time.
  function syncClock() {
    var o = state.outlet;
    if (state.haveServerClock || !o || !isFinite(o.lat) || !isFinite(o.lng)) return;
    PM.fetchJSON('/api/v2/outlets/near?lat=' + o.lat + '&lng=' + o.lng + '&m=1&limit=1').then(function (r) {
      if (r.ok && r.body && r.body.as_of && !state.haveServerClock) { PM.observeServerTime(r.body.as_of); state.asOfClock = true; }
    }, function () {});
  }

  function poll() {
    if (!state.token) return;
    syncClock();
    api('GET', '/api/v2/outlet').then(function (r) {
      if (r.ok && r.body) { state.outlet = r.body; renderOutlet(); }
    }, function () {});
    refreshRecent();
    drain();
  }

  // ---------- proxies ----------

  var proxySeq = 0;
  function addProxy() {
    var n = ++proxySeq;
    var sel = el('select', { id: 'pcat' + n, 'class': 'p-cat' });
    CATEGORIES.forEach(function (c) { sel.appendChild(el('option', { value: c[0], text: c[1] })); });
    var id = el('input', { id: 'pid' + n, 'class': 'p-id', type: 'password', inputmode: 'numeric', autocomplete: 'off', maxlength: '14', spellcheck: 'false' });
    var qty = el('input', { id: 'pqty' + n, 'class': 'p-qty', type: 'number', min: '1', max: '10', value: '2', inputmode: 'numeric' });
    var rm = el('button', { type: 'button', 'class': 'secondary p-rm', 'aria-label': '이 대리 구매 삭제', text: '삭제' });
    var row = el('div', { 'class': 'proxy-row' },
      el('div', { 'class': 'field' }, el('label', { 'for': 'pid' + n, text: '대리 구매 대상 번호' }), id),
      el('div', { 'class': 'field' }, el('label', { 'for': 'pcat' + n, text: '구분' }), sel),
      el('div', { 'class': 'field qty' }, el('label', { 'for': 'pqty' + n, text: '수량' }), qty),
      rm);
    rm.addEventListener('click', function () { row.remove(); state.checked = null; $('add-proxy').focus(); });
    id.addEventListener('keydown', onIdKey);
    $('proxy-rows').appendChild(row);
    id.focus();
  }
  $('add-proxy').addEventListener('click', addProxy);

  function proxies() {
    return Array.from(document.querySelectorAll('.proxy-row')).map(function (r) {
      return {
        id: r.querySelector('.p-id').value.trim(),
        category: r.querySelector('.p-cat').value,
        quantity: parseInt(r.querySelector('.p-qty').value, 10)
      };
    });
  }

  function inputKey() {
    return JSON.stringify([$('buyer').value.trim(), $('qty').value, proxies()]);
  }

  function clearForm() {
    $('buyer').value = '';
    $('buyer-count').textContent = '0';
    $('proxy-rows').replaceChildren();
    $('qty').value = '2';
    state.checked = null;
  }

  // ---------- check and sell ----------

  function show(kind, title, lines) {
    var box = $('result');
    box.className = 'result ' + kind;
    var icon = { ok: '✔', bad: '✖', wait: '⏳', info: 'ℹ' }[kind] || '';
    var ul = el('ul');
    (lines || []).forEach(function (l) { ul.appendChild(typeof l === 'string' ? el('li', { text: l }) : l); });
    box.replaceChildren(el('p', { 'class': 'result-title' }, el('span', { 'class': 'result-icon', 'aria-hidden': 'true', text: icon }), ' ' + title), ul);
  }

  function roleName(p, i, cats) {
    if (p.role === 'buyer') return '구매자';
    var c = cats[i - 1];
    var label = CATEGORIES.filter(function (x) { return x[0] === c; }).map(function (x) { return x[1]; })[0];
    return '대리 ' + i + (label ? ' (' + label + ')' : '');
  }

  function check() {
    var buyer = $('buyer').value.trim();
    if (!buyer) { show('bad', '구매자 번호를 입력하세요.'); $('buyer').focus(); return; }
    if (state.busy) return;
    var ps = proxies();
    state.busy = true;
    show('wait', '확인 중…');
    api('POST', '/api/v2/outlet/check', {
      buyer: buyer, on_behalf_of: ps.map(function (p) { return { id: p.id, category: p.category }; })
    }).then(function (r) {
      state.busy = false;
      if (!r.ok || !r.body) { state.checked = null; show('bad', '확인할 수 없습니다', [resText(r)]); return; }
      var cats = ps.map(function (p) { return p.category; });
      var lines = [], adjusted = '';
      var proxyIdx = 0;
      (r.body.persons || []).forEach(function (p) {
        var i = p.role === 'buyer' ? 0 : ++proxyIdx;
        var rem = p.remaining_this_week;
        var who = roleName(p, i, cats);
        var li = el('li', { 'class': p.eligible ? 'yes' : 'no' },
          el('span', { 'class': 'mark', 'aria-hidden': 'true', text: p.eligible ? '✔' : '✖' }),
          ' ' + who + ': ' + (p.eligible ? '구매 가능' : '구매 불가 — ' + reasonText(p.reason, p.next_date)) +
          (rem != null ? ' · 이번 주 남은 수량 ' + rem + '개' : ''));
        lines.push(li);
        // Fit the quantity to what is left, so the second Enter just works.
        if (p.eligible && rem != null && p.role === 'buyer' && parseInt($('qty').value, 10) > rem) {
          $('qty').value = String(rem);
          adjusted = '구매자 수량을 남은 한도 ' + rem + '개로 맞췄습니다.';
        }
      });
      if (adjusted) lines.push(adjusted);
      state.checked = { key: inputKey(), eligible: !!r.body.eligible };
      show(r.body.eligible ? 'ok' : 'bad', r.body.eligible ? '판매 가능 — Enter를 한 번 더 누르면 판매합니다' : '판매 불가', lines);
    }, function () {
      state.busy = false;
      state.checked = null;
      show('bad', '서버에 연결할 수 없어 확인하지 못했습니다', ['판매하면 기기에 저장했다가 연결되면 전송합니다. 신분증으로 구매 요일을 직접 확인하세요.']);
    });
  }

  function sell() {
    var buyer = $('buyer').value.trim();
    var qty = parseInt($('qty').value, 10);
    var ps = proxies();
    if (!buyer) { show('bad', '구매자 번호를 입력하세요.'); $('buyer').focus(); return; }
    if (!(qty >= 0 && qty <= 10)) { show('bad', '수량은 0~10개입니다.'); $('qty').focus(); return; }
    if (qty === 0 && ps.length === 0) { show('bad', '수량을 입력하세요 (0개는 대리 구매만 할 때).'); $('qty').focus(); return; }
    for (var i = 0; i < ps.length; i++) {
      if (!ps[i].id || !(ps[i].quantity >= 1 && ps[i].quantity <= 10)) { show('bad', '대리 구매 ' + (i + 1) + '의 번호와 수량(1~10)을 확인하세요.'); return; }
    }
    if (state.busy) return;
    var body = { txn_id: uuid(), buyer: buyer, quantity: qty, on_behalf_of: ps };
    var soldAt = new Date(PM.serverNow()).toISOString(); // when the masks change hands
    var total = qty + ps.reduce(function (s, p) { return s + p.quantity; }, 0);
    state.busy = true;
    show('wait', '판매 기록 중…');
    api('POST', '/api/v2/outlet/sales', body).then(function (r) {
      state.busy = false;
      if (r.status === 201 || r.status === 200) { sold(r.body, total); return; }
      // 503 and 429 mean "not done"; another 5xx might have committed.
      if (retryable(r.status)) { queue(body, soldAt, r.status >= 500 && r.status !== 503, total); return; }
      state.checked = null;
      show('bad', '판매하지 못했습니다', [resText(r)]);
    }, function () {
      state.busy = false;
      // The request may or may not have reached the server: the outbox
      // treats a later txn_conflict as proof that it did.
      queue(body, soldAt, true, total);
    });
  }

  function retryable(status) {
    return status === 408 || status === 429 || status >= 500;
  }

  function sold(rec, total) {
    if (rec && rec.sold_at) { PM.observeServerTime(rec.sold_at); state.haveServerClock = true; }
    var lines = [];
    if (rec && rec.items) rec.items.forEach(function (it, i) {
      lines.push((it.role === 'buyer' ? '구매자' : '대리 ' + i) + ' ' + it.quantity + '개' +
        (it.remaining_this_week != null ? ' · 이번 주 남은 수량 ' + it.remaining_this_week + '개' : ''));
    });
    if (rec && rec.outlet && state.outlet) {
      state.outlet.stock = rec.outlet.stock;
      state.outlet.remain_stat = rec.outlet.remain_stat;
      state.outlet.sold_today += total;
      renderOutlet();
    }
    show('ok', '판매 완료: ' + total + '개 · 남은 재고 ' + (rec && rec.outlet ? rec.outlet.stock + '개' : '—'), lines);
    clearForm();
    $('buyer').focus();
    refreshRecent();
  }

  function onIdKey(ev) {
    if (ev.key !== 'Enter') return;
    ev.preventDefault();
    if (ev.ctrlKey || ev.metaKey) { sell(); return; }
    if (state.checked && state.checked.eligible && state.checked.key === inputKey()) sell();
    else check();
  }

  $('buyer').addEventListener('keydown', onIdKey);
  $('buyer').addEventListener('input', function () {
    $('buyer-count').textContent = String(($('buyer').value.match(/\d/g) || []).length);
  });
  $('check').addEventListener('click', check);
  $('sale-form').addEventListener('submit', function (ev) { ev.preventDefault(); sell(); });
  $('sale-form').addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && !ev.defaultPrevented) { ev.preventDefault(); sell(); }
  });

  // ---------- offline outbox (IndexedDB) ----------

  var dbp = null;
  function db() {
    if (!dbp) dbp = new Promise(function (res, rej) {
      var rq = indexedDB.open('publicmask', 1);
      rq.onupgradeneeded = function () { rq.result.createObjectStore('outbox', { keyPath: 'txn_id' }); };
      rq.onsuccess = function () { res(rq.result); };
      rq.onerror = function () { rej(rq.error); };
    });
    return dbp;
  }
  function tx(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (res, rej) {
        var t = d.transaction('outbox', mode), out;
        out = fn(t.objectStore('outbox'));
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

  function queue(body, soldAt, ambiguous, total) {
    var rec = {
      txn_id: body.txn_id, outlet: state.outlet.code, sold_at: soldAt, quantity: total,
      state: 'pending', attempts: 1, next_at: Date.now() + 1000, ambiguous: ambiguous,
      // The exact body every retry sends: same txn_id, same sold_at.
      body: Object.assign({}, body, { sold_at: soldAt })
    };
    tx('readwrite', function (s) { return s.put(rec); }).then(function () {
      countPending().then(function (n) {
        show('info', '서버에 연결되지 않아 판매를 이 기기에 저장했습니다 (전송 대기 ' + n + '건)',
          ['연결되면 자동으로 전송합니다. 마스크를 건네주셔도 됩니다.']);
      });
      clearForm();
      $('buyer').focus();
      renderOutbox();
      scheduleDrain(1000);
    }, function () {
      show('bad', '판매를 저장하지 못했습니다', ['이 브라우저에서 기기 저장소(IndexedDB)를 쓸 수 없습니다. 판매를 종이에 기록하세요.']);
    });
  }

  function backoff(attempts) {
    var base = Math.min(60000, 1000 * Math.pow(2, Math.min(attempts, 6)));
    return base / 2 + Math.random() * base / 2;
  }

  function scheduleDrain(ms) {
    clearTimeout(state.drainTimer);
    state.drainTimer = setTimeout(drain, Math.max(200, ms));
  }

  // drain sends due outbox records one at a time. One tab at a time does it
  // (Web Locks where available); the server's txn_id idempotency covers the rest.
  function drain() {
    if (!state.token || !state.outlet || state.draining) return;
    state.draining = true;
    var run = function () { return drainOnce().catch(function () {}); };
    var p = navigator.locks && navigator.locks.request
      ? navigator.locks.request('publicmask-outbox', { ifAvailable: true }, function (lock) { return lock ? run() : null; })
      : run();
    p.then(function () { state.draining = false; renderOutbox(); renderConn(); },
      function () { state.draining = false; });
  }

  function drainOnce() {
    return allRecords().then(function (rs) {
      var pending = rs.filter(function (r) { return r.state === 'pending'; });
      var now = Date.now();
      var due = pending.filter(function (r) { return r.next_at <= now; });
      if (pending.length === 0) return;
      if (due.length === 0) {
        scheduleDrain(Math.min.apply(null, pending.map(function (r) { return r.next_at; })) - now);
        return;
      }
      var next = function (i) {
        if (i >= due.length) { scheduleDrain(1000); return; }
        var r = due[i];
        return api('POST', '/api/v2/outlet/sales', r.body).then(function (res) {
          if (res.status === 201 || res.status === 200 || (res.status === 409 && r.ambiguous)) {
            return acknowledge(r, res).then(function () { return next(i + 1); });
          }
          if (res.status === 401) return; // signed out by api(); records wait for the next sign-in
          if (retryable(res.status)) return retryLater(r);
          return refuse(r, res).then(function () { return next(i + 1); });
        }, function () { return retryLater(r); });
      };
      return next(0);
    });
  }

  function acknowledge(r, res) {
    // The raw IDs go with the record.
    return tx('readwrite', function (s) { return s.delete(r.txn_id); }).then(function () {
      if (res.body && res.body.outlet && state.outlet) {
        state.outlet.stock = res.body.outlet.stock;
        state.outlet.remain_stat = res.body.outlet.remain_stat;
      }
      poll();
    });
  }

  function refuse(r, res) {
    // Keep a note for the clerk, without the IDs.
    var note = {
      txn_id: r.txn_id, outlet: r.outlet, sold_at: r.sold_at, quantity: r.quantity,
      state: 'refused', code: PM.errorCode(res) || String(res.status)
    };
    return tx('readwrite', function (s) { return s.put(note); });
  }

  function retryLater(r) {
    r.attempts += 1;
    r.next_at = Date.now() + backoff(r.attempts);
    return tx('readwrite', function (s) { return s.put(r); }).then(function () {
      scheduleDrain(r.next_at - Date.now()); // stop here: the server is still away
    });
  }

  function renderOutbox() {
    if (!state.outlet) return;
    allRecords().then(function (rs) {
      $('outbox-card').hidden = rs.length === 0;
      $('outbox').replaceChildren.apply($('outbox'), rs.map(function (r) {
        var li = el('li', { 'class': 'row ' + r.state });
        if (r.state === 'pending') {
          var secs = Math.max(0, Math.ceil((r.next_at - Date.now()) / 1000));
          li.appendChild(el('span', { 'class': 'mark', 'aria-hidden': 'true', text: '⏳' }));
          li.appendChild(document.createTextNode(' ' + PM.clock(r.sold_at) + ' · ' + r.quantity + '개 · 전송 대기 (' +
            r.attempts + '회 시도' + (secs ? ', ' + secs + '초 후 재시도' : ', 전송 중') + ')'));
        } else {
          li.appendChild(el('span', { 'class': 'mark', 'aria-hidden': 'true', text: '✖' }));
          li.appendChild(document.createTextNode(' ' + PM.clock(r.sold_at) + ' · ' + r.quantity + '개 · 서버가 거부함: ' + reasonText(r.code) + ' '));
          var b = el('button', { type: 'button', 'class': 'secondary', text: '확인함' });
          b.addEventListener('click', function () {
            tx('readwrite', function (s) { return s.delete(r.txn_id); }).then(renderOutbox);
          });
          li.appendChild(b);
        }
        return li;
      }));
    });
  }
  setInterval(function () { if (state.outlet) renderOutbox(); }, 1000);
  window.addEventListener('online', function () { allRecords().then(function (rs) {
    // Connectivity is back: retry now instead of waiting out the backoff.
    var now = Date.now();
    return Promise.all(rs.filter(function (r) { return r.state === 'pending'; }).map(function (r) {
      r.next_at = now; return tx('readwrite', function (s) { return s.put(r); });
    }));
  }).then(drain); });

  // ---------- recent sales ----------

  function refreshRecent() {
    if (!state.token) return;
    api('GET', '/api/v2/outlet/sales?limit=15').then(function (r) {
      if (!r.ok || !r.body) return;
      var rows = (r.body.sales || []).map(function (s) {
        var st = s.cancelled ? '취소됨' : (s.conflict ? '⚠ 사후 기록 (규칙 위반: ' + reasonText(s.conflict) + ')' : '판매');
        var td = el('td');
        if (!s.cancelled) {
          var b = el('button', { type: 'button', 'class': 'secondary small', text: '취소' });
          var armed = 0;
          b.addEventListener('click', function () {
            // Two steps instead of a modal dialog: fast, and no accidental cancel.
            if (!armed) {
              b.textContent = '정말 취소?'; b.classList.add('danger');
              armed = setTimeout(function () { armed = 0; b.textContent = '취소'; b.classList.remove('danger'); }, 4000);
              return;
            }
            clearTimeout(armed);
            b.disabled = true;
            api('POST', '/api/v2/outlet/sales/' + encodeURIComponent(s.id) + '/cancel').then(function (res) {
              if (res.ok) {
                show('ok', '판매를 취소했습니다 (' + s.quantity + '개)', res.body && res.body.outlet ? ['재고 ' + res.body.outlet.stock + '개'] : []);
                poll();
              } else { b.disabled = false; show('bad', '취소하지 못했습니다', [resText(res)]); }
            }, function () { b.disabled = false; show('bad', '서버에 연결할 수 없어 취소하지 못했습니다'); });
          });
          td.appendChild(b);
        }
        return el('tr', { 'class': s.cancelled ? 'cancelled' : '' },
          el('td', { text: PM.clock(s.sold_at) }), el('td', { text: s.quantity + '개' }), el('td', { text: st }), td);
      });
      if (rows.length === 0) rows = [el('tr', null, el('td', { colspan: '4', 'class': 'hint', text: '아직 판매가 없습니다.' }))];
      $('recent').replaceChildren.apply($('recent'), rows);
    }, function () {});
  }

  // ---------- stock management ----------

  // manage posts a form's value with a txn_id that is kept while the value is
  // unchanged, so pressing the button again after a timeout cannot double it.
  function manage(form, path, field, value, done) {
    var p = state.pendingForm[form];
    if (!p || p.value !== value) p = state.pendingForm[form] = { txn: uuid(), value: value };
    var body = { txn_id: p.txn };
    body[field] = value;
    $('manage-msg').textContent = '처리 중…';
    api('POST', path, body).then(function (r) {
      if (r.ok) { delete state.pendingForm[form]; done(r.body); poll(); }
      else $('manage-msg').textContent = '✖ ' + resText(r);
    }, function () { $('manage-msg').textContent = '✖ 서버에 연결할 수 없습니다. 다시 누르면 같은 요청으로 재시도합니다.'; });
  }

  $('delivery-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var n = parseInt($('delivery-qty').value, 10);
    if (!(n >= 1)) { $('manage-msg').textContent = '✖ 입고 수량을 입력하세요.'; return; }
    manage('delivery', '/api/v2/outlet/deliveries', 'quantity', n, function (b) {
      $('manage-msg').textContent = '✔ 입고 ' + n + '개 등록 · 재고 ' + (b && b.stock != null ? b.stock + '개' : '—');
      $('delivery-qty').value = '';
    });
  });
  $('count-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var n = parseInt($('count-qty').value, 10);
    if (!(n >= 0)) { $('manage-msg').textContent = '✖ 실제 재고 수량을 입력하세요.'; return; }
    manage('count', '/api/v2/outlet/stock', 'count', n, function (b) {
      $('manage-msg').textContent = '✔ 재고를 ' + (b && b.stock != null ? b.stock : n) + '개로 정정했습니다';
      $('count-qty').value = '';
    });
  });
  function toggle(path, msg) {
    api('POST', path).then(function (r) {
      if (r.ok) { $('manage-msg').textContent = msg; poll(); } else $('manage-msg').textContent = '✖ ' + resText(r);
    }, function () { $('manage-msg').textContent = '✖ 서버에 연결할 수 없습니다.'; });
  }
  $('suspend').addEventListener('click', function () { toggle('/api/v2/outlet/suspend', '✔ 판매를 중지했습니다. 지도에 "판매중지"로 표시됩니다.'); });
  $('resume').addEventListener('click', function () { toggle('/api/v2/outlet/resume', '✔ 판매를 재개했습니다.'); });

  // ---------- start ----------

  var saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved, false); else { showApp(false); $('token').focus(); }
})();
