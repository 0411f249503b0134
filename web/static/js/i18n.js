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
