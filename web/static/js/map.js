// The public map: nearest outlets as markers and as a text list, kept live by
// the v2 change stream (DESIGN.md §4.2).

import { PM } from './common.js';
import * as I from './i18n.js';

const el = PM.el;
I.apply();
var CITY_HALL = [37.5665, 126.9780]; // fallback centre: Seoul City Hall
var cfg = document.body.dataset;
var LIST_MAX = 50;

var state = {
  q: null,            // current query {lat,lng,m}
  outlets: new Map(), // code → {o, marker}
  place: null,        // a searched place {label, codes: Set}: the list shows its outlets
  es: null, backoff: 0, retryTimer: 0, hadError: false,
  reqSeq: 0,
  version: 0,         // the highest data version seen (near answers, event ids)
  epoch: '',          // the epoch of that version's history (publicmask.Epochs)
  // How current the node's data is, from the stream's freshness events:
  // stale (it cannot confirm its data with its store), the age it said and
  // when (Date.now()) it said it.
  fresh: null
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
var map = L.map('map', { zoomControl: false, attributionControl: true, maxZoom: 19, minZoom: 6 }).setView(start, 16);
map.attributionControl.setPrefix(false); // keep the credit line short on phones
// Leaflet's controls say "Zoom in" and "Close popup" in English: in the
// page's language instead (their title and aria-label).
L.control.zoom({ zoomInTitle: I.T('map.zoomin'), zoomOutTitle: I.T('map.zoomout') }).addTo(map);
map.on('popupopen', function (e) {
  var b = e.popup.getElement() && e.popup.getElement().querySelector('.leaflet-popup-close-button');
  if (b) b.setAttribute('aria-label', I.T('map.popup.close'));
});
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
      html: '<span class="cluster-n">' + n + '</span><span class="cluster-s">' + I.T('cluster.stock', { n: inStock }) + '</span>'
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
    el('strong', { 'class': 'reg', text: o.name }),
    el('div', null, PM.badge(o.remain_stat)),
    forecastNode(o),
    el('div', { 'class': 'o-addr reg', text: o.addr }),
    el('div', { 'class': 'o-meta', text: stockAtText(o) }),
    notifyButton(o));
  return d;
}

function stockAtText(o) {
  return o.stock_at ? I.T('stockat', { when: PM.when(o.stock_at) }) : I.T('stockat.none');
}

// The sell-out forecast (DESIGN.md §4.2): shown while the outlet sells and
// its sellout_at is still ahead (§6.7: a passed one is hidden).
function forecastText(o) {
  var f = o.forecast;
  var t = f && f.sellout_at ? Date.parse(f.sellout_at) : NaN;
  if (isNaN(t)) return '';
  var min = Math.round((t - PM.serverNow()) / 60000);
  if (min < 1) return '';
  if (min < 60) return I.T('forecast.min', { n: I.num(min) });
  return I.T('forecast.h', { n: I.num(Math.round(min / 6) / 10) });
}
function forecastNode(o) {
  var txt = forecastText(o);
  return el('p', { 'class': 'o-forecast', 'data-t': o.forecast && o.forecast.sellout_at || '', hidden: !txt }, txt);
}

// "Notify me": while the page is open, a watched outlet that goes to some
// or plenty raises a browser notification (or, without permission, an
// in-page alert). Watches live in memory only.
var watched = new Set();
var alertsEl = document.getElementById('alerts');
function hasStock(stat) { return stat === 'some' || stat === 'plenty'; }
function notifyButton(o) {
  var on = watched.has(o.code);
  var b = el('button', { type: 'button', 'class': 'secondary small notify reg-label', 'aria-pressed': on ? 'true' : 'false',
    'aria-label': I.T(on ? 'notify.off.aria' : 'notify.on.aria', { name: o.name }) }, I.T(on ? 'notify.off' : 'notify.on'));
  b.addEventListener('click', function () {
    if (watched.has(o.code)) watched.delete(o.code); else watched.add(o.code);
    if (watched.has(o.code) && window.Notification && Notification.permission === 'default') {
      try { Notification.requestPermission(); } catch (e) { /* old API: in-page alerts */ }
    }
    var nb = notifyButton(o);
    b.replaceWith(nb);
    nb.focus();
  });
  return b;
}
function fireNotification(o) {
  var title = I.T('notify.title', { name: o.name });
  var body = I.T('notify.body', { stat: I.T('stat.' + PM.statKey(o.remain_stat) + '.label') });
  var shown = false;
  if (window.Notification && Notification.permission === 'granted') {
    try { new Notification(title, { body: body, tag: 'publicmask-' + o.code }); shown = true; } catch (e) { shown = false; }
  }
  var p = el('p', { 'class': 'alert', 'data-code': o.code, 'data-notified': shown ? 'system' : 'page' }, title + ' · ' + body);
  alertsEl.appendChild(p);
  setTimeout(function () { p.remove(); }, 60000);
}

// upsert shows o, known as of data version v: an answer or event older than
// what the page already shows of that outlet is ignored (a near answer and
// the stream race; an outlet's events carry its version as their id).
function upsert(o, live, v) {
  var cur = state.outlets.get(o.code);
  if (cur && v && cur.v > v) return;
  if (cur) {
    if (v) cur.v = v;
    var changed = cur.o.remain_stat !== o.remain_stat;
    if (live && changed && watched.has(o.code) && hasStock(o.remain_stat) && !hasStock(cur.o.remain_stat)) fireNotification(o);
    if (o.distance_m == null) o.distance_m = cur.o.distance_m;
    // Re-registered elsewhere: the marker follows its outlet.
    if (o.lat !== cur.o.lat || o.lng !== cur.o.lng) cur.marker.setLatLng([o.lat, o.lng]);
    cur.o = o;
    cur.marker.options.stat = o.remain_stat;
    cur.marker.options.title = o.name + ' · ' + PM.statusInfo(o.remain_stat).label;
    if (changed) {
      cur.marker.setIcon(pinIcon(o.remain_stat));
      cluster.refreshClusters(cur.marker);
    }
    // A closed popup is rebuilt when it opens: at 08:00 a busy circle
    // streams hundreds of changes a second.
    if (cur.marker.isPopupOpen()) cur.marker.setPopupContent(popupFor(o));
    else cur.stalePopup = true;
    cur.live = live;
    return;
  }
  var m = L.marker([o.lat, o.lng], {
    icon: pinIcon(o.remain_stat), stat: o.remain_stat, keyboard: false,
    title: o.name + ' · ' + PM.statusInfo(o.remain_stat).label, alt: o.name
  });
  m.bindPopup(popupFor(o));
  m.on('popupopen', function () {
    var x = state.outlets.get(o.code);
    if (x && x.marker === m && x.stalePopup) { x.stalePopup = false; m.setPopupContent(popupFor(x.o)); }
  });
  state.outlets.set(o.code, { o: o, marker: m, live: live, v: v || 0 });
  cluster.addLayer(m);
}

// scheduleRender renders the list once per frame, however many changes
// the stream brings in it: a render per event fell tens of seconds behind a
// busy circle while the page still said it was live.
var renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(function () { renderQueued = false; renderList(); });
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
    summaryEl.replaceChildren(el('span', { 'class': 'reg' }, place.label), ' ' + I.T('place.summary', { n: I.num(all.length), k: I.num(inStock.length) }) +
      (all.length > LIST_MAX ? ' ' + I.T('place.more', { n: LIST_MAX }) : ''));
    var clear = el('button', { type: 'button', 'class': 'clear-place', text: I.T('place.clear') });
    clear.addEventListener('click', function () { state.place = null; refresh(true); renderList(); });
    summaryEl.appendChild(clear);
    return;
  }
  summaryEl.textContent = all.length === 0
    ? I.T('list.none', { r: PM.distance(state.q ? state.q.m : 0) })
    : I.T('list.summary', { r: PM.distance(state.q.m), n: I.num(all.length), k: I.num(inStock.length) });
}

function item(x) {
  var o = x.o;
  var li = el('li', { 'class': 'outlet s-' + PM.statKey(o.remain_stat) + (x.live ? ' flash' : ''), 'data-code': o.code });
  var btn = el('button', { type: 'button', 'class': 'o-main' },
    el('span', { 'class': 'o-line1' },
      el('span', { 'class': 'o-name reg', text: o.name }),
      el('span', { 'class': 'o-dist', text: PM.distance(o.distance_m) })),
    el('span', { 'class': 'o-line2' }, PM.badge(o.remain_stat),
      el('span', { 'class': 'o-type', text: PM.typeName(o.type) })));
  btn.addEventListener('click', function () {
    var cur = state.outlets.get(o.code);
    if (!cur) return;
    cluster.zoomToShowLayer(cur.marker, function () { cur.marker.openPopup(); });
  });
  li.appendChild(btn);
  li.appendChild(forecastNode(o));
  li.appendChild(notifyButton(o));
  li.appendChild(el('p', { 'class': 'o-meta' },
    el('span', { text: stockAtText(o) }), ' · ',
    el('span', { 'class': 'o-age', 'data-t': o.updated_at || '', text: ageText(o.updated_at) })));
  li.appendChild(el('p', { 'class': 'o-addr reg', text: o.addr }));
  x.live = false;
  return li;
}

function ageText(t) { return t ? I.T('age', { ago: PM.ago(t) }) : I.T('age.none'); }

// Ages and forecasts tick every second without touching the rest of the
// list; forecasts in the open popup too (a passed sellout_at is hidden
// wherever it shows, §6.7).
function tickForecasts(root) {
  root.querySelectorAll('.o-forecast').forEach(function (p) {
    var txt = forecastText({ forecast: { sellout_at: p.dataset.t } });
    p.textContent = txt;
    p.hidden = !txt;
  });
}
setInterval(function () {
  listEl.querySelectorAll('.o-age').forEach(function (s) {
    if (s.dataset.t) s.textContent = ageText(s.dataset.t);
  });
  tickForecasts(document);
}, 1000);
map.on('popupopen', function (e) { var c = e.popup.getElement(); if (c) tickForecasts(c); });

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
  load(q, true);
}

// load shows the outlets near q; with thenSubscribe, it then opens the
// stream from the answer's version, so that nothing changed between the
// two is missed.
async function load(q, thenSubscribe) {
  const seq = ++state.reqSeq;
  const url = '/api/v2/outlets/near?lat=' + q.lat + '&lng=' + q.lng + '&m=' + q.m + '&limit=' + (q.m > 2000 ? 300 : 100);
  try {
    const r = await PM.fetchJSON(url);
    if (seq !== state.reqSeq) return; // a newer view has been asked for
    if (!r.ok || !r.body) {
      summaryEl.textContent = r.status === 503 ? I.T('load.busy') : I.T('load.failed');
      if (r.status === 503) setTimeout(function () { if (seq === state.reqSeq) load(q, thenSubscribe); }, 2000 + Math.random() * 2000);
      else if (thenSubscribe) subscribe(q);
      return;
    }
    PM.observeServerTime(r.body.as_of);
    const v = +r.body.version || 0;
    // Another epoch: the node's store was restored or recreated since the
    // page's data (its versions are of another history), so the page's
    // versions say nothing about this answer's: forget them.
    const ep = r.body.epoch || '';
    if (ep !== state.epoch) { forgetVersions(); state.epoch = ep; }
    state.version = Math.max(state.version, v);
    const keep = new Set();
    (r.body.outlets || []).forEach(function (o) { keep.add(o.code); upsert(o, false, v); });
    state.outlets.forEach(function (x, code) {
      if (!keep.has(code) && !(state.place && state.place.codes.has(code))) {
        cluster.removeLayer(x.marker); state.outlets.delete(code);
      }
    });
    renderList();
    if (thenSubscribe) subscribe(q);
  } catch (e) {
    if (seq !== state.reqSeq) return;
    summaryEl.textContent = I.T('load.offline');
    setTimeout(function () { if (seq === state.reqSeq) load(q, thenSubscribe); }, 3000);
  }
}

// ---- live stream, reconnecting with exponential backoff ----

function setLive(ok, text) {
  liveEl.classList.toggle('ok', ok);
  liveEl.classList.toggle('down', !ok);
  liveEl.classList.remove('stale');
  liveEl.removeAttribute('title');
  liveText.textContent = text;
}

// showFreshness says "live" only while the node's data is current: a
// public node whose store is away keeps its stream open and serves its
// last snapshot, which is then behind by its age (ticking here between
// the node's events).
function showFreshness() {
  var f = state.fresh;
  if (!f || !state.es || state.es.readyState !== 1) return;
  if (!f.stale) { setLive(true, I.T('live.on')); return; }
  var ago = PM.agoSeconds(f.age + (Date.now() - f.at) / 1000);
  liveEl.classList.remove('ok', 'down');
  liveEl.classList.add('stale');
  liveText.textContent = I.T('live.stale', { ago: ago });
  liveEl.title = I.T('live.stale.why', { ago: ago });
}
setInterval(showFreshness, 1000);

// cursorOf reads an event id: "VERSION@EPOCH" (or a bare version).
function cursorOf(id) {
  var at = (id || '').indexOf('@');
  return at < 0 ? { v: parseInt(id, 10) || 0, epoch: '' } : { v: parseInt(id.slice(0, at), 10) || 0, epoch: id.slice(at + 1) };
}

// forgetVersions drops what the page knows of versions: they were of
// another history of the store than what comes next.
function forgetVersions() {
  state.version = 0;
  state.outlets.forEach(function (x) { x.v = 0; });
}

function subscribe(q) {
  clearTimeout(state.retryTimer);
  if (state.es) state.es.close();
  if (!window.EventSource) { setLive(false, I.T('live.unsupported')); return; }
  // since: the stream first sends what changed after the data shown.
  // The cursor carries the epoch of its history: a store restored from a
  // backup is then told from the same store even once its versions have
  // passed the page's.
  var es = new EventSource('/api/v2/stream?lat=' + q.lat + '&lng=' + q.lng + '&m=' + q.m +
    '&freshness=1&epoch=1' + (state.version ? '&since=' + state.version + (state.epoch ? '@' + state.epoch : '') : ''));
  state.es = es;
  es.onopen = function () {
    state.backoff = 0;
    state.fresh = null;
    setLive(true, I.T('live.on'));
    // Changes made while disconnected were not streamed: reload once.
    if (state.hadError) { state.hadError = false; load(state.q); }
  };
  es.addEventListener('freshness', function (ev) {
    var f;
    try { f = JSON.parse(ev.data); } catch (e) { return; }
    state.fresh = { stale: !!f.stale, age: +f.age_s || 0, at: Date.now() };
    showFreshness();
  });
  // reset: the node's data is of another history than the page's (its
  // store was restored or rebuilt: its versions are lower than those the
  // page holds). Forget the versions, or the page would ignore every
  // change as older than what it shows; the circle's outlets follow as
  // events, and a reload drops outlets this store does not have.
  es.addEventListener('reset', function (ev) {
    var r;
    try { r = JSON.parse(ev.data); } catch (e) { return; }
    forgetVersions();
    state.version = +r.version || 0;
    state.epoch = r.epoch || '';
    load(state.q);
  });
  es.addEventListener('outlet', function (ev) {
    var o;
    try { o = JSON.parse(ev.data); } catch (e) { return; }
    if (o.updated_at) PM.observeAtLeast(o.updated_at);
    var c = cursorOf(ev.lastEventId);
    if (c.epoch !== state.epoch) { forgetVersions(); state.epoch = c.epoch; }
    var v = c.v;
    state.version = Math.max(state.version, v);
    // An event beyond the circle (distance_m > m) is an outlet that left
    // it (re-registered elsewhere): the last event of that outlet on this
    // stream. It leaves the map (unless a searched place holds it).
    var q = state.q;
    if (q && o.distance_m > q.m && !(state.place && state.place.codes.has(o.code))) {
      var gone = state.outlets.get(o.code);
      if (gone) { cluster.removeLayer(gone.marker); state.outlets.delete(o.code); scheduleRender(); }
      return;
    }
    upsert(o, true, v);
    scheduleRender();
  });
  es.onerror = function () {
    if (state.es !== es) return;
    // Take reconnection into our own hands: the browser's fixed retry would
    // hammer a struggling server at 08:00; ours backs off with jitter.
    es.close();
    state.hadError = true;
    state.backoff = Math.min(30000, state.backoff ? state.backoff * 2 : 1000);
    var wait = state.backoff / 2 + Math.random() * state.backoff / 2;
    setLive(false, I.T('live.retry', { s: Math.ceil(wait / 1000) }));
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
    if (explicit) summaryEl.textContent = I.T('locate.unsupported');
    return;
  }
  navigator.geolocation.getCurrentPosition(function (p) {
    map.setView([p.coords.latitude, p.coords.longitude], 16);
  }, function () {
    if (explicit) summaryEl.textContent = I.T('locate.denied');
  }, { enableHighAccuracy: false, timeout: 8000, maximumAge: 60000 });
}
document.getElementById('locate').addEventListener('click', function () { state.place = null; locate(true); });

// ---- address search: suggestions as you type (/api/v2/places, an ARIA
// combobox), and the v1 search on Enter (DESIGN.md §4.1, §4.2) ----

var addr = document.getElementById('addr');
var sugList = document.getElementById('addr-list');
var addrStatus = document.getElementById('addr-status');
var KIND = { sido: I.T('kind.sido'), sigungu: I.T('kind.sigungu'), dong: I.T('kind.dong'), road: I.T('kind.road') };
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
      el('span', { 'class': 's-label reg', text: I.place(p.label) }),
      el('span', { 'class': 's-meta', text: I.T('suggest.meta', { kind: KIND[p.kind], n: I.num(p.outlets) }) }));
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
    addrStatus.textContent = sug.items.length ? I.T('suggest.count', { n: sug.items.length }) : '';
  }).catch(function () {});
}

addr.addEventListener('input', function () {
  clearTimeout(sug.timer);
  var q = addr.value.trim();
  if (!q) { closeSuggest(); return; }
  // Debounced: a request per pause in typing, not per key. What is typed
  // as the page shows places ("Seoul 강남") is asked as registered, as the
  // search on Enter is: the place index knows the registry's names only.
  sug.timer = setTimeout(function () { suggest(I.registered(q.replace(/\s+/g, ' '))); }, 150);
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

// A place's label is registry text: it is what the search is sent, and
// what the page shows is I.place of it (the 시도 in the page's language).
function choose(p) {
  clearTimeout(sug.timer);
  addr.value = I.place(p.label);
  closeSuggest();
  if (p.kind === 'sido') {
    // storesByAddr refuses a 시도 alone (DESIGN.md §4.1: 400): a chosen
    // 시도 moves the map to its outlets' mean position, whose outlets the
    // list then shows as for any view.
    if (p.lat !== null && isFinite(p.lat)) {
      state.place = null;
      map.setView([p.lat, p.lng], 12);
    }
    return;
  }
  searchAddress(p.label, p);
}

// v1 times ("2020/03/11 08:00:00", Korea time) as RFC 3339 for the list.
function v1Time(t) { return t ? t.replace(/\//g, '-').replace(' ', 'T') + '+09:00' : null; }

function showCandidates(a, cands) {
  var ul = el('ul', { 'class': 'choices' });
  (cands || []).forEach(function (c) {
    var b = el('button', { type: 'button', text: I.place(c) });
    b.addEventListener('click', function () { addr.value = I.place(c); searchAddress(c, null); });
    ul.appendChild(el('li', null, b));
  });
  summaryEl.replaceChildren(I.T('search.ambiguous', { q: I.place(a) }), ul);
}

// searchAddress looks a typed address (or a chosen place's label), as
// registry text, up with the v1 API; the list then shows that place's
// outlets.
function searchAddress(a, place) {
  summaryEl.textContent = I.T('search.busy', { q: I.place(a) });
  PM.fetchJSON('/corona19-masks/v1/storesByAddr/json?address=' + encodeURIComponent(a)).then(function (r) {
    if (r.status === 400) {
      if (PM.errorCode(r) === 'ambiguous_address') { showCandidates(a, r.body.candidates); return; }
      summaryEl.textContent = I.T('search.bad', { q: I.place(a) });
      return;
    }
    if (!r.ok || !r.body) { summaryEl.textContent = I.T('search.failed'); return; }
    var st = (r.body.stores || []).filter(function (s) { return isFinite(s.lat) && isFinite(s.lng) && s.lat && s.lng; });
    if (st.length === 0) {
      summaryEl.textContent = I.T('search.none', { q: I.place(a) });
      if (place && isFinite(place.lat) && place.lat !== null) map.setView([place.lat, place.lng], 14);
      return;
    }
    state.place = { label: I.place(a), codes: new Set(st.map(function (s) { return s.code; })) };
    st.forEach(function (s) {
      upsert({ code: s.code, name: s.name, addr: s.addr, type: s.type, lat: s.lat, lng: s.lng,
        remain_stat: s.remain_stat, stock_at: v1Time(s.stock_at), updated_at: v1Time(s.created_at) }, false);
    });
    var b = L.latLngBounds(st.map(function (s) { return [s.lat, s.lng]; }));
    map.fitBounds(b.pad(0.05), { maxZoom: 16 });
    renderList();
    document.getElementById('list-heading').focus();
  }).catch(function () { summaryEl.textContent = I.T('search.offline'); });
}

document.getElementById('search').addEventListener('submit', function (ev) {
  ev.preventDefault();
  clearTimeout(sug.timer);
  closeSuggest();
  var a = I.registered(addr.value.trim().replace(/\s+/g, ' '));
  if (a) searchAddress(a, null);
});

refresh(true);
if (!fromURL) locate(false);
