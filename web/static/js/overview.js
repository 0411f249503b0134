// /overview: the nation at a glance, live. Polls GET /api/v2/summary (counts
// by remain_stat nationally, per 시도 and per 시군구; masks sold per 10
// minutes today) and GET /api/v2/status (stale outlets, when this node
// serves it), and draws a choropleth of the 17 시도 from the embedded,
// simplified KOSTAT/SGIS outline.

import { PM } from './common.js';
import * as I from './i18n.js';

const el = PM.el, T = I.T;
var $ = function (id) { return document.getElementById(id); };
var NS = 'http://www.w3.org/2000/svg';
var POLL_MS = 3000, STALE_MS = 15000;
// A poll not answered in this long fails (the figures are then marked as
// not current): a frozen or cut-off server never answers.
var ANSWER_MS = 6000;
// Figures older than this are marked as such: the PublicmaskSnapshotStale
// alert's threshold (deploy/prometheus/alerts.yml). as_of is when the node
// last confirmed its snapshot with the store (DESIGN.md §6.13), about every
// second while it can: the figures are old when as_of has not moved for that
// long in this browser's time, or when /api/v2/status (real time) says so.
// Neither compares clocks: the service may run on a simulated, faster clock
// (--clock, --clock-rate).
var OLD_MS = 10000;
var asOfSeen = { asOf: null, at: 0 }, statusOld = false;
var STATS = ['plenty', 'some', 'few', 'empty', 'break', 'unstocked'];
var BUCKETS = [0, 0.2, 0.4, 0.6, 0.8]; // lower bounds of the colour classes
var TZ = 'Asia/Seoul';
var fmtTime = new Intl.DateTimeFormat(I.locale, { timeZone: TZ, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
var fmtHM = new Intl.DateTimeFormat(I.locale, { timeZone: TZ, hour: '2-digit', minute: '2-digit', hour12: false });
var fmtDate = new Intl.DateTimeFormat(I.locale, { timeZone: TZ, year: 'numeric', month: 'long', day: 'numeric' });

I.apply();

var say = PM.sayer($('meta-say'));
var state = { summary: null, geo: null, stale: null, where: {}, sort: { key: 'share', dir: -1 }, q: '' };

function svg(tag, attrs) {
  var e = document.createElementNS(NS, tag);
  for (var k in attrs) if (attrs[k] != null) e.setAttribute(k, attrs[k]);
  return e;
}
function withStock(c) { return (c.plenty || 0) + (c.some || 0) + (c.few || 0); }
function share(c) { return c && c.total ? withStock(c) / c.total : 0; }
function pct(x) { return x.toLocaleString(I.locale, { style: 'percent', maximumFractionDigits: 0 }); }
function bucket(x) { var b = 0; BUCKETS.forEach(function (lo, i) { if (x >= lo) b = i; }); return b; }
function ago(iso) {
  var t = Date.parse(iso);
  if (isNaN(t)) return '';
  var s = Math.max(0, Math.round((PM.serverNow() - t) / 1000));
  if (s < 60) return T('ago.s', { n: s });
  if (s < 3600) return T('ago.m', { n: Math.floor(s / 60) });
  if (s < 86400) return T('ago.h', { n: Math.floor(s / 3600) });
  return T('ago.d', { n: Math.floor(s / 86400) });
}

// ---------- projection of the outline ----------
var proj = null;
function makeProjection(geo) {
  var minX = 1e9, maxX = -1e9, minY = 1e9, maxY = -1e9;
  var k = Math.cos(36 * Math.PI / 180);
  geo.features.forEach(function (f) {
    f.geometry.coordinates.forEach(function (poly) {
      poly[0].forEach(function (p) {
        minX = Math.min(minX, p[0] * k); maxX = Math.max(maxX, p[0] * k);
        minY = Math.min(minY, -p[1]); maxY = Math.max(maxY, -p[1]);
      });
    });
  });
  var W = 400, H = 480, pad = 8;
  var s = Math.min((W - 2 * pad) / (maxX - minX), (H - 2 * pad) / (maxY - minY));
  return function (lng, lat) { return [pad + (lng * k - minX) * s, pad + (-lat - minY) * s]; };
}

function drawOutline() {
  var g = state.geo, box = $('choro');
  proj = makeProjection(g);
  box.replaceChildren();
  var shapes = svg('g', { 'class': 'provinces' });
  g.features.forEach(function (f) {
    var d = '';
    f.geometry.coordinates.forEach(function (poly) {
      d += poly[0].map(function (p, i) { var q = proj(p[0], p[1]); return (i ? 'L' : 'M') + q[0].toFixed(1) + ' ' + q[1].toFixed(1); }).join('') + 'Z';
    });
    var path = svg('path', { d: d, 'class': 'prov c0', 'data-sido': f.properties.name });
    path.appendChild(svg('title', {}));
    shapes.appendChild(path);
  });
  box.appendChild(shapes);
  box.appendChild(svg('g', { id: 'stale-dots' }));
  var leg = $('choro-legend');
  var swatch = function (cls) {
    var sw = svg('svg', { viewBox: '0 0 14 14', width: 14, height: 14, 'aria-hidden': 'true' });
    sw.appendChild(svg('rect', { x: 0, y: 0, width: 14, height: 14, 'class': 'prov ' + cls }));
    return sw;
  };
  leg.replaceChildren.apply(leg, BUCKETS.map(function (lo, i) {
    var hi = i + 1 < BUCKETS.length ? BUCKETS[i + 1] : 1;
    return el('li', null, swatch('c' + i), ' ' + pct(lo) + '–' + pct(hi));
  }).concat([el('li', null, swatch('nodata'), ' ' + T('map.nodata'))]));
}

// ---------- rendering ----------
function renderNational(s) {
  var nat = s.national || {};
  var ul = $('national');
  ul.replaceChildren.apply(ul, STATS.map(function (k) {
    var key = k === 'unstocked' ? 'unknown' : k;
    var b = el('span', { 'class': 'badge s-' + key });
    b.innerHTML = PM.statusGlyph(key);
    b.appendChild(el('span', { 'class': 'badge-text' }, k === 'unstocked' ? T('stat.unstocked') : T('stat.' + k + '.label')));
    return el('li', { 'data-stat': k }, b,
      el('strong', { 'class': 'nat-n' }, I.num(nat[k] || 0)),
      el('span', { 'class': 'hint' }, T('national.share', { p: pct(nat.total ? (nat[k] || 0) / nat.total : 0) })));
  }));
}

function renderSido(s) {
  var rows = [];
  Array.prototype.forEach.call(document.querySelectorAll('#choro path.prov'), function (p) {
    var name = p.getAttribute('data-sido'), c = (s.sido || {})[name] || { total: 0 };
    var x = share(c);
    p.setAttribute('class', 'prov ' + (c.total ? 'c' + bucket(x) : 'nodata'));
    p.setAttribute('data-share', x.toFixed(3));
    p.firstChild.textContent = c.total ? T('sido.tip', { name: I.sido(name), p: pct(x), a: I.num(withStock(c)), b: I.num(c.total) }) : T('sido.tip.none', { name: I.sido(name) });
    rows.push(el('tr', { 'data-sido': name },
      el('th', { scope: 'row' }, I.sido(name)),
      el('td', { 'class': 'num' }, c.total ? pct(x) : '—'),
      el('td', { 'class': 'num' }, I.num(withStock(c)) + ' / ' + I.num(c.total))));
  });
  $('sido-rows').replaceChildren.apply($('sido-rows'), rows);
}

function renderSales(s) {
  var ser = s.sales_per_10min || { counts: [] }, counts = ser.counts || [];
  var total = counts.reduce(function (a, b) { return a + b; }, 0);
  $('sales-total').textContent = T('sales.total', { n: I.num(total), last: I.num(counts.length ? counts[counts.length - 1] : 0) });
  var day = ser.date ? fmtDate.format(Date.parse(ser.date + 'T12:00:00+09:00')) : '';
  $('sales-desc').textContent = T('sales.desc', { date: day, since: ser.started_at ? fmtTime.format(Date.parse(ser.started_at)) : '' });
  var box = $('sales-chart'), W = 720, H = 160, top = 8, bottom = 4;
  var max = Math.max.apply(null, [1].concat(counts));
  var bw = W / 144;
  box.replaceChildren();
  var axis = [];
  for (var h = 0; h <= 24; h += 3) {
    var x = h * 6 * bw;
    box.appendChild(svg('line', { x1: x, x2: x, y1: top, y2: H - bottom, 'class': 'grid' }));
    var lab = el('span', null, String(h).padStart(2, '0') + ':00');
    lab.style.left = (h / 24 * 100).toFixed(2) + '%'; // CSSOM: the CSP forbids style attributes
    axis.push(lab);
  }
  $('sales-axis').replaceChildren.apply($('sales-axis'), axis);
  counts.forEach(function (n, i) {
    if (!(n > 0)) return; // a bin of cancels of earlier sales may be below zero
    var hgt = (H - top - bottom) * n / max;
    var r = svg('rect', { x: (i * bw + 0.5).toFixed(1), y: (H - bottom - hgt).toFixed(1), width: (bw - 1).toFixed(1), height: hgt.toFixed(1), 'class': 'bar' });
    var tt = svg('title', {});
    var from = Date.parse(ser.date + 'T00:00:00+09:00') + i * 600000;
    tt.textContent = T('sales.bar', { time: fmtHM.format(from), n: I.num(n) });
    r.appendChild(tt);
    box.appendChild(r);
  });
  $('sales-max').textContent = I.num(max);
}

var COLS = [
  { key: 'sido', msg: 'col.sido', get: function (r) { return I.sido(r.sido); } },
  { key: 'sigungu', msg: 'col.sigungu', get: function (r) { return r.sigungu; } },
  { key: 'share', msg: 'col.share', num: true, get: function (r) { return share(r); }, show: function (r) { return pct(share(r)); } },
  { key: 'plenty', msg: 'stat.plenty', num: true }, { key: 'some', msg: 'stat.some', num: true },
  { key: 'few', msg: 'stat.few', num: true }, { key: 'empty', msg: 'stat.empty', num: true },
  { key: 'break', msg: 'stat.break', num: true }, { key: 'total', msg: 'col.total', num: true }
];
function colValue(c, r) { return c.get ? c.get(r) : (r[c.key] || 0); }

function renderHead() {
  var tr = $('sgg-head');
  tr.replaceChildren.apply(tr, COLS.map(function (c) {
    var sorted = state.sort.key === c.key;
    var btn = el('button', { type: 'button', 'class': 'sort', 'aria-label': T('sgg.sort', { col: T(c.msg) }) },
      T(c.msg), el('span', { 'aria-hidden': 'true', 'class': 'arrow' }, sorted ? (state.sort.dir > 0 ? ' ▲' : ' ▼') : ''));
    btn.addEventListener('click', function () {
      state.sort = { key: c.key, dir: sorted ? -state.sort.dir : (c.num ? -1 : 1) };
      renderHead();
      renderSigungu();
      var again = document.querySelector('#sgg-head th[data-key="' + c.key + '"] button');
      if (again) again.focus();
    });
    return el('th', { scope: 'col', 'data-key': c.key, 'class': c.num ? 'num' : null,
      'aria-sort': sorted ? (state.sort.dir > 0 ? 'ascending' : 'descending') : null }, btn);
  }));
}

function renderSigungu() {
  var s = state.summary;
  if (!s) return;
  var q = state.q.trim().toLowerCase();
  var list = (s.sigungu || []).filter(function (r) {
    return !q || r.sigungu.toLowerCase().indexOf(q) >= 0 || r.sido.indexOf(q) >= 0 || I.sido(r.sido).toLowerCase().indexOf(q) >= 0;
  });
  var col = COLS.filter(function (c) { return c.key === state.sort.key; })[0];
  list.sort(function (a, b) {
    var x = colValue(col, a), y = colValue(col, b);
    var d = typeof x === 'number' ? x - y : String(x).localeCompare(String(y), 'ko');
    return d * state.sort.dir || a.sigungu.localeCompare(b.sigungu, 'ko');
  });
  // A status: written only when it changes (every poll re-renders the table).
  var count = T('sgg.count', { n: I.num(list.length) });
  if ($('sgg-count').textContent !== count) $('sgg-count').textContent = count;
  var tb = $('sgg-rows');
  tb.replaceChildren.apply(tb, list.map(function (r) {
    return el.apply(null, ['tr', null].concat(COLS.map(function (c, i) {
      var v = c.show ? c.show(r) : (c.num ? I.num(colValue(c, r)) : colValue(c, r));
      return i === 1 ? el('th', { scope: 'row', 'class': 'reg' }, v) : el('td', { 'class': c.num ? 'num' : null }, v);
    })));
  }));
}

function renderStale() {
  var ul = $('stale'), dots = $('stale-dots');
  if (state.stale == null) {
    ul.replaceChildren(el('li', { 'class': 'hint' }, T('stale.unavailable')));
    return;
  }
  if (dots) dots.replaceChildren();
  if (!state.stale.length) {
    ul.replaceChildren(el('li', { 'class': 'hint' }, T('stale.none')));
    return;
  }
  ul.replaceChildren.apply(ul, state.stale.map(function (o) {
    var w = state.where[o.code];
    if (w && proj && dots) {
      var q = proj(w.lng, w.lat);
      var c = svg('circle', { cx: q[0].toFixed(1), cy: q[1].toFixed(1), r: 4, 'class': 'stale-dot', 'data-code': o.code });
      var t = svg('title', { 'class': 'reg', lang: 'ko' });
      t.textContent = o.name;
      c.appendChild(t);
      dots.appendChild(c);
    }
    return el('li', null, el('strong', { 'class': 'reg' }, o.name), ' · ' + T('stale.row', { stock: I.num(o.stock), ago: ago(o.updated_at) }));
  }));
}

function render() {
  var s = state.summary;
  if (!s) return;
  if (s.as_of !== asOfSeen.asOf) { // moved: confirmed since the status said otherwise
    if (asOfSeen.asOf !== null) statusOld = false;
    asOfSeen = { asOf: s.as_of, at: Date.now() };
  }
  var asOf = Date.parse(s.as_of), old = statusOld || Date.now() - asOfSeen.at > OLD_MS;
  $('meta').textContent = (old ? '⚠ ' + T('meta.stale', { ago: ago(s.as_of) }) + ' · ' : '') +
    T('meta.asof', { time: fmtTime.format(asOf), n: I.num((s.national || {}).total || 0) });
  $('meta').className = old ? 'meta bad' : 'meta';
  say(old ? 'old' : 'ok', $('meta').textContent);
  renderNational(s);
  if (state.geo) renderSido(s);
  renderSales(s);
  renderSigungu();
}

// ---------- polling ----------
async function pollSummary() {
  let r = null;
  try {
    r = await PM.fetchJSON('/api/v2/summary', { timeout: ANSWER_MS });
  } catch (e) {
    $('meta').textContent = T('meta.offline');
    $('meta').className = 'meta bad';
    say('offline', T('meta.offline'));
  }
  try {
    if (r && r.ok && r.body) {
      PM.observeAtLeast(r.body.as_of);
      state.summary = r.body;
      render();
    }
  } catch (e) { /* a rendering error: the next poll tries again */ }
  setTimeout(pollSummary, POLL_MS);
}

// where looks up the positions of stale outlets not placed yet (50 at most).
async function where(stale) {
  const need = stale.filter((o) => !state.where[o.code]).slice(0, 50);
  await Promise.all(need.map(async (o) => {
    try {
      const x = await PM.fetchJSON('/api/v2/outlets/' + encodeURIComponent(o.code));
      if (x.ok && x.body) state.where[o.code] = { lat: x.body.lat, lng: x.body.lng };
    } catch (e) { /* placed at the next poll */ }
  }));
}

async function pollStale() {
  try {
    const r = await PM.fetchJSON('/api/v2/status', { timeout: ANSWER_MS });
    if (!r.ok || !r.body) { state.stale = null; renderStale(); }
    else {
      if (r.body.now) PM.observeServerTime(r.body.now);
      var age = r.body.snapshot && r.body.snapshot.age_ms;
      statusOld = typeof age === 'number' && age > OLD_MS;
      render();
      state.stale = Array.isArray(r.body.stale_outlets) ? r.body.stale_outlets : [];
      await where(state.stale);
      renderStale();
    }
  } catch (e) { /* unreachable, or a rendering error: the next poll tries again */ }
  setTimeout(pollStale, STALE_MS);
}

$('sgg-q').addEventListener('input', function (e) { state.q = e.target.value; renderSigungu(); });
renderHead();
PM.fetchJSON(document.body.getAttribute('data-geo')).then(function (r) {
  if (!r.ok || !r.body) return;
  state.geo = r.body;
  drawOutline();
  render();
  renderStale();
});
pollSummary();
pollStale();
