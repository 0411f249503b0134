// "May I buy today?": a birth year (kept in this browser's localStorage
// only; no ID is ever asked for here) and, optionally, the birth year of a
// child, an elder or a person with a disability one buys for, answered from
// GET /api/v2/rules under the policy in force on the service's date.

import { PM } from './common.js';
import * as I from './i18n.js';

const el = PM.el, T = I.T;
var $ = function (id) { return document.getElementById(id); };
var KEY = 'publicmask.birthYear', KEY_CAT = 'publicmask.proxy';
var form = $('rules-form'); // the panel is on the map page only
var TZ = 'Asia/Seoul';
var fmtDay = new Intl.DateTimeFormat(I.locale, { timeZone: TZ, month: 'short', day: 'numeric', weekday: 'short' });
var fmtYMD = new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' });
function day(ymd) { return fmtDay.format(Date.parse(ymd + 'T12:00:00+09:00')); }
function addDays(ymd, n) { return fmtYMD.format(Date.parse(ymd + 'T12:00:00+09:00') + n * 86400000); }
function nextMonday(ymd) {
  var wd = new Date(Date.parse(ymd + 'T12:00:00+09:00')).getUTCDay(); // 0 = Sunday; noon KST is the same day in UTC
  return addDays(ymd, wd === 0 ? 1 : 8 - wd);
}
function validYear(v) { var y = parseInt(v, 10); return y >= 1900 && y <= 2030 ? y : 0; }

function syncOther() { $('rules-other-wrap').hidden = !$('rules-cat').value; }

// today is the service's date (it may run on a simulated clock): the map
// learns the server's time from its first answer.
async function today() {
  await PM.serverTimeKnown();
  return fmtYMD.format(PM.serverNow());
}

async function rules(date, year) {
  const r = await PM.fetchJSON('/api/v2/rules?date=' + date + '&birth_year=' + year);
  if (!r.ok || !r.body) throw new Error('rules ' + r.status);
  return r.body;
}

// answer gathers today's rules and the next day this birth year may buy
// (this week, else next week).
async function answer(date, year) {
  const r = await rules(date, year);
  const p = r.person || {};
  const next = (p.days_this_week || []).filter((d) => d > date)[0];
  if (next) return { r: r, next: next };
  const n = await rules(nextMonday(date), year);
  const d = n.person && n.person.days_this_week || [];
  return { r: r, next: d[0] || null };
}

function block(who, a, year) {
  var r = a.r, p = r.person || {};
  var box = el('div', { 'class': 'rules-answer', 'data-who': who, 'data-year': String(year), 'data-may-buy': !r.sales_open ? 'closed' : String(!!p.may_buy), 'data-next': a.next || '' });
  box.appendChild(el('h3', null, T(who === 'me' ? 'rules.for.me' : 'rules.for.other', { year: year })));
  var verdict = !r.sales_open ? T('rules.closed') : p.may_buy ? T('rules.yes') : T('rules.no');
  box.appendChild(el('p', { 'class': 'rules-verdict ' + (!r.sales_open ? 'closed' : p.may_buy ? 'yes' : 'no'), 'data-k': 'today' }, verdict));
  if (r.sales_open) {
    var days = (p.days_this_week || []).map(day).join(', ');
    box.appendChild(el('p', { 'data-k': 'days' }, T('rules.days', { days: days || T('rules.none') })));
    box.appendChild(el('p', { 'data-k': 'quota' }, p.quota == null ? T('rules.quota.none') : T('rules.quota', { n: I.num(p.quota) })));
  }
  box.appendChild(el('p', { 'data-k': 'next' }, a.next ? T('rules.next', { day: day(a.next) }) : T('rules.next.none')));
  return box;
}

// Answers can arrive out of order (the remembered year's answer after
// the one just asked for): only the latest question may fill the box.
var asked = 0;

async function show(ev) {
  if (ev) ev.preventDefault();
  var mine = ++asked;
  var out = $('rules-out');
  var year = validYear($('rules-year').value);
  var cat = $('rules-cat').value, other = validYear($('rules-other').value);
  if (!year) { out.replaceChildren(el('p', { 'class': 'rules-error' }, T('rules.bad'))); return; }
  if (cat && !other) { out.replaceChildren(el('p', { 'class': 'rules-error' }, T('rules.bad.other'))); return; }
  try {
    localStorage.setItem(KEY, String(year));
    localStorage.setItem(KEY_CAT, JSON.stringify(cat ? { cat: cat, year: other } : null));
  } catch (e) { /* not remembered, still answered */ }
  out.setAttribute('aria-busy', 'true');
  try {
    const date = await today();
    const res = await Promise.all([answer(date, year), cat ? answer(date, other) : null]);
    if (mine === asked) {
      const nodes = [el('p', { 'class': 'hint', 'data-k': 'date' }, T('rules.date', { day: day(date) })), block('me', res[0], year)];
      if (res[1]) {
        nodes.push(block('other', res[1], other));
        nodes.push(el('p', { 'class': 'hint' }, T('rules.proxy.' + cat)));
      }
      out.replaceChildren(...nodes);
      out.setAttribute('data-date', date);
    }
  } catch (e) {
    if (mine === asked) out.replaceChildren(el('p', { 'class': 'rules-error' }, T('rules.failed')));
  }
  if (mine === asked) out.removeAttribute('aria-busy');
}

// start restores the remembered years and answers at once when one is there.
function start() {
  try {
    const saved = localStorage.getItem(KEY);
    if (validYear(saved)) $('rules-year').value = saved;
    const c = JSON.parse(localStorage.getItem(KEY_CAT) || 'null');
    if (c && c.cat) { $('rules-cat').value = c.cat; if (validYear(c.year)) $('rules-other').value = c.year; }
  } catch (e) { /* storage blocked: the panel still works */ }
  syncOther();
  $('rules-cat').addEventListener('change', syncOther);
  form.addEventListener('submit', show);
  if (validYear($('rules-year').value)) show();
}
if (form) start();
