// The public map: nearest outlets as markers and as a text list, kept live by
// the v2 change stream (DESIGN.md §4.2).
'use strict';

(function () {
  var PM = window.PM, el = PM.el;
  var CITY_HALL = [37.5665, 126.9780]; // fallback centre: Seoul City Hall
  var cfg = document.body.dataset;
  var LIST_MAX = 50;

  var state = {
    q: null,            // current query {lat,lng,m}
    outlets: new Map(), // code → {o, marker}
    place: null,        // a searched place {label, codes: Set}: the list shows its outlets
    es: null, backoff: 0, retryTimer: 0, hadError: false,
    reqSeq: 0
  };

  var listEl = document.getElementById('list');
  var summaryEl = document.getElementById('summary');
  var liveText = document.getElementById('live-text');
  var liveEl = document.getElementById('live');
  var onlyStock = document.getElementById('only-stock');

  function validLatLng(lat, lng) {
    return isFinite(lat) && isFinite(lng) && Math.abs(lat) <= 90 && Math.abs(lng) <= 180;
  }

  var params = new URLSearchParams(location.search);
  var pLat = parseFloat(params.get('lat')), pLng = parseFloat(params.get('lng'));
  var fromURL = params.has('lat') && params.has('lng') && validLatLng(pLat, pLng);
  var start = fromURL ? [pLat, pLng] : CITY_HALL;

  document.querySelectorAll('#legend [data-stat]').forEach(function (e) {
    e.insertAdjacentHTML('afterbegin', PM.statusGlyph(e.dataset.stat));
  });

  // maxZoom on the map itself: without tiles (offline) nothing else sets it, and clustering needs it.
  var map = L.map('map', { zoomControl: true, attributionControl: true, maxZoom: 19, minZoom: 6 }).setView(start, 16);
  map.attributionControl.setPrefix(false); // keep the credit line short on phones
  if (cfg.tiles && cfg.tiles !== 'none') {
    L.tileLayer(cfg.tiles, { maxZoom: 19, subdomains: 'abc', attribution: cfg.attribution || '' }).addTo(map);
  } else {
    document.getElementById('map').classList.add('no-tiles');
  }
  L.control.scale({ imperial: false }).addTo(map);
  if (cfg.basemap) {
    map.createPane('basemap');
    map.getPane('basemap').classList.add('basemap-pane');
    PM.fetchJSON(cfg.basemap).then(function (r) {
      if (!r.ok || !r.body) return;
      L.geoJSON(r.body, {
        pane: 'basemap', interactive: false,
        style: { color: '#7d8d99', weight: 1.2, fillColor: '#f6f3ea', fillOpacity: 1 }
      }).addTo(map);
    }).catch(function () {});
  }

  // The searched circle and its centre, so the list's distances have a visible origin.
  var area = L.circle(start, { radius: 1000, className: 'search-area', interactive: false }).addTo(map);
  var here = L.marker(start, {
    icon: L.divIcon({ className: 'here-icon', html: '<span class="here-dot"></span>', iconSize: [18, 18] }),
    interactive: false, keyboard: false, zIndexOffset: -1000
  }).addTo(map);

  var cluster = L.markerClusterGroup({
    maxClusterRadius: 45, disableClusteringAtZoom: 16, showCoverageOnHover: false,
    spiderfyOnMaxZoom: true, chunkedLoading: true,
    // Neutral clusters (the default palette would read as stock levels),
    // labelled with how many outlets of them still have stock.
    iconCreateFunction: function (c) {
      var ms = c.getAllChildMarkers(), inStock = 0;
      ms.forEach(function (m) { if (PM.statusInfo(m.options.stat).rank >= 2) inStock++; });
      var n = ms.length;
      return L.divIcon({
        className: 'cluster', iconSize: [46, 46],
        html: '<span class="cluster-n">' + n + '</span><span class="cluster-s">재고 ' + inStock + '</span>'
      });
    }
  }).addTo(map);

  function pinIcon(stat) {
    var k = PM.statKey(stat);
    return L.divIcon({
      className: 'pin s-' + k,
      html: '<svg viewBox="0 0 30 40" class="pin-svg" aria-hidden="true"><path class="pin-body" d="M15 39C15 39 2 23.5 2 14.5a13 13 0 0 1 26 0C28 23.5 15 39 15 39z"/>' +
        '<g transform="translate(5 4.5)">' + PM.statusGlyph(k, 'pin-glyph').replace('<svg ', '<svg width="20" height="20" ') + '</g></svg>',
      iconSize: [30, 40], iconAnchor: [15, 39], popupAnchor: [0, -34]
    });
  }

  function popupFor(o) {
    var d = el('div', { 'class': 'popup' },
      el('strong', { text: o.name }),
      el('div', null, PM.badge(o.remain_stat)),
      el('div', { 'class': 'o-addr', text: o.addr }),
      el('div', { 'class': 'o-meta', text: stockAtText(o) }));
    return d;
  }

  function stockAtText(o) {
    return o.stock_at ? '입고 ' + PM.when(o.stock_at) : '입고 정보 없음';
  }

  function upsert(o, live) {
    var cur = state.outlets.get(o.code);
    if (cur) {
      var changed = cur.o.remain_stat !== o.remain_stat;
      if (o.distance_m == null) o.distance_m = cur.o.distance_m;
      cur.o = o;
      cur.marker.options.stat = o.remain_stat;
      cur.marker.options.title = o.name + ' · ' + PM.statusInfo(o.remain_stat).label;
      if (changed) {
        cur.marker.setIcon(pinIcon(o.remain_stat));
        cluster.refreshClusters(cur.marker);
      }
      cur.marker.setPopupContent(popupFor(o));
      cur.live = live;
      return;
    }
    var m = L.marker([o.lat, o.lng], {
      icon: pinIcon(o.remain_stat), stat: o.remain_stat, keyboard: false,
      title: o.name + ' · ' + PM.statusInfo(o.remain_stat).label, alt: o.name
    });
    m.bindPopup(popupFor(o));
    state.outlets.set(o.code, { o: o, marker: m, live: live });
    cluster.addLayer(m);
  }

  function renderList() {
    var all = Array.from(state.outlets.values()).map(function (x) { return x; });
    var place = state.place;
    if (place) {
      // A searched place: its outlets, nearest to the map's centre first.
      var c = map.getCenter();
      all = all.filter(function (x) { return place.codes.has(x.o.code); });
      all.forEach(function (x) { x.o.distance_m = c.distanceTo([x.o.lat, x.o.lng]); });
    }
    all.sort(function (a, b) { return (a.o.distance_m || 0) - (b.o.distance_m || 0); });
    var inStock = all.filter(function (x) { return PM.statusInfo(x.o.remain_stat).rank >= 2; });
    var shown = (onlyStock.checked ? inStock : all).slice(0, LIST_MAX);
    var frag = document.createDocumentFragment();
    shown.forEach(function (x) { frag.appendChild(item(x)); });
    listEl.replaceChildren(frag);
    if (place) {
      summaryEl.textContent = place.label + ' 판매처 ' + all.length + '곳 · 재고 있는 곳 ' + inStock.length + '곳' +
        (all.length > LIST_MAX ? ' (가까운 ' + LIST_MAX + '곳 표시)' : '');
      var clear = el('button', { type: 'button', 'class': 'clear-place', text: '주변 판매처 보기' });
      clear.addEventListener('click', function () { state.place = null; refresh(true); renderList(); });
      summaryEl.appendChild(clear);
      return;
    }
    summaryEl.textContent = all.length === 0
      ? '이 근처(' + PM.distance(state.q ? state.q.m : 0) + ' 이내)에 판매처가 없습니다. 지도를 옮기거나 축소해 보세요.'
      : '반경 ' + PM.distance(state.q.m) + ' 안 판매처 ' + all.length + '곳 · 재고 있는 곳 ' + inStock.length + '곳';
  }

  function item(x) {
    var o = x.o;
    var li = el('li', { 'class': 'outlet s-' + PM.statKey(o.remain_stat) + (x.live ? ' flash' : ''), 'data-code': o.code });
    var btn = el('button', { type: 'button', 'class': 'o-main' },
      el('span', { 'class': 'o-line1' },
        el('span', { 'class': 'o-name', text: o.name }),
        el('span', { 'class': 'o-dist', text: PM.distance(o.distance_m) })),
      el('span', { 'class': 'o-line2' }, PM.badge(o.remain_stat),
        el('span', { 'class': 'o-type', text: PM.typeName(o.type) })));
    btn.addEventListener('click', function () {
      var cur = state.outlets.get(o.code);
      if (!cur) return;
      cluster.zoomToShowLayer(cur.marker, function () { cur.marker.openPopup(); });
    });
    li.appendChild(btn);
    li.appendChild(el('p', { 'class': 'o-meta' },
      el('span', { text: stockAtText(o) }), ' · ',
      el('span', { 'class': 'o-age', 'data-t': o.updated_at || '', text: ageText(o.updated_at) })));
    li.appendChild(el('p', { 'class': 'o-addr', text: o.addr }));
    x.live = false;
    return li;
  }

  function ageText(t) { return t ? PM.ago(t) + ' 갱신' : '갱신 기록 없음'; }

  // Ages tick every second without touching the rest of the list.
  setInterval(function () {
    listEl.querySelectorAll('.o-age').forEach(function (s) {
      if (s.dataset.t) s.textContent = ageText(s.dataset.t);
    });
  }, 1000);

  onlyStock.addEventListener('change', renderList);

  // ---- queries ----

  function currentQuery() {
    var c = map.getCenter(), b = map.getBounds();
    var r = Math.max(c.distanceTo(b.getNorthEast()), c.distanceTo(b.getSouthWest()));
    var m = Math.min(5000, Math.max(300, Math.ceil(r / 100) * 100));
    return { lat: +c.lat.toFixed(6), lng: +c.lng.toFixed(6), m: m };
  }

  function sameQuery(a, b) {
    return a && b && a.m === b.m && L.latLng(a.lat, a.lng).distanceTo([b.lat, b.lng]) < a.m * 0.1;
  }

  function refresh(force) {
    var q = currentQuery();
    if (!force && sameQuery(q, state.q)) return;
    state.q = q;
    area.setLatLng([q.lat, q.lng]).setRadius(q.m);
    here.setLatLng([q.lat, q.lng]);
    load(q);
    subscribe(q);
  }

  function load(q) {
    var seq = ++state.reqSeq;
    var url = '/api/v2/outlets/near?lat=' + q.lat + '&lng=' + q.lng + '&m=' + q.m + '&limit=' + (q.m > 2000 ? 300 : 100);
    PM.fetchJSON(url).then(function (r) {
      if (seq !== state.reqSeq) return; // a newer view has been asked for
      if (!r.ok || !r.body) {
        summaryEl.textContent = r.status === 503 ? '이용자가 많아 잠시 후 다시 불러옵니다…' : '판매처 정보를 불러오지 못했습니다.';
        if (r.status === 503) setTimeout(function () { if (seq === state.reqSeq) load(q); }, 2000 + Math.random() * 2000);
        return;
      }
      PM.observeServerTime(r.body.as_of);
      var keep = new Set();
      (r.body.outlets || []).forEach(function (o) { keep.add(o.code); upsert(o, false); });
      state.outlets.forEach(function (x, code) {
        if (!keep.has(code) && !(state.place && state.place.codes.has(code))) {
          cluster.removeLayer(x.marker); state.outlets.delete(code);
        }
      });
      renderList();
    }).catch(function () {
      if (seq !== state.reqSeq) return;
      summaryEl.textContent = '서버에 연결할 수 없습니다. 잠시 후 다시 시도합니다…';
      setTimeout(function () { if (seq === state.reqSeq) load(q); }, 3000);
    });
  }

  // ---- live stream, reconnecting with exponential backoff ----

  function setLive(ok, text) {
    liveEl.classList.toggle('ok', ok);
    liveEl.classList.toggle('down', !ok);
    liveText.textContent = text;
  }

  function subscribe(q) {
    clearTimeout(state.retryTimer);
    if (state.es) state.es.close();
    if (!window.EventSource) { setLive(false, '실시간 반영을 지원하지 않는 브라우저입니다'); return; }
    var es = new EventSource('/api/v2/stream?lat=' + q.lat + '&lng=' + q.lng + '&m=' + q.m);
    state.es = es;
    es.onopen = function () {
      state.backoff = 0;
      setLive(true, '실시간 반영 중');
      // Changes made while disconnected were not streamed: reload once.
      if (state.hadError) { state.hadError = false; load(state.q); }
    };
    es.addEventListener('outlet', function (ev) {
      var o;
      try { o = JSON.parse(ev.data); } catch (e) { return; }
      if (o.updated_at) PM.observeAtLeast(o.updated_at);
      upsert(o, true);
      renderList();
    });
    es.onerror = function () {
      if (state.es !== es) return;
      // Take reconnection into our own hands: the browser's fixed retry would
      // hammer a struggling server at 08:00; ours backs off with jitter.
      es.close();
      state.hadError = true;
      state.backoff = Math.min(30000, state.backoff ? state.backoff * 2 : 1000);
      var wait = state.backoff / 2 + Math.random() * state.backoff / 2;
      setLive(false, '연결 끊김 · ' + Math.ceil(wait / 1000) + '초 후 다시 연결');
      state.retryTimer = setTimeout(function () { if (state.es === es) subscribe(state.q); }, wait);
    };
  }

  var moveTimer = 0;
  map.on('moveend', function () {
    clearTimeout(moveTimer);
    moveTimer = setTimeout(function () { refresh(false); }, 250);
  });

  // ---- geolocation ----

  function locate(explicit) {
    if (!navigator.geolocation) {
      if (explicit) summaryEl.textContent = '이 브라우저는 위치 찾기를 지원하지 않습니다.';
      return;
    }
    navigator.geolocation.getCurrentPosition(function (p) {
      map.setView([p.coords.latitude, p.coords.longitude], 16);
    }, function () {
      if (explicit) summaryEl.textContent = '위치 권한이 없어 현재 위치를 알 수 없습니다. 주소로 검색해 주세요.';
    }, { enableHighAccuracy: false, timeout: 8000, maximumAge: 60000 });
  }
  document.getElementById('locate').addEventListener('click', function () { state.place = null; locate(true); });

  // ---- address search: suggestions as you type (/api/v2/places, an ARIA
  // combobox), and the v1 search on Enter (DESIGN.md §4.1, §4.2) ----

  var addr = document.getElementById('addr');
  var sugList = document.getElementById('addr-list');
  var addrStatus = document.getElementById('addr-status');
  var KIND = { sido: '시·도', sigungu: '시·군·구', dong: '읍·면·동', road: '도로' };
  var sug = { items: [], active: -1, timer: 0, seq: 0, ctl: null };

  function closeSuggest() {
    sug.items = []; sug.active = -1; sug.seq++;
    sugList.hidden = true;
    sugList.replaceChildren();
    addr.setAttribute('aria-expanded', 'false');
    addr.removeAttribute('aria-activedescendant');
  }

  function renderSuggest() {
    var frag = document.createDocumentFragment();
    sug.items.forEach(function (p, i) {
      var li = el('li', { id: 'addr-opt-' + i, role: 'option', 'aria-selected': i === sug.active ? 'true' : 'false' },
        el('span', { 'class': 's-label', text: p.label }),
        el('span', { 'class': 's-meta', text: KIND[p.kind] + ' · ' + p.outlets + '곳' }));
      // mousedown, not click: the input keeps focus (and the list stays open).
      li.addEventListener('mousedown', function (ev) { ev.preventDefault(); choose(p); });
      frag.appendChild(li);
    });
    sugList.replaceChildren(frag);
    var open = sug.items.length > 0;
    sugList.hidden = !open;
    addr.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (sug.active >= 0) {
      addr.setAttribute('aria-activedescendant', 'addr-opt-' + sug.active);
      var a = document.getElementById('addr-opt-' + sug.active);
      if (a && a.scrollIntoView) a.scrollIntoView({ block: 'nearest' });
    } else {
      addr.removeAttribute('aria-activedescendant');
    }
  }

  function suggest(q) {
    var seq = ++sug.seq;
    if (sug.ctl) sug.ctl.abort();
    sug.ctl = window.AbortController ? new AbortController() : null;
    PM.fetchJSON('/api/v2/places?q=' + encodeURIComponent(q) + '&limit=8', { signal: sug.ctl && sug.ctl.signal }).then(function (r) {
      if (seq !== sug.seq) return; // typed on, or closed, meanwhile
      sug.items = (r.ok && r.body && r.body.places) || [];
      sug.active = -1;
      renderSuggest();
      addrStatus.textContent = sug.items.length ? '추천 장소 ' + sug.items.length + '곳' : '';
    }).catch(function () {});
  }

  addr.addEventListener('input', function () {
    clearTimeout(sug.timer);
    var q = addr.value.trim();
    if (!q) { closeSuggest(); return; }
    // Debounced: a request per pause in typing, not per key.
    sug.timer = setTimeout(function () { suggest(q); }, 150);
  });

  addr.addEventListener('keydown', function (ev) {
    var n = sug.items.length;
    switch (ev.key) {
      case 'ArrowDown':
      case 'ArrowUp':
        if (!n) return;
        ev.preventDefault();
        if (ev.key === 'ArrowDown') sug.active = sug.active + 1 >= n ? 0 : sug.active + 1;
        else sug.active = sug.active <= 0 ? n - 1 : sug.active - 1;
        renderSuggest();
        break;
      case 'Enter':
        if (n && sug.active >= 0) { ev.preventDefault(); choose(sug.items[sug.active]); }
        break; // otherwise the form is submitted: the v1 search
      case 'Escape':
        if (n) { ev.preventDefault(); closeSuggest(); }
        break;
    }
  });
  addr.addEventListener('blur', function () { clearTimeout(sug.timer); closeSuggest(); });

  function choose(p) {
    clearTimeout(sug.timer);
    addr.value = p.label;
    closeSuggest();
    searchAddress(p.label, p);
  }

  // v1 times ("2020/03/11 08:00:00", Korea time) as RFC 3339 for the list.
  function v1Time(t) { return t ? t.replace(/\//g, '-').replace(' ', 'T') + '+09:00' : null; }

  function showCandidates(a, cands) {
    var ul = el('ul', { 'class': 'choices' });
    (cands || []).forEach(function (c) {
      var b = el('button', { type: 'button', text: c });
      b.addEventListener('click', function () { addr.value = c; searchAddress(c, null); });
      ul.appendChild(el('li', null, b));
    });
    summaryEl.replaceChildren('"' + a + '"은(는) 여러 곳에 있습니다. 어느 곳인가요?', ul);
  }

  // searchAddress looks a typed address (or a chosen place's label) up with
  // the v1 API; the list then shows that place's outlets.
  function searchAddress(a, place) {
    summaryEl.textContent = '"' + a + '" 찾는 중…';
    PM.fetchJSON('/corona19-masks/v1/storesByAddr/json?address=' + encodeURIComponent(a)).then(function (r) {
      if (r.status === 400) {
        if (PM.errorCode(r) === 'ambiguous_address') { showCandidates(a, r.body.candidates); return; }
        summaryEl.textContent = '"' + a + '"을(를) 찾지 못했습니다. 시·군·구, 읍·면·동이나 도로명을 입력해 주세요. 예: 서울특별시 강북구 미아동, 강남구 논현동, 솔매로 38';
        return;
      }
      if (!r.ok || !r.body) { summaryEl.textContent = '검색하지 못했습니다. 잠시 후 다시 시도해 주세요.'; return; }
      var st = (r.body.stores || []).filter(function (s) { return isFinite(s.lat) && isFinite(s.lng) && s.lat && s.lng; });
      if (st.length === 0) {
        summaryEl.textContent = '"' + a + '"에서 판매처를 찾지 못했습니다.';
        if (place && isFinite(place.lat) && place.lat !== null) map.setView([place.lat, place.lng], 14);
        return;
      }
      state.place = { label: a, codes: new Set(st.map(function (s) { return s.code; })) };
      st.forEach(function (s) {
        upsert({ code: s.code, name: s.name, addr: s.addr, type: s.type, lat: s.lat, lng: s.lng,
          remain_stat: s.remain_stat, stock_at: v1Time(s.stock_at), updated_at: v1Time(s.created_at) }, false);
      });
      var b = L.latLngBounds(st.map(function (s) { return [s.lat, s.lng]; }));
      map.fitBounds(b.pad(0.05), { maxZoom: 16 });
      renderList();
      document.getElementById('list-heading').focus();
    }).catch(function () { summaryEl.textContent = '서버에 연결할 수 없습니다.'; });
  }

  document.getElementById('search').addEventListener('submit', function (ev) {
    ev.preventDefault();
    clearTimeout(sug.timer);
    closeSuggest();
    var a = addr.value.trim().replace(/\s+/g, ' ');
    if (a) searchAddress(a, null);
  });

  refresh(true);
  if (!fromURL) locate(false);
})();
