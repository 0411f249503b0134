// The counter's service worker (VERSION and SHELL are prepended by the
// server). It keeps the page shell and its assets, so that a pharmacist who
// reloads during an outage still gets a working counter with its outbox.
// API requests are never touched: the page decides what offline means.
'use strict';

var CACHE = 'publicmask-counter-' + VERSION;

self.addEventListener('install', function (ev) {
  ev.waitUntil(caches.open(CACHE).then(function (c) {
    // cache: 'reload' bypasses the HTTP cache, so the shell is this version's.
    return c.addAll(SHELL.map(function (u) { return new Request(u, { cache: 'reload' }); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (ev) {
  ev.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf('publicmask-counter-') === 0 && k !== CACHE;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

// The page: network first, so a deploy shows at once, but given up after
// 2.5 s (a hung server must not hang the reload) for the cached shell.
function page(req) {
  return new Promise(function (resolve) {
    var done = false;
    var fallback = function () {
      if (done) return;
      done = true;
      resolve(caches.open(CACHE).then(function (c) { return c.match('/outlet'); }).then(function (r) {
        return r || new Response('offline', { status: 503, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
      }));
    };
    var timer = setTimeout(fallback, 2500);
    fetch(req).then(function (r) {
      if (done) return;
      if (!r.ok && r.status !== 304) { clearTimeout(timer); fallback(); return; }
      done = true;
      clearTimeout(timer);
      var copy = r.clone();
      caches.open(CACHE).then(function (c) { return c.put('/outlet', copy); });
      resolve(r);
    }, function () { clearTimeout(timer); fallback(); });
  });
}

self.addEventListener('fetch', function (ev) {
  var req = ev.request;
  if (req.method !== 'GET') return;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === '/outlet') { ev.respondWith(page(req)); return; }
  if (url.pathname.indexOf('/outlet/v-') === 0) {
    // Versioned assets never change: cache first.
    ev.respondWith(caches.match(req).then(function (r) { return r || fetch(req); }));
  }
});
