// Registration number check in the browser, before anything is sent: each
// kind of typo gets its own message, and the check digit is computed from
// the rule the server serves (weights, modulus, minuend per 7th digit), not
// from a second copy of it here. Pure functions: also run by the Go tests
// (under Node) against the same vectors as package rrn.
'use strict';

(function (global) {
  // normRule takes the rule as GET /api/v2/outlet serves it (id_check, from
  // rrn.CheckRules): length, hyphen_after, centuries by the 7th digit,
  // foreign_digits, weights, modulus, minuend, foreign_minuend,
  // verify_check_digit.
  function normRule(r) {
    r = r || {};
    return {
      length: r.length || 13, hyphenAfter: r.hyphen_after || 6,
      centuries: r.centuries || {}, foreign: r.foreign_digits || '',
      weights: r.weights || [], modulus: r.modulus || 11,
      minuend: r.minuend, foreignMinuend: r.foreign_minuend,
      verify: !!r.verify_check_digit
    };
  }

  function daysIn(y, m) {
    if (m === 2) return (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) ? 29 : 28;
    return [4, 6, 9, 11].indexOf(m) >= 0 ? 30 : 31;
  }

  // parse returns {ok: true, digits, year, month, day, foreign, masked} or
  // {ok: false, kind, count}; kind is empty, chars, length, hyphen, century,
  // date or check. count is the number of digits typed.
  function parse(s, rule) {
    rule = normRule(rule);
    s = String(s == null ? '' : s).replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, '');
    var digits = '', hyphens = 0, hyphenAt = -1;
    for (var i = 0; i < s.length; i++) {
      var c = s.charAt(i);
      if (c >= '0' && c <= '9') digits += c;
      else if (c === '-') { hyphens++; hyphenAt = digits.length; }
      else return { ok: false, kind: s === '' ? 'empty' : 'chars', count: digits.length };
    }
    if (s === '') return { ok: false, kind: 'empty', count: 0 };
    if (digits.length !== rule.length) return { ok: false, kind: 'length', count: digits.length };
    if (hyphens > 1 || (hyphens === 1 && hyphenAt !== rule.hyphenAfter)) return { ok: false, kind: 'hyphen', count: digits.length };
    var g = digits.charAt(6);
    var base = rule.centuries[g];
    if (!base) return { ok: false, kind: 'century', count: 13 };
    var y = base + parseInt(digits.slice(0, 2), 10), m = parseInt(digits.slice(2, 4), 10), d = parseInt(digits.slice(4, 6), 10);
    if (m < 1 || m > 12 || d < 1 || d > daysIn(y, m)) return { ok: false, kind: 'date', count: 13 };
    if (rule.verify) {
      var sum = 0;
      for (var j = 0; j < rule.weights.length; j++) sum += parseInt(digits.charAt(j), 10) * rule.weights[j];
      var minuend = rule.foreign.indexOf(g) >= 0 ? rule.foreignMinuend : rule.minuend;
      var want = ((minuend - sum % rule.modulus) % 10 + 10) % 10;
      if (want !== parseInt(digits.charAt(rule.length - 1), 10)) return { ok: false, kind: 'check', count: 13 };
    }
    return {
      ok: true, digits: digits, year: y, month: m, day: d, foreign: rule.foreign.indexOf(g) >= 0,
      masked: digits.slice(0, 6) + '-' + g + '******'
    };
  }

  global.IDCheck = { parse: parse, normRule: normRule };
})(typeof window !== 'undefined' ? window : globalThis);
