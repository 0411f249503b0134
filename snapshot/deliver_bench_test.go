package snapshot

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

// BenchmarkBulkStockChunks runs the refresher's side of the opening
// deliveries at 540,000 outlets: a bulk write is in progress (holdBack looks
// every change up) and the writer notifies commits of 2,000 stock changes,
// outlets in code order; each is applied before the next is notified.
// cpu-ns/change is the process's CPU per change (both cores).
//
//	go test ./snapshot -run '^$' -bench BulkStockChunks -benchtime 3x
func BenchmarkBulkStockChunks(b *testing.B) {
	const chunk = 2000
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: 540_000})
	for i := range outlets {
		outlets[i].Stock, outlets[i].StockAt, outlets[i].UpdatedAt = 500, t0, t0
		outlets[i].Version = int64(i + 1)
	}
	slices.SortFunc(outlets, func(a, b publicmask.Outlet) int { return cmpStr(a.Code, b.Code) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := NewRefresher(newFakeSource(outlets), Options{Clock: func() time.Time { return t0 }})
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	v := r.Current().Version()
	done := r.Bulk()
	defer func() { _ = done(ctx) }()
	runtime.GC()
	b.ResetTimer()
	c0 := cpuTime()
	changes := 0
	for range b.N {
		for lo := 0; lo < len(outlets); lo += chunk {
			batch := outlets[lo:min(lo+chunk, len(outlets))]
			for j := range batch {
				v++
				batch[j].Version = v
				batch[j].Stock += 500
				batch[j].StockAt, batch[j].UpdatedAt = t0, t0
			}
			r.Notify(batch)
			if err := r.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			changes += len(batch)
		}
	}
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(changes), "cpu-ns/change")
}
