// Package web serves publicmask's browser pages: the public map (/), the
// outlet counter (/outlet) and the operations status page (/status), with
// their assets embedded so that `go build` alone yields a working site and
// nothing is fetched from a CDN at run time (DESIGN.md §1.5).
//
// The pages are HTML rendered at start, once per language (i18n.go); all
// behaviour lives in /static/js files so that a strict
// Content-Security-Policy (no inline script or style) holds.
package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/publicmask/publicmask/internal/httpx"

	"github.com/publicmask/publicmask"
)

// DefaultTiles is the OpenStreetMap standard tile layer.
const DefaultTiles = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

// Options configures Handler.
type Options struct {
	// Tiles is the map tile URL template; "" means DefaultTiles and "none"
	// draws no tiles (offline: plain background plus Basemap, if any).
	Tiles string
	// Basemap is an optional GeoJSON outline layer (--basemap FILE), served
	// at /basemap.geojson and drawn under the markers.
	Basemap []byte
	// Status feeds GET /api/v2/status; nil answers 404. brief (?brief=1)
	// asks for the answer without its history and stale outlets.
	Status func(ctx context.Context, brief bool) (any, error)
}

//go:embed static pages i18n counter
var files embed.FS

// asset is one embedded static file, prepared once.
type asset struct {
	body  []byte
	gz    []byte // nil when not worth compressing
	ctype string
	etag  string
}

type site struct {
	opts    Options
	sw      *asset                                  // the counter's service worker, naming this version's assets
	assets  map[string]*asset                       // by path below static/
	version string                                  // hash over every asset: the URL prefix
	msgs    map[string]map[string]map[string]string // catalogue by page and language
	pages   map[string][]byte                       // rendered HTML by page+"."+lang
	etags   map[string]string
	csp     string
	basemap *asset
}

// Handler serves GET /, /outlet, /status, /static/..., /basemap.geojson and
// /api/v2/status. Anything else is 404 so the handler can be mounted as a
// fallback under an API mux.
func Handler(opts Options) http.Handler {
	if opts.Tiles == "" {
		opts.Tiles = DefaultTiles
	}
	s := &site{opts: opts, assets: map[string]*asset{}, msgs: map[string]map[string]map[string]string{}, pages: map[string][]byte{}, etags: map[string]string{}}
	s.loadAssets()
	s.buildCatalogues()
	s.buildCounter()
	s.csp = csp(opts.Tiles)
	s.renderPages()
	if len(opts.Basemap) > 0 {
		s.basemap = newAsset(opts.Basemap, "application/geo+json")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page("map"))
	mux.HandleFunc("GET /outlet", s.page("outlet"))
	mux.HandleFunc("GET /outlet/sw.js", s.serviceWorker)
	mux.HandleFunc("GET /outlet/", s.outletAsset)
	mux.HandleFunc("GET /status", s.page("status"))
	mux.HandleFunc("GET /overview", s.page("overview"))
	mux.HandleFunc("GET /static/", s.static)
	mux.HandleFunc("GET /basemap.geojson", s.serveBasemap)
	mux.HandleFunc("GET /api/v2/status", s.status)
	notFound := s.page("notfound")
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if httpx.WantsPage(r) {
			notFound(w, r)
			return
		}
		httpx.WriteCode(w, publicmask.ENotFound, "no such page")
	})
	return mux
}

func (s *site) loadAssets() {
	h := sha256.New()
	var names []string
	fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names) // stable version hash
	for _, p := range names {
		b, err := files.ReadFile(p)
		if err != nil {
			panic(err) // embedded: cannot happen
		}
		name := strings.TrimPrefix(p, "static/")
		a := newAsset(b, contentType(name))
		s.assets[name] = a
		h.Write([]byte(name))
		h.Write([]byte(a.etag))
	}
	s.version = hex.EncodeToString(h.Sum(nil))[:12]
}

func newAsset(b []byte, ctype string) *asset {
	sum := sha256.Sum256(b)
	a := &asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	if compressible(ctype) && len(b) > 1024 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		if buf.Len() < len(b)*9/10 {
			a.gz = buf.Bytes()
		}
	}
	return a
}

func compressible(ct string) bool {
	return strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") || strings.Contains(ct, "svg")
}

// contentType is fixed by extension rather than sniffed, so that
// X-Content-Type-Options: nosniff never blocks a script or stylesheet.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".png":
		return "image/png"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".geojson":
		return "application/json"
	case ".html":
		return "text/html; charset=utf-8"
	}
	return "text/plain; charset=utf-8" // LICENSE, README.md
}

// assetURL is the versioned URL of a static file: the version changes with
// any asset, so the files can be cached for a year (and relative URLs inside
// CSS, like Leaflet's images/, keep working).
func (s *site) assetURL(name string) string {
	if _, ok := s.assets[name]; !ok {
		panic("web: no asset " + name) // a typo in a template: fail at start
	}
	return "/static/v-" + s.version + "/" + name
}

// tileOrigin turns a tile URL template into a CSP source: its scheme and host,
// with a {s} subdomain placeholder as a wildcard.
func tileOrigin(tiles string) string {
	if tiles == "none" {
		return ""
	}
	u, err := url.Parse(strings.NewReplacer("{s}", "SUB", "{z}", "0", "{x}", "0", "{y}", "0", "{r}", "").Replace(tiles))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	host := u.Host
	if strings.Contains(host, "SUB") {
		if i := strings.Index(host, "."); strings.HasPrefix(host, "SUB") && i > 0 {
			host = "*" + host[i:]
		} else {
			return u.Scheme + ":" // odd template: allow the scheme rather than break the map
		}
	}
	return u.Scheme + "://" + host
}

func csp(tiles string) string {
	img := "'self' data:"
	if o := tileOrigin(tiles); o != "" {
		img += " " + o
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src " + img,
		"connect-src 'self'",
		"font-src 'self'",
		"manifest-src 'self'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// pageData is what the HTML templates see. Configuration reaches the scripts
// through data- attributes, since inline scripts are forbidden by the CSP.
type pageData struct {
	Tiles       string
	Attribution string
	Basemap     bool
	Lang        string // the language the page is rendered in
	Other       string // the language its switch link offers
	msg         map[string]string
}

// T is a message of the page's catalogue; a key it lacks fails the
// rendering, hence the start.
func (d pageData) T(key string) (string, error) {
	m, ok := d.msg[key]
	if !ok {
		return "", fmt.Errorf("no message %q in %s", key, d.Lang)
	}
	return m, nil
}

func (s *site) renderPages() {
	t := template.Must(template.New("").Funcs(template.FuncMap{"asset": s.assetURL, "oasset": s.outletURL,
		"list": func(s ...string) []string { return s }}).
		ParseFS(files, "pages/*.html"))
	d := pageData{Tiles: s.opts.Tiles, Basemap: len(s.opts.Basemap) > 0}
	if strings.Contains(s.opts.Tiles, "openstreetmap.org") {
		// OSM's tile usage policy requires visible attribution.
		d.Attribution = "© OpenStreetMap 기여자"
	}
	for _, p := range allPages {
		for i, lang := range pageLangs {
			d.Lang, d.Other, d.msg = lang, pageLangs[(i+1)%len(pageLangs)], s.msgs[p][lang]
			var b bytes.Buffer
			if err := t.ExecuteTemplate(&b, p+".html", d); err != nil {
				panic(err)
			}
			s.pages[p+"."+lang] = b.Bytes()
			sum := sha256.Sum256(b.Bytes())
			s.etags[p+"."+lang] = `"` + hex.EncodeToString(sum[:8]) + `"`
		}
	}
}

func (s *site) securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY") // for browsers without frame-ancestors
	// Tiles need an origin (OSM refuses anonymous requests), but the query
	// string, which may hold the citizen's position, stays on this site.
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("Permissions-Policy", "geolocation=(self), camera=(), microphone=(), payment=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// page serves a page in the reader's language from the first byte (screen
// readers and axe read <html lang> before any script runs).
func (s *site) page(name string) http.HandlerFunc {
	status := http.StatusOK
	if name == "notfound" {
		status = http.StatusNotFound
	}
	return func(w http.ResponseWriter, r *http.Request) {
		lang, headers := chooseLang(r)
		key := name + "." + lang
		h := w.Header()
		s.securityHeaders(h)
		h.Set("Content-Type", "text/html; charset=utf-8")
		// Pages are tiny and name the current asset version: always revalidate.
		h.Set("Cache-Control", "no-cache")
		if headers {
			h.Set("Vary", "Accept-Language, Cookie")
		}
		if status != http.StatusOK {
			// An error is not cached, nor revalidated into a 304.
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(status)
			w.Write(s.pages[key])
			return
		}
		h.Set("ETag", s.etags[key])
		if httpx.NotModified(r, s.etags[key]) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(s.pages[key])
	}
}

// static serves /static/v-<version>/<name> (immutable) and /static/<name>
// (revalidated by ETag, for links that do not carry the version).
func (s *site) static(w http.ResponseWriter, r *http.Request) {
	name, cache := s.versioned(strings.TrimPrefix(r.URL.Path, "/static/"), "public")
	a := s.assets[name]
	if a == nil {
		httpx.WriteCode(w, publicmask.ENotFound, "no such file")
		return
	}
	w.Header().Set("Cache-Control", cache)
	s.serveAsset(w, r, a)
}

// versioned reads an asset path, "v-<version>/<name>" or "<name>", and
// the Cache-Control of its answer (scope "public" or "private"): a year
// for the current version, revalidation otherwise. An old version still
// gets today's file, but only revalidated, so a page from before a deploy
// does not pin new bytes for a year.
func (s *site) versioned(path, scope string) (name, cache string) {
	if v, rest, ok := strings.Cut(path, "/"); ok && strings.HasPrefix(v, "v-") {
		if v == "v-"+s.version {
			return rest, scope + ", max-age=31536000, immutable"
		}
		path = rest
	}
	return path, scope + ", max-age=0, must-revalidate"
}

func (s *site) serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	h.Set("ETag", a.etag)
	if httpx.NotModified(r, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && httpx.AcceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func (s *site) serveBasemap(w http.ResponseWriter, r *http.Request) {
	if s.basemap == nil {
		httpx.WriteCode(w, publicmask.ENotFound, "no basemap configured")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	s.serveAsset(w, r, s.basemap)
}

func (s *site) status(w http.ResponseWriter, r *http.Request) {
	if s.opts.Status == nil {
		httpx.WriteCode(w, publicmask.ENotFound, "status is not served by this node")
		return
	}
	// brief=1 (an extension, docs/api.md): the figures without the
	// history and the stale outlets, ~1 KB in place of ~90 KB; the
	// nodes' pollers (serve --peers) read no more.
	var brief bool
	switch r.URL.Query().Get("brief") {
	case "", "0":
	case "1":
		brief = true
	default:
		httpx.WriteCode(w, publicmask.EBadRequest, "brief must be 0 or 1")
		return
	}
	v, err := s.opts.Status(r.Context(), brief)
	if err != nil {
		slog.Warn("web: status", "err", err)
		httpx.WriteCode(w, publicmask.EInternal, "status unavailable")
		return
	}
	// no-store (WriteJSON's default): operators poll for live figures.
	httpx.WriteJSON(w, http.StatusOK, v)
}
