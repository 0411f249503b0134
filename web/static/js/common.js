// Shared helpers for the publicmask pages. No framework: the pages must load
// fast on a phone on a congested network, and the CSP forbids inline code.

import { T, locale } from './i18n.js';

// Messages come from the page's catalogue (i18n.js): the shared keys are
// in web/i18n/common.<lang>.json.
const tr = T;
const LOCALE = locale;

// Stock status in words and shapes, never colour alone (DESIGN.md §1.3:
// plenty ≥100, some 30–99, few 2–29, empty 0–1, break = suspended).
function st(k, rank) {
  return { word: tr('stat.' + k), range: tr('stat.' + k + '.range'), label: tr('stat.' + k + '.label'), rank: rank };
}
var STATUS = {
  plenty: st('plenty', 4),
  some: st('some', 3),
  few: st('few', 2),
  empty: st('empty', 1),
  'break': st('break', 0),
  unknown: st('unknown', -1)
};
function statKey(s) { return STATUS[s] && s !== 'unknown' ? s : 'unknown'; }
function statusInfo(s) { return STATUS[statKey(s)]; }

// statusGlyph is the shape of a status: a circle filled to the stock level,
// an octagon with pause bars for a suspension, a dashed circle for unknown.
// Static markup only; never mixed with data.
var GLYPH = {
  plenty: '<circle cx="10" cy="10" r="8" class="g-fill"/>',
  some: '<circle cx="10" cy="10" r="8" class="g-ring"/><path d="M2 10a8 8 0 0 0 16 0z" class="g-fill"/>',
  few: '<circle cx="10" cy="10" r="8" class="g-ring"/><path d="M3.76 15a8 8 0 0 0 12.48 0z" class="g-fill"/>',
  empty: '<circle cx="10" cy="10" r="8" class="g-ring"/><path d="M4.5 15.5 15.5 4.5" class="g-line"/>',
  'break': '<path d="M6.7 2h6.6L18 6.7v6.6L13.3 18H6.7L2 13.3V6.7z" class="g-fill"/><path d="M8 6.5v7M12 6.5v7" class="g-cut"/>',
  unknown: '<circle cx="10" cy="10" r="8" class="g-ring g-dash"/><path d="M7.8 7.6a2.3 2.3 0 1 1 3.2 2.1c-.7.3-1 .8-1 1.5v.6M10 14.2v.3" class="g-line"/>'
};
function statusGlyph(s, cls) {
  return '<svg viewBox="0 0 20 20" class="glyph ' + (cls || '') + '" aria-hidden="true" focusable="false">' + GLYPH[statKey(s)] + '</svg>';
}

// badge builds "<shape> 충분 (100개 이상)" as a DOM node.
function badge(s) {
  var k = statKey(s);
  var b = el('span', { 'class': 'badge s-' + k });
  b.innerHTML = statusGlyph(k);
  b.appendChild(el('span', { 'class': 'badge-text' }, STATUS[k].label));
  return b;
}

function el(tag, attrs) {
  var e = document.createElement(tag);
  if (attrs) {
    for (var k in attrs) {
      if (attrs[k] == null || attrs[k] === false) continue;
      if (k === 'text') e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
    }
    // Registered names and addresses (.reg) are Korean on every page:
    // marked so, a screen reader reads them with a Korean voice on the
    // English pages too, instead of skipping or spelling out the Hangul.
    if (/(^|\s)reg(\s|$)/.test(attrs['class'] || '') && attrs.lang == null) e.setAttribute('lang', 'ko');
  }
  for (var i = 2; i < arguments.length; i++) {
    var c = arguments[i];
    if (c == null) continue;
    e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

// fetchJSON never throws for HTTP errors; it throws only when the server
// cannot be reached (the caller decides what "offline" means), or does not
// answer within opts.timeout ms: a server that is frozen or cut off by the
// network never answers, and a page that waits for it forever shows its
// last figures as current.
async function fetchJSON(url, opts) {
  opts = opts || {};
  const headers = Object.assign({ 'Accept': 'application/json' }, opts.headers || {});
  const init = { method: opts.method || 'GET', headers: headers, cache: 'no-store', credentials: 'same-origin' };
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  if (opts.signal) init.signal = opts.signal;
  let timer = 0;
  if (opts.timeout && window.AbortController) {
    const ctl = new AbortController();
    init.signal = ctl.signal;
    timer = setTimeout(function () { ctl.abort(); }, opts.timeout);
  }
  let r, t;
  try {
    r = await fetch(url, init);
    t = await r.text();
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try { body = t ? JSON.parse(t) : null; } catch (e) { body = null; }
  return { status: r.status, ok: r.ok, body: body, headers: r.headers };
}

function errorCode(res) {
  return res && res.body && res.body.error && res.body.error.code || '';
}

// Server time: the service may run on a simulated clock (--clock), so ages
// are measured against the server's time, estimated from its answers. The
// time since the last answer is read from the monotonic clock, not from
// Date.now: a PC clock put right by hours while the server is away must
// not stamp the counter's offline sales hours off (3 h ahead, the server
// refused them as "in the future" and the handed-over masks went
// unrecorded). The monotonic clock never runs ahead of real time.
var known = { server: Date.now(), mono: performance.now() }, timeKnown, markKnown;
timeKnown = new Promise(function (resolve) { markKnown = resolve; });
function observeServerTime(iso) {
  var t = Date.parse(iso);
  if (!isNaN(t)) { known = { server: t, mono: performance.now() }; markKnown(); }
}
// serverTimeKnown resolves once an answer has told the server's time.
function serverTimeKnown() { return timeKnown; }
function observeAtLeast(iso) {
  var t = Date.parse(iso);
  if (!isNaN(t) && t > serverNow()) known = { server: t, mono: performance.now() };
}
function serverNow() { return known.server + (performance.now() - known.mono); }

function ago(iso) {
  var t = Date.parse(iso);
  if (isNaN(t)) return '';
  return agoSeconds((serverNow() - t) / 1000);
}
// agoSeconds is "12 s ago" for an age in seconds.
function agoSeconds(sec) {
  var s = Math.max(0, Math.round(sec));
  if (s < 60) return tr('ago.s', { n: s });
  if (s < 3600) return tr('ago.m', { n: Math.floor(s / 60) });
  if (s < 86400) return tr('ago.h', { n: Math.floor(s / 3600) });
  return tr('ago.d', { n: Math.floor(s / 86400) });
}

var TZ = 'Asia/Seoul';
var fmtDT = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, month: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit' });
var fmtT = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
var fmtD = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, month: 'long', day: 'numeric', weekday: 'short' });
function when(iso) { var t = Date.parse(iso); return isNaN(t) ? '' : fmtDT.format(t); }
function clock(iso) { var t = Date.parse(iso); return isNaN(t) ? '' : fmtT.format(t); }
// day formats a YYYY-MM-DD date as "3월 13일 (금)"; the date is a Korean
// calendar day, so it is read at noon KST to stay on that day everywhere.
function day(ymd) {
  var t = Date.parse(ymd + 'T12:00:00+09:00');
  if (isNaN(t)) return ymd;
  var p = fmtD.formatToParts(t), m = '', d = '', w = '';
  p.forEach(function (x) { if (x.type === 'month') m = x.value; if (x.type === 'day') d = x.value; if (x.type === 'weekday') w = x.value; });
  return tr('day.format', { month: m, day: d, weekday: w });
}

function distance(m) {
  if (m == null || isNaN(m)) return '';
  if (m < 1000) return Math.round(m) + 'm';
  return (m / 1000).toFixed(m < 10000 ? 1 : 0) + 'km';
}

var TYPES = { '01': tr('type.01'), '02': tr('type.02'), '03': tr('type.03') };
function typeName(t) { return TYPES[t] || ''; }

// sayer returns say(kind, text): the line shown to the eye is rewritten at
// every poll (its time moves), but a screen reader hears text through the
// live region el only when kind changes (current, behind, unreachable),
// not every few seconds.
function sayer(el) {
  var said = '';
  return function (kind, text) {
    if (kind === said) return;
    said = kind;
    el.textContent = text;
  };
}

export const PM = {
  STATUS: STATUS, statKey: statKey, statusInfo: statusInfo, statusGlyph: statusGlyph, badge: badge,
  el: el, sayer: sayer, fetchJSON: fetchJSON, errorCode: errorCode,
  observeServerTime: observeServerTime, observeAtLeast: observeAtLeast, serverNow: serverNow, serverTimeKnown: serverTimeKnown,
  ago: ago, agoSeconds: agoSeconds, when: when, clock: clock, day: day, distance: distance, typeName: typeName, tr: tr
};
