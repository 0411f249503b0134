package web

import (
	"bytes"
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

// buildCounter makes the service worker, which names this version's assets
// (so a deploy installs a new worker and the old cache is dropped); the
// page's catalogue, msg/outlet.js, is built with the others.
func (s *site) buildCounter() {
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
