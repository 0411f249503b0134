package web

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/publicmask/publicmask/internal/browsertest"
	"github.com/publicmask/publicmask/internal/testdata"
)

func newSite(t *testing.T, opts Options) (*httptest.Server, *fakeAPI) {
	f := newFakeAPI()
	f.seedGangbuk()
	mux := http.NewServeMux()
	f.register(mux)
	mux.Handle("/", Handler(opts))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts, f
}

// testBasemap is the 2018 province outlines when the shared data is there,
// else a small hand-made outline of Seoul, so the offline map has context.
func testBasemap(t *testing.T) []byte {
	if b, err := os.ReadFile(filepath.Join(testdata.Dir(), "geo", "provinces_2018.geojson")); err == nil {
		return b
	}
	return []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"서울특별시"},"geometry":{"type":"Polygon","coordinates":[[[126.76,37.55],[126.85,37.69],[127.02,37.70],[127.18,37.62],[127.18,37.45],[126.95,37.42],[126.80,37.47],[126.76,37.55]]]}}]}`)
}

const firstItem = `document.querySelector('#list li')`

// textCheck is what the text of the element js finds must be: want, or
// (contains) a text holding want.
type textCheck struct {
	what, js, want string
	contains       bool
}

func checkTexts(t *testing.T, p *browsertest.Page, checks []textCheck) {
	t.Helper()
	for _, c := range checks {
		got := p.Text(c.js)
		if got != c.want && !(c.contains && strings.Contains(got, c.want)) {
			t.Errorf("%s: %q, want %q (contains: %v)", c.what, got, c.want, c.contains)
		}
	}
}

func TestBrowserMap(t *testing.T) {
	ts, f := newSite(t, Options{Tiles: "none", Basemap: testBasemap(t)})
	p := browsertest.NewPage(t, 1280, 860)

	// Near 솔매로 in Gangbuk: 승약국 first, with its status in words.
	p.Run(chromedp.Navigate(ts.URL + "/?lat=37.6254369&lng=127.0164096"))
	p.Wait(`document.querySelectorAll('#list li').length >= 10`, 10*time.Second)
	if name := p.Text(firstItem + `.querySelector('.o-name')`); name != "승약국" {
		t.Fatalf("first outlet %q, want 승약국", name)
	}
	checkTexts(t, p, []textCheck{
		{"status", firstItem + `.querySelector('.badge')`, "충분 (100개 이상)", false},
		{"meta line, arrival", firstItem + `.querySelector('.o-meta')`, "입고", true},
		{"meta line, age", firstItem + `.querySelector('.o-meta')`, "초 전 갱신", true},
		{"distance", firstItem + `.querySelector('.o-dist')`, "0m", false},
		{"summary", `document.getElementById('summary')`, "판매처", true},
	})
	var words []string
	p.Eval(`Array.from(document.querySelectorAll('#list .badge')).map(function(b){return b.textContent})`, &words)
	joined := strings.Join(words, "|")
	for _, w := range []string{"보통 (30~99개)", "부족 (2~29개)", "없음 (0~1개)", "판매중지", "정보 없음"} {
		if !strings.Contains(joined, w) {
			t.Errorf("list lacks status %q: %s", w, joined)
		}
	}
	// Markers: one pin per outlet within the view, with status in its title.
	var pins int
	p.Eval(`document.querySelectorAll('.leaflet-marker-icon.pin').length`, &pins)
	if pins < 10 {
		t.Errorf("%d pins on the map", pins)
	}
	p.Wait(`document.querySelectorAll('.leaflet-basemap-pane path').length > 0`, 5*time.Second)

	// Live: a change on the stream reaches the list within a second, no reload.
	p.Wait(`document.getElementById('live').classList.contains('ok')`, 5*time.Second)
	for f.subscribers() == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	p.Eval(`window.__sameDocument = 42`, nil)
	f.push("11820001", "few")
	took := p.Wait(firstItem+`.querySelector('.badge').textContent === '부족 (2~29개)'`, time.Second)
	t.Logf("stream change visible after %v", took)
	var same int
	p.Eval(`window.__sameDocument || 0`, &same)
	if same != 42 {
		t.Error("page reloaded")
	}
	p.Wait(`document.querySelector('.leaflet-marker-icon.pin.s-few[title^="승약국"]')`, time.Second)
	f.push("11820001", "plenty")
	p.Wait(firstItem+`.querySelector('.badge').textContent === '충분 (100개 이상)'`, time.Second)
	time.Sleep(2100 * time.Millisecond) // let the flash settle for the picture
	shot := p.Screenshot("map.png")
	copyFile(t, shot, "/tmp/publicmask-map.png")

	// Zoomed out, markers cluster.
	for i := 0; i < 3; i++ {
		p.Run(chromedp.Click(chromedp.CSS(`.leaflet-control-zoom-out`)))
		time.Sleep(350 * time.Millisecond)
	}
	p.Wait(`document.querySelectorAll('.cluster').length > 0`, 5*time.Second)
	if s := p.Text(`document.querySelector('.cluster')`); !strings.Contains(s, "재고") {
		t.Errorf("cluster label %q", s)
	}
	copyFile(t, p.Screenshot("map-clusters.png"), "/tmp/publicmask-map-clusters.png")

	// Address search (시군구/동) moves the map there.
	before := nearCount(f)
	p.Run(chromedp.SendKeys(chromedp.CSS(`#addr`), "서울특별시 강북구 미아동"), browsertest.Enter())
	p.Wait(`document.activeElement && document.activeElement.id === 'list-heading'`, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for nearCount(f) == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if nearCount(f) == before {
		t.Error("address search did not reload the nearest outlets")
	}
	p.Clear("addr")
	p.Run(chromedp.SendKeys(chromedp.CSS(`#addr`), "강북구"), chromedp.Click(chromedp.CSS(`#search button[type=submit]`)))
	p.Wait(`document.getElementById('summary').textContent.indexOf('읍·면·동이나 도로명') >= 0`, 5*time.Second)

	// An ambiguous name: the candidates, as buttons; choosing one searches it.
	p.Clear("addr")
	p.Run(chromedp.SendKeys(chromedp.CSS(`#addr`), "중구"), browsertest.Enter())
	p.Wait(`document.querySelectorAll('#summary .choices button').length === 2`, 5*time.Second)
	if s := p.Text(`document.querySelector('#summary .choices button')`); s != "서울특별시 중구" {
		t.Errorf("first candidate %q", s)
	}
	p.Run(chromedp.Click(chromedp.CSS(`#summary .choices button`)))
	p.Wait(`document.getElementById('addr').value === '서울특별시 중구'`, 5*time.Second)
}

// The map's own controls (zoom buttons, a popup's close button) speak the
// page's language, from the catalogue, not Leaflet's built-in English.
func TestBrowserMapControlsInLanguage(t *testing.T) {
	ts, _ := newSite(t, Options{Tiles: "none"})
	p := browsertest.NewPage(t, 1280, 860)
	for _, c := range []struct{ lang, in, out, close string }{
		{"ko", "확대", "축소", "닫기"},
		{"en", "Zoom in", "Zoom out", "Close"},
	} {
		p.Run(chromedp.Navigate(ts.URL + "/?lang=" + c.lang + "&lat=37.6254369&lng=127.0164096"))
		p.Wait(`document.querySelectorAll('.leaflet-marker-icon.pin').length > 0`, 10*time.Second)
		var got []string
		p.Eval(`['.leaflet-control-zoom-in', '.leaflet-control-zoom-out'].flatMap(function (s) {
			var b = document.querySelector(s); return [b.title, b.getAttribute('aria-label')]; })`, &got)
		if want := []string{c.in, c.in, c.out, c.out}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: zoom buttons say %q, want %q", c.lang, got, want)
		}
		p.Run(chromedp.Click(chromedp.CSS(`.leaflet-marker-icon.pin`)))
		p.Wait(`document.querySelector('.leaflet-popup-close-button')`, 5*time.Second)
		if got := p.Text(`{ textContent: document.querySelector('.leaflet-popup-close-button').getAttribute('aria-label') }`); got != c.close {
			t.Errorf("%s: a popup's close button says %q, want %q", c.lang, got, c.close)
		}
	}
}

func nearCount(f *fakeAPI) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nearN
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		t.Logf("copy screenshot: %v", err)
	}
}

// Without ?lat&lng and without a location permission, the map opens at
// Seoul City Hall; phones get the map above the list.
func TestBrowserMapDefaultCentreOnPhone(t *testing.T) {
	ts, f := newSite(t, Options{Tiles: "none", Basemap: testBasemap(t)})
	p := browsertest.NewPage(t, 412, 860)
	p.Run(chromedp.Navigate(ts.URL + "/"))
	p.Wait(`document.getElementById('summary').textContent !== ''`, 10*time.Second)
	f.mu.Lock()
	lat, lng := f.lastLat, f.lastLng
	f.mu.Unlock()
	if math.Abs(lat-37.5665) > 0.001 || math.Abs(lng-126.9780) > 0.001 {
		t.Errorf("default centre %v,%v, want Seoul City Hall", lat, lng)
	}
	var mapBottom, listTop float64
	p.Eval(`document.getElementById('map').getBoundingClientRect().bottom`, &mapBottom)
	p.Eval(`document.querySelector('.panel').getBoundingClientRect().top`, &listTop)
	if listTop < mapBottom-1 {
		t.Errorf("on a phone the list (top %v) should follow the map (bottom %v)", listTop, mapBottom)
	}
	// Same place as the desktop shot, for a look at the phone layout.
	p.Run(chromedp.Navigate(ts.URL + "/?lat=37.6254369&lng=127.0164096"))
	p.Wait(`document.querySelectorAll('#list li').length >= 10`, 10*time.Second)
	p.Wait(`document.querySelectorAll('.leaflet-basemap-pane path').length > 0`, 5*time.Second)
	copyFile(t, p.Screenshot("map-phone.png"), "/tmp/publicmask-map-phone.png")
}

func TestBrowserStatus(t *testing.T) {
	var mu sync.Mutex
	n := 0
	status := func(ctx context.Context, brief bool) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		now := time.Now()
		var hist []map[string]any
		for i := 30; i >= 0; i-- {
			hist = append(hist, map[string]any{
				"t": now.Add(-time.Duration(i) * 10 * time.Second).Format(time.RFC3339), "sales_per_s": 1000 + 40*math.Sin(float64(i+n)/3),
				"reads_per_s": 5000 + 900*math.Cos(float64(i+n)/4), "outlet_p99_ms": 12 + float64((i+n)%7),
				"public_p99_ms": 3 + float64((i+n)%3), "freshness_p99_ms": 40 + float64((i*n)%30),
			})
		}
		return map[string]any{
			"now": now.Format(time.RFC3339Nano), "version": "test-1",
			"snapshot": map[string]any{"version": 1000 + n, "age_ms": 35, "freshness_p50_ms": 18, "freshness_p99_ms": 61},
			"rates":    map[string]any{"sales_per_s": 1000 + n, "public_reads_per_s": 5234.5},
			"latency": map[string]any{
				"outlet": map[string]any{"p50_ms": 4.2, "p99_ms": 17},
				"public": map[string]any{"p50_ms": 0.4, "p99_ms": 2.1},
				// admin is missing on purpose: rendered as "—".
			},
			"shed_total": 12, "rate_limited_total": 3,
			"store":         map[string]any{"ok": true},
			"stale_outlets": []map[string]any{{"code": "11820009", "name": "솔샘약국", "stock": 140, "updated_at": now.Add(-5 * time.Hour).Format(time.RFC3339)}},
			"history":       hist,
			"role":          "all",
		}, nil
	}
	ts, _ := newSite(t, Options{Tiles: "none", Status: status})
	p := browsertest.NewPage(t, 1280, 1000)
	p.Run(chromedp.Navigate(ts.URL + "/status"))
	val := `document.querySelector('[data-metric=sales_per_s] .m-value')`
	p.Wait(val+` && `+val+`.textContent !== '—'`, 5*time.Second)
	first := p.Text(val)
	p.Wait(val+`.textContent !== '`+first+`'`, 5*time.Second) // live: polled again
	checkTexts(t, p, []textCheck{
		{"missing admin latency", `document.querySelector('[data-metric=latency_admin] .m-value')`, "—", false},
		{"freshness", `document.querySelector('[data-metric=freshness] .m-value')`, "18ms / 61ms", false},
		{"store", `document.querySelector('[data-metric=store] .m-value')`, "✔ 정상", false},
		{"stale outlets", `document.getElementById('stale')`, "솔샘약국", true},
		{"unknown fields", `document.getElementById('other')`, "role", true},
	})
	var charts int
	p.Eval(`document.querySelectorAll('svg.spark path.spark-line').length`, &charts)
	if charts < 5 {
		t.Errorf("%d charts", charts)
	}
	copyFile(t, p.Screenshot("status.png"), "/tmp/publicmask-status.png")
}

// TestBrowserStatusStoreCause: the store's cause (disk_full, …) is shown
// from the catalogue in the page's language, on its box and in the nodes
// table; the server's English sentence only as the box's title. On main
// the Korean page showed the English sentence after its Korean label.
func TestBrowserStatusStoreCause(t *testing.T) {
	const english = "the disk is full: durable writes fail"
	status := func(ctx context.Context, brief bool) (any, error) {
		return map[string]any{
			"now": time.Now().Format(time.RFC3339Nano), "role": "all",
			"store": map[string]any{"ok": false, "cause": "disk_full", "error": english},
			"nodes": []map[string]any{
				{"self": true, "name": "ledger1", "role": "all", "reachable": true, "store_ok": false, "store_cause": "disk_full", "store_error": english},
				{"name": "ledger2", "role": "ledger", "reachable": true, "store_ok": false, "store_cause": "some_new_cause", "store_error": "a cause this page does not know"},
			},
		}, nil
	}
	ts, _ := newSite(t, Options{Tiles: "none", Status: status})
	p := browsertest.NewPage(t, 1280, 1000)
	box := `document.querySelector('[data-metric=store] .m-value')`
	self := `document.querySelector('#nodes tr[data-node^="ledger1"] td:last-child')`
	other := `document.querySelector('#nodes tr[data-node="ledger2"] td:last-child')`
	for _, c := range []struct{ lang, bad, cause string }{
		{"ko", "오류", "디스크가 가득 찼습니다: 판매를 기록할 수 없습니다"},
		{"en", "Error", "The disk is full: sales cannot be recorded"},
	} {
		p.Run(chromedp.Navigate(ts.URL + "/status?lang=" + c.lang))
		p.Wait(box+` && `+box+`.textContent !== '—' && `+other, 5*time.Second)
		want := "✖ " + c.bad + ": " + c.cause
		checkTexts(t, p, []textCheck{
			{c.lang + " store box", box, want, false},
			{c.lang + " own row", self, want, false},
			// An unknown cause: the server's sentence, as before.
			{c.lang + " unknown cause", other, "✖ " + c.bad + ": a cause this page does not know", false},
		})
		var title string
		p.Eval(`document.querySelector('[data-metric=store]').title`, &title)
		if title != english {
			t.Errorf("%s: the box's title %q, want the server's sentence", c.lang, title)
		}
		copyFile(t, p.Screenshot("status-cause-"+c.lang+".png"), "/tmp/ops44/status-cause-"+c.lang+".png")
	}
}

// A language chosen with ?lang= is remembered for the server too (the
// script writes the cookie): the next page comes in that language from its
// first byte, whatever the browser's Accept-Language (Korean here).
func TestBrowserLanguageRemembered(t *testing.T) {
	ts, _ := newSite(t, Options{Tiles: "none"})
	p := browsertest.NewPage(t, 1024, 768)
	for _, lang := range []string{"en", "ko", "en"} {
		p.Run(chromedp.Navigate(ts.URL + "/status?lang=" + lang))
		p.Wait(`document.documentElement.lang === '`+lang+`'`, 5*time.Second)
		var served string
		p.Eval(`fetch('/overview').then(function (r) { return r.text(); })`, &served)
		if !strings.Contains(served, `<html lang="`+lang+`">`) {
			t.Errorf("after ?lang=%s, /overview served as %.80q", lang, served)
		}
	}
}
