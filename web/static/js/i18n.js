// Language and messages of every page (/, /outlet, /status, /overview): the
// page's catalogue (msg/<page>.js, generated from web/i18n/*.json) sets
// window.PM_MSG = {ko: {...}, en: {...}}. The language is ?lang=ko|en (then
// remembered), else the remembered choice, else the one the server rendered
// the page in (<html lang>, from the same rules and the browser's
// Accept-Language), else the browser's languages, else Korean. The choice
// is kept in localStorage (the counter page's key, so that one choice holds
// on every page) and in a cookie, which lets the server render the next
// page in it from the first byte.

var KEY = 'publicmask.lang', COOKIE = 'publicmask_lang';
const MSG = window.PM_MSG || {};

function known(l) { return l === 'ko' || l === 'en'; }

function remember(l) {
  try { localStorage.setItem(KEY, l); } catch (e) { /* private mode: the cookie still holds */ }
  if (document.cookie.split('; ').indexOf(COOKIE + '=' + l) < 0) {
    document.cookie = COOKIE + '=' + l + '; Path=/; Max-Age=31536000; SameSite=Lax' +
      (location.protocol === 'https:' ? '; Secure' : '');
  }
}

export const lang = (function () {
  var q = new URLSearchParams(location.search).get('lang');
  if (known(q)) { remember(q); return q; }
  var s = null;
  try { s = localStorage.getItem(KEY); } catch (e) { /* storage refused */ }
  if (known(s)) { remember(s); return s; }
  var served = document.documentElement.lang;
  if (known(served)) return served;
  var langs = navigator.languages || [navigator.language || 'ko'];
  for (var i = 0; i < langs.length; i++) {
    var l = String(langs[i]).slice(0, 2).toLowerCase();
    if (known(l)) return l;
  }
  return 'ko';
})();
export const locale = lang === 'ko' ? 'ko-KR' : 'en-GB';
const LANG = lang, LOCALE = locale;

// T looks a key up in the page's catalogue and fills {name} holes.
export function T(key, vars) {
  var m = (MSG[LANG] || {})[key];
  if (m == null) m = (MSG.ko || {})[key];
  if (m == null) return key;
  return m.replace(/\{(\w+)\}/g, function (_, n) { return vars && vars[n] != null ? String(vars[n]) : ''; });
}

var nf = new Intl.NumberFormat(LOCALE);
export function num(n, digits) {
  if (typeof n !== 'number' || !isFinite(n)) return '—';
  if (digits == null) return nf.format(n);
  return n.toLocaleString(LOCALE, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

// apply fills [data-msg] elements' text and [data-msg-<attr>] attributes,
// sets <html lang> and the title, and points the #lang link at the other
// language.
export function apply(root) {
  root = root || document;
  document.documentElement.lang = LANG;
  Array.prototype.forEach.call(root.querySelectorAll('[data-msg]'), function (e) {
    e.textContent = T(e.getAttribute('data-msg'));
  });
  ['aria-label', 'placeholder', 'title', 'content'].forEach(function (a) {
    Array.prototype.forEach.call(root.querySelectorAll('[data-msg-' + a + ']'), function (e) {
      e.setAttribute(a, T(e.getAttribute('data-msg-' + a)));
    });
  });
  if (MSG[LANG] && MSG[LANG].title) document.title = T('title');
  var link = document.getElementById('lang');
  if (link) {
    var other = LANG === 'ko' ? 'en' : 'ko';
    var u = new URL(location.href);
    u.searchParams.set('lang', other);
    link.setAttribute('href', u.pathname + u.search);
    link.setAttribute('lang', other);
    link.setAttribute('hreflang', other);
  }
}

// sido names a 시도, given by its registered name, in the page's language
// (DESIGN.md §4.5: in English the boundary data's name_eng — Seoul,
// Gyeonggi-do —; the catalogue's "sido:" keys, made from it by the server).
export function sido(name) {
  var m = (MSG[LANG] || {})['sido:' + name];
  return m == null ? name : m;
}

// place shows a registered place label ("서울특별시 강남구 논현동") in the
// page's language: its leading 시도 named by sido, the rest (시군구, 동,
// roads) as registered.
export function place(label) {
  label = String(label == null ? '' : label);
  var sp = label.indexOf(' '), first = sp < 0 ? label : label.slice(0, sp);
  return sido(first) + label.slice(first.length);
}

// registered turns what place shows (or what a reader typed the same way:
// "Seoul 강남구", "seoul") back into the registry's text, which is what the
// search takes: a leading English 시도 name becomes its registered name.
export function registered(text) {
  text = String(text == null ? '' : text);
  var sp = text.indexOf(' '), first = (sp < 0 ? text : text.slice(0, sp)).toLowerCase();
  var en = MSG.en || {};
  for (var k in en) {
    if (k.indexOf('sido:') === 0 && en[k].toLowerCase() === first) return k.slice(5) + text.slice(first.length);
  }
  return text;
}
