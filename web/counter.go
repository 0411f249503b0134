package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/publicmask/publicmask/internal/httpx"

	"github.com/publicmask/publicmask"
)

// The counter page (/outlet) is outlet traffic, not public traffic
// (DESIGN.md §2 Isolation): its assets and its service worker are served
// under /outlet/, so that a proxy and the admission classes tell them apart
// from the map's /static/.

// counterAssets are the files the counter page needs, all cached by its
// service worker so that a reload during an outage still gives a counter:
// the page's modules (js/outlet.js imports the others) included.
var counterAssets = []string{
	"css/app.css", "css/outlet.css", "img/icon.svg",
	"js/common.js", "js/i18n.js", "js/idcheck.js", "msg/outlet.js",
	"js/outlet.js", "js/outlet-core.js", "js/outlet-sync.js", "js/outlet-manage.js", "js/outbox.js",
}

// Languages of the counter's message catalogues (i18n/outlet.<lang>.json);
// the first is the default.
var counterLangs = []string{"ko", "en"}

// buildCounter makes the message catalogue script from i18n/ and the
// service worker, which names this version's assets (so a deploy installs a
// new worker and the old cache is dropped).
func (s *site) buildCounter() {
	var b bytes.Buffer
	b.WriteString("// Generated from web/i18n/outlet.*.json: the counter page's message catalogues.\n'use strict';\nwindow.PM_MSG = {")
	for i, lang := range counterLangs {
		raw, err := files.ReadFile("i18n/outlet." + lang + ".json")
		if err != nil {
			panic(err)
		}
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			panic("web: i18n/outlet." + lang + ".json: " + err.Error())
		}
		enc, _ := json.Marshal(m) // sorted keys: stable bytes, stable version
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n" + `"` + lang + `": `)
		b.Write(enc)
	}
	b.WriteString("\n};\n")
	a := newAsset(b.Bytes(), contentType("x.js"))
	s.assets["msg/outlet.js"] = a
	h := sha256.New()
	h.Write([]byte(s.version))
	h.Write([]byte(a.etag))
	s.version = hex.EncodeToString(h.Sum(nil))[:12]

	src, err := files.ReadFile("counter/sw.js")
	if err != nil {
		panic(err)
	}
	urls := []string{"/outlet"}
	for _, n := range counterAssets {
		urls = append(urls, s.outletURL(n))
	}
	list, _ := json.Marshal(urls)
	var sw bytes.Buffer
	sw.WriteString("var VERSION = '" + s.version + "';\nvar SHELL = " + string(list) + ";\n")
	sw.Write(src)
	s.sw = newAsset(sw.Bytes(), contentType("sw.js"))
}

// outletURL is the versioned URL of a counter asset.
func (s *site) outletURL(name string) string {
	if !isCounterAsset(name) || s.assets[name] == nil {
		panic("web: no counter asset " + name) // a typo in a template: fail at start
	}
	return "/outlet/v-" + s.version + "/" + name
}

func isCounterAsset(name string) bool {
	for _, n := range counterAssets {
		if n == name {
			return true
		}
	}
	return false
}

// outletAsset serves /outlet/v-<version>/<name> (immutable) and
// /outlet/<name> (revalidated), counter assets only.
func (s *site) outletAsset(w http.ResponseWriter, r *http.Request) {
	name, cache := s.versioned(strings.TrimPrefix(r.URL.Path, "/outlet/"), "private")
	a := s.assets[name]
	if a == nil || !isCounterAsset(name) {
		httpx.WriteCode(w, publicmask.ENotFound, "no such file")
		return
	}
	w.Header().Set("Cache-Control", cache)
	s.serveAsset(w, r, a)
}

// serviceWorker serves /outlet/sw.js. Its scope is widened to /outlet (the
// page itself is not below /outlet/) by Service-Worker-Allowed; it is always
// revalidated, so that a new version reaches the counters at once.
func (s *site) serviceWorker(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("Service-Worker-Allowed", "/outlet")
	h.Set("Content-Security-Policy", s.csp)
	s.serveAsset(w, r, s.sw)
}
