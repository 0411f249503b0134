package public

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

// dataFile returns the path of a file of the shared reference data. Without
// it the test is skipped, except under CI where it must be there.
func dataFile(tb testing.TB, rel string) string {
	tb.Helper()
	dir := os.Getenv("PUBLICMASK_DATA")
	if dir == "" {
		dir = "../../shared/data"
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("reference data %s missing (required under CI=true): %v", p, err)
		}
		tb.Skipf("reference data %s not present (see ../shared/data/README.md); skipping", p)
	}
	return p
}

// fakeSource is an in-memory store for the refresher.
type fakeSource struct {
	mu      sync.Mutex
	outlets map[string]publicmask.Outlet
	version int64
}

func newFakeSource(outlets []publicmask.Outlet) *fakeSource {
	f := &fakeSource{outlets: map[string]publicmask.Outlet{}}
	for _, o := range outlets {
		f.put(o)
	}
	return f
}

func (f *fakeSource) put(o publicmask.Outlet) publicmask.Outlet {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	o.Version = f.version
	f.outlets[o.Code] = o
	return o
}

func (f *fakeSource) get(code string) publicmask.Outlet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.outlets[code]
}

func (f *fakeSource) Outlets(ctx context.Context) ([]publicmask.Outlet, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []publicmask.Outlet
	for _, o := range f.outlets {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b publicmask.Outlet) int {
		switch {
		case a.Code < b.Code:
			return -1
		case a.Code > b.Code:
			return 1
		}
		return 0
	})
	return out, f.version, nil
}

func (f *fakeSource) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []publicmask.Outlet
	for _, o := range f.outlets {
		if o.Version > after {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b publicmask.Outlet) int { return int(a.Version - b.Version) })
	return out[:min(len(out), limit)], nil
}

// sampleRecord is one store of a 2020 response, keeping the raw values to
// compare JSON types and null handling.
type sampleRecord map[string]json.RawMessage

func (r sampleRecord) str(k string) string {
	var s string
	json.Unmarshal(r[k], &s)
	return s
}

func (r sampleRecord) num(k string) float64 {
	var f float64
	json.Unmarshal(r[k], &f)
	return f
}

// isNull is true for JSON null and for a missing key (the 2020 quirk).
func (r sampleRecord) isNull(k string) bool {
	v, ok := r[k]
	return !ok || string(v) == "null"
}

func loadSample(tb testing.TB, rel string) []sampleRecord {
	tb.Helper()
	b, err := os.ReadFile(dataFile(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	var resp struct {
		Stores []sampleRecord `json:"stores"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		tb.Fatal(err)
	}
	return resp.Stores
}

func parseV1Time(tb testing.TB, s string) time.Time {
	t, err := time.ParseInLocation("2006/01/02 15:04:05", s, publicmask.Seoul)
	if err != nil {
		tb.Fatalf("sample time %q: %v", s, err)
	}
	return t
}

// stockFor cycles through boundary values of each band so that every
// boundary of RemainStat is exercised.
var stockFor = map[string][]int{
	publicmask.StatPlenty: {100, 150, 999},
	publicmask.StatSome:   {30, 99, 64},
	publicmask.StatFew:    {2, 29, 10},
	publicmask.StatEmpty:  {0, 1},
}

// outletsFromSample imports the sample's records (as the storeInfos shape:
// code, name, addr, type, lat, lng) and gives each the state that yields
// the sample's remain_stat: a stock in its band, suspension for break, and
// never stocked for null or missing.
func outletsFromSample(tb testing.TB, recs []sampleRecord) []publicmask.Outlet {
	var out []publicmask.Outlet
	for i, r := range recs {
		o := publicmask.Outlet{Code: r.str("code"), Name: r.str("name"), Addr: r.str("addr"), Type: r.str("type"),
			Lat: r.num("lat"), Lng: r.num("lng")}
		stat := r.str("remain_stat")
		if !r.isNull("remain_stat") {
			o.StockAt = parseV1Time(tb, r.str("stock_at"))
			o.UpdatedAt = parseV1Time(tb, r.str("created_at"))
			if stat == publicmask.StatBreak {
				o.Suspended, o.Stock = true, 40
			} else {
				vals := stockFor[stat]
				o.Stock = vals[i%len(vals)]
			}
		}
		out = append(out, o)
	}
	return out
}

type testEnv struct {
	src *fakeSource
	r   *snapshot.Refresher
	h   http.Handler
}

func newEnv(tb testing.TB, outlets []publicmask.Outlet, opts Options) *testEnv {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	src := newFakeSource(outlets)
	r := snapshot.NewRefresher(src, snapshot.Options{})
	if err := r.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	return &testEnv{src: src, r: r, h: NewHandler(r, opts)}
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (e *testEnv) get(tb testing.TB, url string, hdr ...string) response {
	tb.Helper()
	req := httptest.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	res := response{code: w.Code, header: w.Header(), body: w.Body.Bytes()}
	if res.header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(res.body))
		if err != nil {
			tb.Fatalf("%s: bad gzip: %v", url, err)
		}
		if res.body, err = io.ReadAll(zr); err != nil {
			tb.Fatalf("%s: bad gzip: %v", url, err)
		}
	}
	return res
}

func (r response) json(tb testing.TB, v any) {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		tb.Fatalf("bad JSON (%v): %s", err, r.body)
	}
}

func (r response) wantError(tb testing.TB, status int, code string) {
	tb.Helper()
	if r.code != status {
		tb.Fatalf("status %d, want %d: %s", r.code, status, r.body)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	r.json(tb, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		tb.Fatalf("error body %s, want code %s", r.body, code)
	}
}

// haversine is the test's own great-circle distance, to check the index.
func haversine(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371008.8
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lng2-lng1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Atan2(math.Sqrt(a), math.Sqrt(1-a))
}

// waitFor polls cond until it holds or a deadline passes (no wall-clock
// assertion: only that the change becomes visible at all).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not reached before deadline", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
