// The operations page: polls /api/v2/status and draws the figures with small
// SVG charts. Every field is optional: what the server does not report is
// shown as "—", and unknown scalar fields are listed under 기타 값.

import { PM } from './common.js';
import * as I from './i18n.js';

const el = PM.el, T = I.T;
I.apply();
var POLL_MS = 2000, KEEP_MS = 10 * 60 * 1000;
// A poll not answered in this long fails: the page says the node is
// unreachable instead of showing its last figures as current.
var ANSWER_MS = 6000;
// A snapshot older than this is stale: the PublicmaskSnapshotStale alert's
// threshold (deploy/prometheus/alerts.yml). Its age is since the node last
// confirmed it with the store (DESIGN.md §6.13), so a quiet night is not.
var STALE_MS = 10000;
var local = [];       // client-side history, when the server sends none
var lastOK = 0;
var say = PM.sayer(document.getElementById('meta-say'));
// The store's causes of failed writes (app/writehealth.go), each with its
// sentence in the catalogue; the server's own sentence (English) is kept
// as the box's title, and shown only for a cause this page does not know.
var CAUSES = { disk_full: 1, io_error: 1, flush_failed: 1, slow_flush: 1, file_replaced: 1, store_unavailable: 1, read_only: 1 };
function storeWhy(cause, error) {
  if (CAUSES[cause] === 1) return T('cause.' + cause);
  return typeof error === 'string' ? error : '';
}
function storeLine(ok, cause, error) {
  if (ok) return '✔ ' + T('store.ok');
  var why = storeWhy(cause, error);
  return '✖ ' + T('store.bad') + (why ? ': ' + why : '');
}
var REASONS = { waiting: 1, refused: 1, timeout: 1, network: 1, status: 1, too_large: 1, bad_answer: 1 };
var KNOWN = { now: 1, version: 1, snapshot: 1, rates: 1, latency: 1, shed_total: 1, rate_limited_total: 1, store: 1, stale_outlets: 1, stale_outlets_count: 1, history: 1, nodes: 1, ledger: 1 };

function get(o, path) {
  return path.split('.').reduce(function (v, k) { return v != null && typeof v === 'object' ? v[k] : undefined; }, o);
}
function num(v) { return typeof v === 'number' && isFinite(v); }
function fmt(v, unit, digits) {
  if (!num(v)) return '—';
  var d = digits != null ? digits : (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2);
  return v.toLocaleString(I.locale, { maximumFractionDigits: d, minimumFractionDigits: 0 }) + (unit || '');
}
function ms(v) {
  if (!num(v)) return '—';
  if (v >= 60000) return fmt(v / 60000, T('unit.min'), 1);
  if (v >= 1000) return fmt(v / 1000, T('unit.s'), 2);
  return fmt(v, 'ms');
}

// spark draws one series as an inline SVG line with its last value marked.
function spark(values, label) {
  var w = 160, h = 36, pad = 2;
  var pts = values.filter(function (p) { return num(p[1]); });
  var ns = 'http://www.w3.org/2000/svg';
  if (pts.length < 2) {
    // Text, not SVG text: the chart is stretched to the card's width
    // (preserveAspectRatio none) and its text was stretched with it.
    var p = document.createElement('p');
    p.className = 'spark-empty';
    p.setAttribute('role', 'img');
    p.setAttribute('aria-label', T('spark.few', { label: label }));
    p.textContent = T('spark.collecting');
    return p;
  }
  var svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  svg.setAttribute('class', 'spark');
  svg.setAttribute('preserveAspectRatio', 'none'); // fill the card's width
  svg.setAttribute('role', 'img');
  var t0 = pts[0][0], t1 = pts[pts.length - 1][0];
  var vmax = Math.max.apply(null, pts.map(function (p) { return p[1]; }));
  var vmin = Math.min(0, Math.min.apply(null, pts.map(function (p) { return p[1]; })));
  if (vmax === vmin) vmax = vmin + 1;
  var x = function (t) { return pad + (t1 === t0 ? 0 : (t - t0) / (t1 - t0)) * (w - 2 * pad); };
  var y = function (v) { return h - pad - (v - vmin) / (vmax - vmin) * (h - 2 * pad); };
  var d = pts.map(function (p, i) { return (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1); }).join('');
  var area = document.createElementNS(ns, 'path');
  area.setAttribute('d', d + 'L' + x(t1).toFixed(1) + ' ' + (h - pad) + 'L' + x(t0).toFixed(1) + ' ' + (h - pad) + 'Z');
  area.setAttribute('class', 'spark-area');
  var line = document.createElementNS(ns, 'path');
  line.setAttribute('d', d);
  line.setAttribute('class', 'spark-line');
  var last = pts[pts.length - 1];
  var dot = document.createElementNS(ns, 'circle');
  dot.setAttribute('cx', x(last[0]).toFixed(1)); dot.setAttribute('cy', y(last[1]).toFixed(1)); dot.setAttribute('r', '2.5');
  dot.setAttribute('class', 'spark-dot');
  svg.appendChild(area); svg.appendChild(line); svg.appendChild(dot);
  var mins = Math.max(1, Math.round((t1 - t0) / 60000));
  svg.setAttribute('aria-label', T('spark.aria', { label: label, mins: mins, max: fmt(vmax), now: fmt(last[1]) }));
  return svg;
}

// metric renders one figure; series (optional) is [[t, v]…] for its chart.
function metric(id, label, value, series, note) {
  var box = el('div', { 'class': 'metric' + (value === '—' ? ' missing' : ''), 'data-metric': id },
    el('div', { 'class': 'm-label', text: label }),
    el('div', { 'class': 'm-value', text: value }));
  if (note) box.appendChild(el('div', { 'class': 'm-note', text: note }));
  if (series) box.appendChild(spark(series, label));
  return box;
}

function history(s) {
  if (Array.isArray(s.history) && s.history.length) {
    return s.history.map(function (p) { var t = Date.parse(p.t); return Object.assign({ _t: isNaN(t) ? 0 : t }, p); })
      .filter(function (p) { return p._t; });
  }
  return local;
}
function series(h, key) { return h.map(function (p) { return [p._t, p[key]]; }); }

function remember(s) {
  var t = Date.parse(s.now);
  if (isNaN(t)) t = Date.now();
  local.push({
    _t: t,
    sales_per_s: get(s, 'rates.sales_per_s'), reads_per_s: get(s, 'rates.public_reads_per_s'),
    outlet_p99_ms: get(s, 'latency.outlet.p99_ms'), public_p99_ms: get(s, 'latency.public.p99_ms'),
    admin_p99_ms: get(s, 'latency.admin.p99_ms'),
    freshness_p99_ms: get(s, 'snapshot.freshness_p99_ms'), age_ms: get(s, 'snapshot.age_ms'),
    commit_p99_ms: get(s, 'ledger.commit.p99_ms')
  });
  while (local.length && local[0]._t < t - KEEP_MS) local.shift();
}

function render(s) {
  remember(s);
  var h = history(s);
  var $ = function (id) { return document.getElementById(id); };

  // The header's ✔ says the figures are current: not when the node serves a
  // snapshot it cannot confirm with the store, which it keeps doing (§4.5).
  var age = get(s, 'snapshot.age_ms'), stale = num(age) && age > STALE_MS;
  $('meta').textContent = (stale ? '⚠ ' + T('meta.stale', { age: ms(age) }) + ' · ' : '✔ ') +
    (s.now ? T('meta.asof', { time: PM.clock(s.now) }) : T('meta.received')) +
    (s.version ? ' · ' + T('meta.version', { v: s.version }) : '') + ' · ' + T('meta.every');
  $('meta').className = stale ? 'meta bad' : 'meta ok';
  say(stale ? 'stale' : 'ok', $('meta').textContent);

  $('rates').replaceChildren(
    metric('sales_per_s', T('m.sales'), fmt(get(s, 'rates.sales_per_s')), series(h, 'sales_per_s')),
    metric('public_reads_per_s', T('m.reads'), fmt(get(s, 'rates.public_reads_per_s')), series(h, 'reads_per_s')));

  $('latency').replaceChildren.apply($('latency'), [['outlet', T('m.api.outlet')], ['admin', T('m.api.admin')], ['public', T('m.api.public')]].map(function (c) {
    var p50 = get(s, 'latency.' + c[0] + '.p50_ms'), p99 = get(s, 'latency.' + c[0] + '.p99_ms');
    var v = num(p50) || num(p99) ? ms(p50) + ' / ' + ms(p99) : '—';
    var key = c[0] + '_p99_ms';
    var hasSeries = h.some(function (p) { return num(p[key]); });
    return metric('latency_' + c[0], c[1], v, hasSeries ? series(h, key) : null);
  }));

  var ageBox = metric('snapshot_age', T('m.age'), ms(age), null,
    (stale ? T('m.age.stale') + ' · ' : '') + (num(get(s, 'snapshot.version')) ? T('m.snapver', { v: get(s, 'snapshot.version') }) : ''));
  if (stale) ageBox.classList.add('bad');
  // The hop sale → ledger commit, on nodes that record sales.
  var hops = [];
  if (s.ledger && typeof s.ledger === 'object') {
    hops = [['commit', 'm.commit', 'commit_p99_ms'], ['queue', 'm.queue', null]].map(function (c) {
      var p50 = get(s, 'ledger.' + c[0] + '.p50_ms'), p99 = get(s, 'ledger.' + c[0] + '.p99_ms');
      return metric('ledger_' + c[0], T(c[1]), num(p50) || num(p99) ? ms(p50) + ' / ' + ms(p99) : '—',
        c[2] && h.some(function (p) { return num(p[c[2]]); }) ? series(h, c[2]) : null);
    });
  }
  $('fresh').replaceChildren.apply($('fresh'), hops.concat([
    ageBox,
    metric('unapplied', T('m.unapplied'),
      get(s, 'snapshot.behind_store') === false ? '✔ 0 ms' : ms(get(s, 'snapshot.oldest_unapplied_ms'))),
    metric('freshness', T('m.fresh'),
      num(get(s, 'snapshot.freshness_p50_ms')) || num(get(s, 'snapshot.freshness_p99_ms'))
        ? ms(get(s, 'snapshot.freshness_p50_ms')) + ' / ' + ms(get(s, 'snapshot.freshness_p99_ms')) : '—',
      series(h, 'freshness_p99_ms'))]));

  var store = s.store, storeText = '—', storeCls = '';
  if (store && typeof store === 'object' && 'ok' in store) {
    storeText = storeLine(store.ok, store.cause, store.error);
    storeCls = store.ok ? 'good' : 'bad';
  }
  var storeBox = metric('store', T('m.store'), storeText);
  if (storeCls) storeBox.classList.add(storeCls);
  if (store && !store.ok && typeof store.error === 'string') storeBox.title = store.error;
  $('health').replaceChildren(
    metric('shed_total', T('m.shed'), fmt(s.shed_total, T('unit.req'), 0)),
    metric('rate_limited_total', T('m.limited'), fmt(s.rate_limited_total, T('unit.req'), 0)),
    storeBox);

  renderNodes(Array.isArray(s.nodes) ? s.nodes : []);

  var stale = Array.isArray(s.stale_outlets) ? s.stale_outlets : null;
  $('stale').replaceChildren.apply($('stale'), stale == null ? [el('li', { 'class': 'hint', text: '—' })]
    : stale.length === 0 ? [el('li', { 'class': 'hint', text: '✔ ' + T('stale.none') })]
      : stale.slice(0, 50).map(function (o) {
        if (typeof o !== 'object' || o == null) return el('li', { text: String(o) });
        var since = o.updated_at || o.last_sale_at || o.since;
        return el('li', null, el('strong', { 'class': 'reg', text: (o.name || '') + ' ' }), el('span', { 'class': 'hint', text: (o.code || '') }),
          ' · ' + (o.stock != null ? T('stale.stock', { n: o.stock }) + ' · ' : '') + (since ? T('stale.last', { when: PM.when(since) }) : ''));
      }));

  var other = [];
  Object.keys(s).forEach(function (k) {
    if (KNOWN[k]) return;
    var v = s[k];
    if (v == null || typeof v !== 'object') other.push([k, v]);
    else if (!Array.isArray(v)) Object.keys(v).forEach(function (k2) { if (v[k2] == null || typeof v[k2] !== 'object') other.push([k + '.' + k2, v[k2]]); });
  });
  $('other-card').hidden = other.length === 0;
  var frag = document.createDocumentFragment();
  other.forEach(function (kv) { frag.appendChild(el('dt', { text: kv[0] })); frag.appendChild(el('dd', { text: kv[1] == null ? '—' : String(kv[1]) })); });
  $('other').replaceChildren(frag);
}

// renderNodes fills the table of every node (serve --peers): each row as
// that node measured it; a peer's row also says how long ago it answered,
// on this node's clock. Everything is set as text: a peer's answer is data.
function renderNodes(nodes) {
  document.getElementById('nodes-card').hidden = nodes.length === 0;
  var rows = nodes.filter(function (n) { return n && typeof n === 'object'; }).map(function (n) {
    var name = typeof n.name === 'string' && n.name ? n.name : String(n.node || n.url || '');
    if (n.self) name = name ? T('node.self', { name: name }) : T('node.this');
    var reach;
    if (n.self) reach = T('node.up');
    else if (n.reachable) reach = T('node.up') + ' · ' + T('node.ago', { age: ms(n.answered_ago_ms) });
    else {
      var why = REASONS[n.reason] === 1 ? T('reason.' + n.reason, { code: n.http_status }) : String(n.reason || '—');
      reach = T('node.down', { reason: why }) + ' · ' + (num(n.answered_ago_ms) ? T('node.last', { age: ms(n.answered_ago_ms) }) : T('node.never'));
    }
    var age = n.age_ms, stale = num(age) && age > STALE_MS;
    var unapplied = n.behind_store === false ? '✔ 0 ms' : ms(n.oldest_unapplied_ms);
    var store = typeof n.store_ok === 'boolean' ? storeLine(n.store_ok, n.store_cause, n.store_error) : '—';
    var cells = [name, typeof n.role === 'string' ? n.role : '—', reach, n.version != null ? String(n.version) : '—', ms(age), unapplied,
      ms(n.commit_p99_ms), ms(n.freshness_p99_ms), ms(n.public_p99_ms), store];
    var tr = el('tr', { 'class': (n.reachable === false ? 'bad' : '') + (n.self ? ' self' : ''), 'data-node': name });
    cells.forEach(function (c, i) {
      var td = el(i ? 'td' : 'th', { text: c });
      if (!i) td.setAttribute('scope', 'row');
      if ((i === 2 && n.reachable === false) || (i === 4 && stale) || (i === 9 && n.store_ok === false)) td.className = 'bad';
      tr.appendChild(td);
    });
    return tr;
  });
  document.getElementById('nodes').replaceChildren.apply(document.getElementById('nodes'), rows);
}

async function poll() {
  try {
    const r = await PM.fetchJSON('/api/v2/status', { timeout: ANSWER_MS });
    if (r.ok && r.body) { lastOK = Date.now(); render(r.body); }
    else fail(r.status === 404 ? T('fail.404') : T('fail.status', { code: r.status }));
  } catch (e) {
    fail(T('fail.offline'));
  }
  setTimeout(poll, POLL_MS);
}
function fail(msg) {
  var m = document.getElementById('meta');
  m.className = 'meta bad';
  m.textContent = '✖ ' + msg + (lastOK ? ' · ' + T('fail.last', { s: Math.round((Date.now() - lastOK) / 1000) }) : '');
  say('fail:' + msg, m.textContent);
}
poll();
