package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	reScriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	reStyleTag  = regexp.MustCompile(`(?i)<style\b`)
	reStyleAttr = regexp.MustCompile(`(?i)\sstyle\s*=`)
	reOnAttr    = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	reJSURL     = regexp.MustCompile(`(?i)javascript:`)
	reAssetRef  = regexp.MustCompile(`(?:src|href)="(/(?:static|outlet)/[^"]+)"`)
)

func TestPages(t *testing.T) {
	h := Handler(Options{})
	for _, p := range []string{"/", "/outlet", "/status", "/?lat=37.6&lng=127.0"} {
		t.Run(p, func(t *testing.T) {
			r := get(t, h, p)
			if r.StatusCode != 200 {
				t.Fatalf("status %d", r.StatusCode)
			}
			if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			csp := r.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "img-src 'self' data: https://tile.openstreetmap.org"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP allows unsafe code: %q", csp)
			}
			if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") == "" {
				t.Errorf("security headers missing: %v", r.Header)
			}
			html := body(t, r)
			if !strings.Contains(html, `<html lang="ko">`) {
				t.Error(`no <html lang="ko">`)
			}
			if !strings.Contains(html, `name="viewport"`) {
				t.Error("no viewport meta (phones)")
			}
			for _, m := range reScriptTag.FindAllStringSubmatch(html, -1) {
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("inline script: %s", m[0])
				}
			}
			for name, re := range map[string]*regexp.Regexp{"<style>": reStyleTag, "style attribute": reStyleAttr, "event handler attribute": reOnAttr, "javascript: URL": reJSURL} {
				if loc := re.FindStringIndex(html); loc != nil {
					t.Errorf("%s in page: %q", name, html[max(0, loc[0]-40):min(len(html), loc[1]+40)])
				}
			}
			refs := reAssetRef.FindAllStringSubmatch(html, -1)
			if len(refs) < 3 {
				t.Fatalf("page references %d assets", len(refs))
			}
			for _, m := range refs {
				a := get(t, h, m[1])
				if a.StatusCode != 200 {
					t.Errorf("%s: %d", m[1], a.StatusCode)
				}
				if cc := a.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
					t.Errorf("%s: Cache-Control %q", m[1], cc)
				}
			}
		})
	}
}

func TestStaticTypesAndCaching(t *testing.T) {
	h := Handler(Options{})
	cases := map[string]string{
		"/static/js/map.js":                                    "text/javascript; charset=utf-8",
		"/static/css/app.css":                                  "text/css; charset=utf-8",
		"/static/vendor/leaflet/leaflet.js":                    "text/javascript; charset=utf-8",
		"/static/vendor/leaflet/leaflet.css":                   "text/css; charset=utf-8",
		"/static/vendor/leaflet/images/layers.png":             "image/png",
		"/static/vendor/leaflet/LICENSE":                       "text/plain; charset=utf-8",
		"/static/vendor/leaflet.markercluster/MIT-LICENCE.txt": "text/plain; charset=utf-8",
		"/static/img/icon.svg":                                 "image/svg+xml",
	}
	for p, ct := range cases {
		r := get(t, h, p)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != ct {
			t.Errorf("%s: %d %q, want %q", p, r.StatusCode, r.Header.Get("Content-Type"), ct)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
		etag := r.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", p)
		}
		if r2 := get(t, h, p, "If-None-Match", etag); r2.StatusCode != http.StatusNotModified {
			t.Errorf("%s: If-None-Match gave %d", p, r2.StatusCode)
		}
	}
	// Unversioned URLs revalidate; a stale version is not cached for a year.
	if cc := get(t, h, "/static/js/map.js").Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("unversioned asset cached as immutable: %q", cc)
	}
	if cc := get(t, h, "/static/v-000000000000/js/map.js").Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("old version cached as immutable: %q", cc)
	}
	// gzip for text assets.
	r := get(t, h, "/static/vendor/leaflet/leaflet.js", "Accept-Encoding", "gzip, br")
	if r.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("leaflet.js not gzipped: %v", r.Header)
	}
	for _, p := range []string{"/static/nope.js", "/static/web.go", "/static/vendor", "/static/v-x/", "/nope", "/favicon.ico"} {
		if r := get(t, h, p); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, r.StatusCode)
		}
	}
}

// The embedded assets include the vendored libraries and their licences.
func TestEmbeddedAssets(t *testing.T) {
	s := &site{assets: map[string]*asset{}}
	s.loadAssets()
	for _, name := range []string{
		"vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "vendor/leaflet/LICENSE",
		"vendor/leaflet/images/marker-icon.png", "vendor/leaflet/images/layers.png",
		"vendor/leaflet.markercluster/leaflet.markercluster.js", "vendor/leaflet.markercluster/MIT-LICENCE.txt",
		"js/common.js", "js/map.js", "js/outlet.js", "js/status.js", "css/app.css",
	} {
		if a := s.assets[name]; a == nil || len(a.body) == 0 {
			t.Errorf("asset %s missing", name)
		}
	}
	// Buyer IDs must never reach the console; debugging output is banned outright.
	for name, a := range s.assets {
		if strings.HasPrefix(name, "js/") && regexp.MustCompile(`console\.|eval\(|new Function`).Match(a.body) {
			t.Errorf("%s uses console/eval", name)
		}
	}
	if len(s.version) != 12 {
		t.Errorf("version %q", s.version)
	}
}

func TestTilesCSP(t *testing.T) {
	for tiles, want := range map[string]string{
		"":     "img-src 'self' data: https://tile.openstreetmap.org;",
		"none": "img-src 'self' data:;",
		"https://{s}.tile.example.org/{z}/{x}/{y}.png": "img-src 'self' data: https://*.tile.example.org;",
		"http://10.0.0.5:8081/tiles/{z}/{x}/{y}.png":   "img-src 'self' data: http://10.0.0.5:8081;",
	} {
		r := get(t, Handler(Options{Tiles: tiles}), "/")
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
			t.Errorf("tiles %q: CSP %q lacks %q", tiles, csp, want)
		}
		html := body(t, r)
		wantAttr := `data-tiles="` + tiles + `"`
		if tiles == "" {
			wantAttr = `data-tiles="` + DefaultTiles + `"`
		}
		if !strings.Contains(html, wantAttr) {
			t.Errorf("tiles %q: page lacks %s", tiles, wantAttr)
		}
	}
}

func TestBasemapAndStatus(t *testing.T) {
	h := Handler(Options{})
	if r := get(t, h, "/basemap.geojson"); r.StatusCode != 404 {
		t.Errorf("basemap without option: %d", r.StatusCode)
	}
	r := get(t, h, "/api/v2/status")
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if r.StatusCode != 404 || json.NewDecoder(r.Body).Decode(&e) != nil || e.Error.Code != "not_found" {
		t.Errorf("status without option: %d %+v", r.StatusCode, e)
	}
	if strings.Contains(body(t, get(t, h, "/")), `data-basemap="/basemap.geojson"`) {
		t.Error("page announces a basemap that is not configured")
	}

	gj := []byte(`{"type":"FeatureCollection","features":[]}`)
	var briefs []bool
	h = Handler(Options{Basemap: gj, Status: func(ctx context.Context, brief bool) (any, error) {
		briefs = append(briefs, brief)
		return map[string]any{"version": "test", "shed_total": 3}, nil
	}})
	r = get(t, h, "/basemap.geojson")
	if r.StatusCode != 200 || body(t, r) != string(gj) || !strings.Contains(r.Header.Get("Content-Type"), "json") {
		t.Errorf("basemap: %d %v", r.StatusCode, r.Header)
	}
	if !strings.Contains(body(t, get(t, h, "/")), `data-basemap="/basemap.geojson"`) {
		t.Error("page does not announce the basemap")
	}
	r = get(t, h, "/api/v2/status")
	var st map[string]any
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-store" || json.NewDecoder(r.Body).Decode(&st) != nil || st["shed_total"] != 3.0 {
		t.Errorf("status: %d %v %v", r.StatusCode, r.Header, st)
	}

	// ?brief=1 (the peers' poll) is passed on; anything but 0 or 1 is refused.
	for _, q := range []string{"?brief=1", "?brief=0", "?brief=yes", "?brief=1&brief=x"} {
		r := get(t, h, "/api/v2/status"+q)
		want := 200
		if strings.Contains(q, "yes") {
			want = 400
		}
		if r.StatusCode != want {
			t.Errorf("status%s: %d, want %d", q, r.StatusCode, want)
		}
	}
	if want := []bool{false, true, false, true}; fmt.Sprint(briefs) != fmt.Sprint(want) {
		t.Errorf("brief passed to Status: %v, want %v", briefs, want)
	}

	h = Handler(Options{Status: func(ctx context.Context, brief bool) (any, error) { return nil, errors.New("boom") }})
	if r := get(t, h, "/api/v2/status"); r.StatusCode != 500 {
		t.Errorf("failing status: %d", r.StatusCode)
	}
}

func TestNotModifiedPage(t *testing.T) {
	h := Handler(Options{})
	etag := get(t, h, "/status").Header.Get("ETag")
	r := get(t, h, "/status", "If-None-Match", etag)
	if r.StatusCode != 304 || r.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("304: %d %v", r.StatusCode, r.Header)
	}
}

// The 시도 outline of /overview: the 17 provinces with their English names,
// within the 150 KB budget of an embedded asset.
func TestSidoOutline(t *testing.T) {
	raw, err := files.ReadFile("static/geo/sido.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 150_000 {
		t.Fatalf("sido.json is %d bytes, above 150 KB", len(raw))
	}
	var fc struct {
		Attribution string `json:"attribution"`
		Features    []struct {
			Properties struct {
				Name    string `json:"name"`
				NameEng string `json:"name_eng"`
			} `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(raw, &fc); err != nil {
		t.Fatal(err)
	}
	if len(fc.Features) != 17 || !strings.Contains(fc.Attribution, "KOSTAT/SGIS") {
		t.Fatalf("%d features, attribution %q", len(fc.Features), fc.Attribution)
	}
	for _, f := range fc.Features {
		if f.Properties.NameEng == "" {
			t.Fatalf("feature without name_eng: %+v", f.Properties)
		}
	}
}

// Every public page's catalogue has the same keys in both languages (the
// handler refuses to start otherwise), and /overview is served.
func TestPublicCatalogues(t *testing.T) {
	h := Handler(Options{Tiles: "none"})
	for _, page := range publicPages {
		for _, lang := range pageLangs {
			m := map[string]string{}
			for k, v := range readCatalogue("common", lang) {
				m[k] = v
			}
			for k, v := range readCatalogue(page, lang) {
				m[k] = v
			}
			for k, v := range m {
				if strings.TrimSpace(v) == "" && !strings.HasSuffix(k, ".range") {
					t.Errorf("%s.%s: %s is empty", page, lang, k)
				}
			}
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/overview", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "msg/overview.js") {
		t.Fatalf("/overview: %d", w.Code)
	}
}

// Every page is served in the chosen language from the first byte: its
// <html lang>, its title and its texts from that language's catalogue.
func TestPageLanguage(t *testing.T) {
	h := Handler(Options{Tiles: "none"})
	paths := map[string]string{"map": "/", "outlet": "/outlet", "status": "/status", "overview": "/overview", "notfound": "/no-such-page"}
	for _, page := range allPages {
		for _, lang := range pageLangs {
			t.Run(page+"."+lang, func(t *testing.T) {
				cat := readCatalogue(page, lang)
				r := get(t, h, paths[page]+"?lang="+lang, "Accept-Language", "xx", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
				html := body(t, r)
				if !strings.Contains(html, `<html lang="`+lang+`">`) {
					t.Errorf(`no <html lang=%q>`, lang)
				}
				title := template.HTMLEscapeString(cat["title"])
				if !strings.Contains(html, "<title>"+title+"</title>") {
					t.Errorf("no <title>%s</title>", title)
				}
				if want := `data-msg="heading">` + template.HTMLEscapeString(cat["heading"]) + "<"; !strings.Contains(html, want) {
					t.Errorf("heading not rendered: no %s", want)
				}
				if v := r.Header.Get("Vary"); v != "" {
					t.Errorf("?lang= answered with Vary %q", v)
				}
			})
		}
	}
}

// Without ?lang=, the cookie the scripts write wins over Accept-Language,
// which is read by q-value; the answer then varies on both, and each
// language has its own ETag.
func TestChooseLanguage(t *testing.T) {
	h := Handler(Options{Tiles: "none"})
	for _, c := range []struct {
		name, cookie, accept, want string
	}{
		{"nothing", "", "", "ko"},
		{"english browser", "", "en-US,en;q=0.9", "en"},
		{"korean first", "", "ko-KR,ko;q=0.9,en;q=0.8", "ko"},
		{"english preferred by q", "", "ko;q=0.5, EN-gb;q=0.8", "en"},
		{"refused english", "", "en;q=0, fr", "ko"},
		{"other languages only", "", "fr-FR,de;q=0.9", "ko"},
		{"cookie over header", "en", "ko-KR", "en"},
		{"cookie korean", "ko", "en-US", "ko"},
		{"bad cookie", "fr", "en-US", "en"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/status", nil)
			if c.accept != "" {
				req.Header.Set("Accept-Language", c.accept)
			}
			if c.cookie != "" {
				req.AddCookie(&http.Cookie{Name: langCookie, Value: c.cookie})
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if !strings.Contains(rec.Body.String(), `<html lang="`+c.want+`">`) {
				t.Errorf("not served in %s", c.want)
			}
			if v := rec.Header().Get("Vary"); v != "Accept-Language, Cookie" {
				t.Errorf("Vary %q", v)
			}
		})
	}
	ko := get(t, h, "/status?lang=ko").Header.Get("ETag")
	en := get(t, h, "/status?lang=en").Header.Get("ETag")
	if ko == "" || ko == en {
		t.Errorf("ETags ko %s, en %s: want two", ko, en)
	}
	if r := get(t, h, "/status?lang=en", "If-None-Match", ko); r.StatusCode != http.StatusOK {
		t.Errorf("English answered %d to the Korean ETag", r.StatusCode)
	}
}
