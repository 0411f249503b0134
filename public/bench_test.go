package public

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"

	"github.com/publicmask/publicmask/internal/testdata"
	"github.com/publicmask/publicmask/seed"
)

// nationalEnv serves the April 2020 national list (26,289 outlets) with
// stock in every band.
func nationalEnv(b *testing.B) *testEnv {
	rows := testdata.CSV(b, dataFile(b, "outlets-2020/stores-2020-04.csv"))
	at := time.Date(2020, 3, 11, 8, 0, 0, 0, time.UTC)
	var outlets []publicmask.Outlet
	for i, r := range rows[1:] {
		lat, _ := strconv.ParseFloat(r[4], 64)
		lng, _ := strconv.ParseFloat(r[5], 64)
		o := publicmask.Outlet{Code: r[0], Name: r[1], Addr: r[2], Type: r[3], Lat: lat, Lng: lng}
		if i%17 != 0 {
			o.Stock, o.StockAt, o.UpdatedAt = (i*37)%250, at, at
		}
		outlets = append(outlets, o)
	}
	return newEnv(b, outlets, Options{})
}

var geoCases = []struct {
	name string
	url  string
}{
	// Gangnam station: among the densest pharmacy areas of the country.
	{"seoul_m1000", "/corona19-masks/v1/storesByGeo/json?lat=37.4979&lng=127.0276&m=1000"},
	{"seoul_m5000", "/corona19-masks/v1/storesByGeo/json?lat=37.4979&lng=127.0276&m=5000"},
	// v2 near carries the sell-out forecast in every outlet object.
	{"near_seoul_m1000", "/api/v2/outlets/near?lat=37.4979&lng=127.0276&m=1000&limit=500"},
}

// BenchmarkStoresByGeo is the public hot path through the handler.
func BenchmarkStoresByGeo(b *testing.B) {
	env := nationalEnv(b)
	for _, c := range geoCases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", c.url, nil)
			w := httptest.NewRecorder()
			env.h.ServeHTTP(w, req)
			var body struct{ Count int }
			(response{body: w.Body.Bytes()}).json(b, &body)
			b.ReportMetric(float64(body.Count), "stores")
			b.SetBytes(int64(w.Body.Len()))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				env.h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// BenchmarkFixedBody is the ceiling: a handler that writes a pre-encoded
// body of the same size with the same headers. Compare ns/op with
// BenchmarkStoresByGeo of the same case.
func BenchmarkFixedBody(b *testing.B) {
	env := nationalEnv(b)
	for _, c := range geoCases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", c.url, nil)
			w := httptest.NewRecorder()
			env.h.ServeHTTP(w, req)
			body, hdr := w.Body.Bytes(), w.Header().Clone()
			fixed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				for k, v := range hdr {
					h[k] = v
				}
				w.WriteHeader(200)
				w.Write(body)
			})
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				fixed.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkStoresPage is a cached v1 page (encoded once per version).
func BenchmarkStoresPage(b *testing.B) {
	env := nationalEnv(b)
	for _, u := range []string{"/corona19-masks/v1/sales/json?page=3", "/corona19-masks/v1/stores/json?page=3&perPage=5000"} {
		b.Run(fmt.Sprint(u[19:]), func(b *testing.B) {
			req := httptest.NewRequest("GET", u, nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				env.h.ServeHTTP(w, req)
			}
		})
	}
}

// placeQueries are what people type into the search box, as they type it.
var placeQueries = []string{"서", "서울", "서울 강", "논", "논현", "강남구 논", "솔매", "솔매로", "중구", "명동",
	"수원시 장", "고성", "처인", "대산면", "해운대", "부산 해운대구 우", "제주", "경기 파주시 파주", "역삼", "을지로"}

// BenchmarkPlaces is /api/v2/places through the handler over the April 2020
// list, cycling through placeQueries; it reports the p50 and p99 of one
// request (DESIGN target: under 1 ms p99 from memory).
func BenchmarkPlaces(b *testing.B) {
	env := nationalEnv(b)
	reqs := make([]*http.Request, len(placeQueries))
	for i, q := range placeQueries {
		reqs[i] = httptest.NewRequest("GET", "/api/v2/places?q="+url.QueryEscape(q), nil)
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, reqs[i])
		if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"label"`)) {
			b.Fatalf("%s: %d %s", q, w.Code, w.Body.Bytes())
		}
	}
	durs := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := httptest.NewRecorder()
		t := time.Now()
		env.h.ServeHTTP(w, reqs[i%len(reqs)])
		durs = append(durs, time.Since(t))
		i++
	}
	reportQuantiles(b, durs)
}

func reportQuantiles(b *testing.B, durs []time.Duration) {
	if len(durs) == 0 {
		return
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
}

// addrCases are storesByAddr queries as 2020 apps sent them and as people
// type them.
var addrCases = []struct{ name, address string }{
	{"dong", "서울특별시 강남구 논현동"},
	{"typed", "강남구 논현1동"},
	{"road", "솔매로 38"},
}

// BenchmarkStoresByAddr is v1 storesByAddr through the handler; compare
// ns/op with BenchmarkFixedBodyAddr of the same case (the same bytes and
// headers written by a handler that does nothing else).
func BenchmarkStoresByAddr(b *testing.B) {
	env := nationalEnv(b)
	for _, c := range addrCases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape(c.address), nil)
			w := httptest.NewRecorder()
			env.h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%s: %d", c.address, w.Code)
			}
			b.SetBytes(int64(w.Body.Len()))
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				env.h.ServeHTTP(w, req)
			}
		})
	}
}

func BenchmarkFixedBodyAddr(b *testing.B) {
	env := nationalEnv(b)
	for _, c := range addrCases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape(c.address), nil)
			w := httptest.NewRecorder()
			env.h.ServeHTTP(w, req)
			body, hdr := w.Body.Bytes(), w.Header().Clone()
			fixed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				for k, v := range hdr {
					h[k] = v
				}
				w.WriteHeader(200)
				w.Write(body)
			})
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				fixed.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkStoresByGeoScale is bench-scale.sh's storesByGeo step in
// process: storesByGeo at random points of central Seoul over generated
// registries of the national size and of 540,000 outlets, at the radius
// whose answers hold as many outlets as m=1000 does at the national size
// (the density grows with the count). Its per-request time should not grow
// with the registry.
//
//	go test ./public -run '^$' -bench 'StoresByGeoScale' -benchtime 20000x
//
// With delivered=true the outlets are stocked after the start, through the
// refresher, in lists of 50,000 in code order, as bench-scale's opening
// deliveries stock them (every entry is then made by a change, not by the
// snapshot's build).
func BenchmarkStoresByGeoScale(b *testing.B) {
	for _, delivered := range []bool{false, true} {
		for _, n := range []int{26_263, 540_000} {
			b.Run(fmt.Sprintf("delivered=%t/outlets=%d", delivered, n), func(b *testing.B) {
				storesByGeoScale(b, n, delivered)
			})
		}
	}
}

func storesByGeoScale(b *testing.B, n int, delivered bool) {
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: n})
	at := time.Date(2020, 3, 11, 8, 0, 0, 0, time.UTC)
	stock := func() {
		for i := range outlets {
			outlets[i].Stock, outlets[i].StockAt, outlets[i].UpdatedAt = (i*37)%250, at, at
		}
	}
	if !delivered {
		stock()
	}
	env := newEnv(b, outlets, Options{})
	if delivered {
		slices.SortFunc(outlets, func(a, b publicmask.Outlet) int { return strings.Compare(a.Code, b.Code) })
		stock()
		for start := 0; start < n; start += 50_000 {
			list := outlets[start:min(start+50_000, n)]
			for i := range list {
				list[i] = env.src.put(list[i])
			}
			env.r.Notify(list)
			last := list[len(list)-1].Version
			// Not waitFor's 5 s: a list takes longer on a loaded machine.
			for deadline := time.Now().Add(2 * time.Minute); env.r.Current().Version() < last; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatal("a delivery list not applied in 2 minutes")
				}
			}
		}
	}
	m := max(50, int(1000*math.Sqrt(26_263/float64(n))))
	rng := rand.New(rand.NewPCG(2020, 1))
	reqs := make([]*http.Request, 512)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%.5f&lng=%.5f&m=%d",
			37.50+rng.Float64()*0.10, 126.92+rng.Float64()*0.14, m), nil)
	}
	stores := 0
	for _, req := range reqs {
		var body struct{ Count int }
		(response{body: env.get(b, req.URL.String()).body}).json(b, &body)
		stores += body.Count
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	w := &discardWriter{h: http.Header{}}
	for b.Loop() {
		clear(w.h)
		env.h.ServeHTTP(w, reqs[i%len(reqs)])
		if w.code != 200 {
			b.Fatal(w.code)
		}
		i++
	}
	// CPU time (this process, the collector included) is less
	// sensitive than wall time to a shared machine's load.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(stores)/float64(len(reqs)), "stores")
}

// cpuTime is the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is a ResponseWriter that keeps no body: what the handler
// itself allocates per request (not a recorder's copy of the body) is what
// the collector sees.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
