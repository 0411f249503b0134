package snapshot

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

// BenchmarkFanOut measures the change stream's hops under the load of
// DESIGN.md §5: 1,000 outlet changes a second for five seconds over the
// national demo (about 26,000 outlets), with 0 and with 10,000 subscribers
// placed at outlets (so, like the population) with a 2 km circle, each
// drained by its own goroutine as a stream handler does. Reported:
//
//	visible-p99-ms   notify → the change is in the current snapshot
//	deliver-p99-ms   notify → a subscriber has it (10,000 only)
//	offers/change    subscribers offered each change (the geo index's work)
//
// The unindexed run offers every change to every subscriber, for comparison.
//
//	go test ./snapshot -run '^$' -bench FanOut -benchtime 1x
func BenchmarkFanOut(b *testing.B) {
	outlets := seed.Outlets(seed.Options{Seed: 2020})
	for i := range outlets {
		outlets[i].Stock, outlets[i].StockAt, outlets[i].UpdatedAt = 500, t0, t0
	}
	for _, c := range []struct {
		subs    int
		indexed bool
	}{{0, true}, {10_000, true}, {10_000, false}, {0, true}} { // 0 twice: the first run also warms up
		b.Run(fmt.Sprintf("subscribers=%d/indexed=%v", c.subs, c.indexed), func(b *testing.B) {
			for range b.N {
				fanOutLoad(b, outlets, c.subs, c.indexed)
			}
		})
	}
}

// fanOutLoad runs the load once; indexed=false subscribes without cells,
// as every stream did before the geo index (each change offered to all).
func fanOutLoad(b *testing.B, outlets []publicmask.Outlet, subs int, indexed bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(outlets)
	r := NewRefresher(src, Options{Clock: time.Now})
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var wg sync.WaitGroup
	lat := make([][]time.Duration, subs)
	var offerN int64 // subscribers offered a change, counted by their filter
	var offerMu sync.Mutex
	for i := range subs {
		o := outlets[rng.IntN(len(outlets))]
		var cells []cellKey
		if indexed {
			cells = cellsNear(o.Lat, o.Lng, 2000)
		}
		sub := r.subscribe(64, nil, cells)
		clat, clng := o.Lat, o.Lng
		sub.filter = func(e *Entry) bool {
			offerMu.Lock()
			offerN++
			offerMu.Unlock()
			return Haversine(clat, clng, e.Lat, e.Lng) <= 2000
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range sub.C {
				now := time.Now()
				for _, e := range batch {
					lat[i] = append(lat[i], now.Sub(e.UpdatedAt()))
				}
			}
		}()
	}
	const rate, seconds = 1000, 5
	var visible []time.Duration
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	for n := 0; n < rate*seconds; n++ {
		<-tick.C
		o := outlets[rng.IntN(len(outlets))]
		o.Stock, o.UpdatedAt = 500-n%400, time.Now()
		o = src.put(o)
		r.Notify([]publicmask.Outlet{o})
		if n%20 == 0 { // sample: wait until it is visible
			for {
				if e, ok := r.Current().Lookup(o.Code); ok && e.Version >= o.Version {
					visible = append(visible, time.Since(o.UpdatedAt))
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	b.StopTimer()
	cancel()
	// The subscribers' channels close when the refresher stops.
	wg.Wait()
	b.ReportMetric(ms(pct(visible, 0.99)), "visible-p99-ms")
	if subs > 0 {
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		b.ReportMetric(ms(pct(all, 0.99)), "deliver-p99-ms")
		b.ReportMetric(ms(pct(all, 0.5)), "deliver-p50-ms")
		b.ReportMetric(float64(len(all)), "deliveries")
		b.ReportMetric(float64(offerN)/float64(rate*seconds), "offers/change")
	}
}

func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
