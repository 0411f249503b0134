// What every part of the counter page shares: its constants, its state,
// the language and formats (from the public pages' i18n.js: one language
// choice for every page), the configuration the server serves with the
// outlet, and the result box.

import { PM } from './common.js';
import * as I18N from './i18n.js';

export { PM };
export const el = PM.el;
export const $ = (id) => document.getElementById(id);

export const TOKEN_KEY = 'publicmask.outlet.token'; // sessionStorage: this tab only
export const VIEW_KEY = 'publicmask.outlet.view';   // the outlet and rules, for a reload while offline
export const TIMEOUT = 2500;     // a request unanswered this long counts as offline
// BACKGROUND bounds the requests nobody waits on (the breaker's probe, the
// outbox, the periodic reads): on a network that takes 3–10 s a request,
// a probe cut at TIMEOUT never succeeded, so the outbox was never sent.
export const BACKGROUND = 15000;
export const PROBE_EVERY = 2000; // the circuit breaker's background probe
export const UNDO_MS = 10000;
export const DAY_MS = 86400000;

// ---------- language and formats ----------

export const T = I18N.T;
const LOCALE = I18N.locale;
I18N.apply();

const TZ = 'Asia/Seoul';
const fmtTime = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const fmtDay = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, month: 'short', day: 'numeric', weekday: 'short' });
const fmtYMD = new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' });
const fmtWeekday = new Intl.DateTimeFormat(LOCALE, { timeZone: 'UTC', weekday: 'long' });
export function clock(iso) { const t = Date.parse(iso); return isNaN(t) ? '' : fmtTime.format(t); }
export function day(ymd) { const t = Date.parse(ymd + 'T12:00:00+09:00'); return isNaN(t) ? ymd : fmtDay.format(t); }
export function ymdOf(ms) { return fmtYMD.format(ms); }
export function weekdayName(ymd) { return fmtWeekday.format(Date.parse(ymd + 'T12:00:00Z')); }
export function serverNow() { return PM.serverNow(); }

// ---------- state ----------

export const state = {
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

export function uuid() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => (x + 0x100).toString(16).slice(1)).join('');
  return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
}

// ---------- served configuration ----------

// config reads what the server serves with the outlet (GET /api/v2/outlet):
// the seal key, the quantity, proxy, delivery and count limits, the proxy categories the
// rules allow today, the ID rule and the late window. None is written here
// again: the server's constants are the only ones.
export function config(v) {
  const lim = v.limits || {};
  return {
    sealKey: v.seal_key || '',
    qtyMax: lim.max_quantity_per_person,
    maxProxies: lim.max_proxies,
    categories: (v.proxy_categories || []).map((c) => (typeof c === 'string' ? c : c.name)).filter(Boolean),
    idRule: v.id_check || null,
    lateMs: lim.late_window_seconds * 1000,
    deliveryMax: lim.max_delivery,
    countMax: lim.max_count
  };
}

export function idParse(s) { return window.IDCheck.parse(s, state.cfg && state.cfg.idRule); }

// ---------- results ----------

export function show(kind, title, lines) {
  const box = $('result');
  box.className = 'result ' + kind;
  const icon = { ok: '✔', bad: '✖', typo: '⚠', wait: '⏳', queued: '⇪', info: 'ℹ' }[kind] || '';
  const ul = el('ul');
  (lines || []).forEach((l) => ul.appendChild(typeof l === 'string' ? el('li', { text: l }) : l));
  box.replaceChildren(el('p', { 'class': 'result-title' },
    el('span', { 'class': 'result-icon', 'aria-hidden': 'true', text: icon }), el('span', { text: title })), ul);
}

export function reasonText(code, next) {
  let t = T('reason.' + code);
  if (t === 'reason.' + code) t = T('reason.other', { code: code || '?' });
  if (next) t += ' · ' + T('reason.next', { date: day(next) });
  return t;
}
export function resText(r) {
  const c = PM.errorCode(r);
  return c ? reasonText(c) : T('reason.status', { status: r.status });
}

export function personName(role, i, cats) {
  if (role === 'buyer') return T('who.buyer');
  return T('who.proxy', { n: i, cat: T('cat.' + (cats[i - 1] || '')) });
}

export function setBusy(on) {
  state.busy = on;
  $('buyer').readOnly = on;
  $('sale-form').setAttribute('aria-busy', on ? 'true' : 'false');
}

export function focusId() {
  const b = $('buyer');
  if (!$('app').hidden && document.activeElement !== b) b.focus();
}
export function selectId() { const b = $('buyer'); b.focus(); b.select(); }
