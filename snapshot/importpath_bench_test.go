package snapshot

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

// BenchmarkRefresherImport is the refresher's whole share of a registry
// import: BENCH_REFRESH_OUTLETS new outlets (default 200,000) into an
// empty snapshot, in bodies of 100,000 (one bulk write each, as the import
// handler holds one) notified in commits of 2,000 in code order (the
// ledger's chunk), each commit applied before the next (Sync: the same
// batches on every run, so that instruction counts compare), then the
// body's end (the release and the merge). Notify, the hold-back, the
// release and the merge are all counted; the outlets are made untimed.
//
//	GOGC=off go test ./snapshot -run '^$' -bench RefresherImport -benchtime 1x -benchmem
func BenchmarkRefresherImport(b *testing.B) { benchRefresherImport(b, false) }

// BenchmarkRefresherImportOverlapped is BenchmarkRefresherImport with each
// body's bulk write begun before the one before it ends, as the import
// handler's are with two bodies in flight (scripts/load.py).
func BenchmarkRefresherImportOverlapped(b *testing.B) { benchRefresherImport(b, true) }

func benchRefresherImport(b *testing.B, overlap bool) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_REFRESH_OUTLETS")); err == nil {
		n = v
	}
	const body, chunk = 100_000, 2000
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: n})
	slices.SortFunc(outlets, func(a, b publicmask.Outlet) int { return cmpStr(a.Code, b.Code) })
	for i := range outlets {
		outlets[i].Version = int64(i + 1)
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ctx, cancel := context.WithCancel(ctx)
		r := NewRefresher(newFakeSource(nil), Options{Clock: func() time.Time { return t0 }})
		if err := r.Start(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		var done func(context.Context) error
		for lo := 0; lo < n; lo += body {
			if done == nil {
				done = r.Bulk()
			}
			for c := lo; c < min(lo+body, n); c += chunk {
				r.Notify(outlets[c:min(c+chunk, lo+body, n)])
				if err := r.Sync(ctx); err != nil {
					b.Fatal(err)
				}
			}
			var next func(context.Context) error
			if overlap && lo+body < n {
				next = r.Bulk()
			}
			if err := done(ctx); err != nil {
				b.Fatal(err)
			}
			done = next
		}
		b.StopTimer()
		if got := r.Current().Len(); got != n {
			b.Fatalf("%d outlets in the snapshot, want %d", got, n)
		}
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/outlet")
}
