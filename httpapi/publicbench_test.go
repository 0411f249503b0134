package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/public"
	"github.com/publicmask/publicmask/snapshot"
)

type benchSource []publicmask.Outlet

func (l benchSource) Outlets(context.Context) ([]publicmask.Outlet, int64, error) { return l, 1, nil }
func (l benchSource) OutletChanges(context.Context, int64, int) ([]publicmask.Outlet, error) {
	return nil, nil
}

// publicBenchHandler is the real public handler on 400 outlets on a grid
// around Seoul City Hall (about 20 within 1 km of it), with stock.
func publicBenchHandler(tb testing.TB) http.Handler {
	at := time.Date(2020, 3, 11, 8, 0, 0, 0, time.UTC)
	var outlets []publicmask.Outlet
	for i := range 400 {
		o := publicmask.Outlet{
			Code: fmt.Sprintf("%08d", 11000000+i), Name: fmt.Sprintf("Pharmacy %d", i),
			Addr: fmt.Sprintf("서울특별시 중구 세종대로 %d", i+1), Type: "01",
			Lat: 37.5665 + float64(i/20-10)*0.004, Lng: 126.978 + float64(i%20-10)*0.005, Version: 1,
		}
		if i%7 != 0 {
			o.Stock, o.StockAt, o.UpdatedAt = (i*37)%250, at, at
		}
		outlets = append(outlets, o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	// The clock stands still: an answer's as_of (in its body, its
	// X-Data-As-Of and its ETag) moves with the clock, and the lean path's
	// answers are compared byte for byte with net/http's.
	ref := snapshot.NewRefresher(benchSource(outlets), snapshot.Options{Clock: func() time.Time { return at }})
	if err := ref.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	return public.NewHandler(ref, public.Options{})
}

// publicReads are the rush's read kinds (rush/arrivals.go), in its mix.
var publicReads = []struct{ name, path string }{
	{"storesByGeo", "/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780&m=1000"},
	{"storesByGeo5000", "/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780&m=5000"},
	{"near", "/api/v2/outlets/near?lat=37.5665&lng=126.9780&m=1000&limit=50"},
	{"storesByAddr", "/corona19-masks/v1/storesByAddr/json?address=" + "%EC%84%9C%EC%9A%B8%ED%8A%B9%EB%B3%84%EC%8B%9C%20%EC%A4%91%EA%B5%AC%20%EC%84%B8%EC%A2%85%EB%8C%80%EB%A1%9C%2017"},
	{"outlet", "/api/v2/outlets/11000017"},
}

// BenchmarkPublicRead is a public read as the rush sends it (a GET on a
// keep-alive connection, no gzip) over loopback HTTP/1.1 through the whole
// server: net/http, the middleware chain, the real public handler. Client
// and server share the process; the client allocates nothing per request
// once warm, so B/op and allocs/op are the server's.
//
//	go test ./httpapi -run '^$' -bench PublicRead -benchmem
func BenchmarkPublicRead(b *testing.B) {
	for _, lean := range []bool{false, true} {
		for _, c := range publicReads {
			b.Run(fmt.Sprintf("%s/lean=%v", c.name, lean), func(b *testing.B) {
				srv := newServer(Config{Public: publicBenchHandler(b), Logger: benchLogger()}, newFake())
				var ls *Server
				if lean {
					ls = srv
				}
				sb := newSaleBench(b, srv.Handler(), "", ls)
				sb.req = []byte("GET " + c.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: publicmask-rush\r\n\r\n")
				runBench(b, sb, http.StatusOK)
			})
		}
	}
}

func runBench(b *testing.B, sb *saleBench, want int) {
	for range 100 {
		if st, err := sb.do(); err != nil || st != want {
			b.Fatalf("status %d, %v: %s", st, err, sb.body)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		if st, err := sb.do(); err != nil || st != want {
			b.Fatalf("status %d, %v: %s", st, err, sb.body)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(len(sb.body)), "body-B")
}
