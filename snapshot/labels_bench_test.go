package snapshot

import (
	"maps"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/publicmask/publicmask/seed"
)

// BenchmarkMergeNextBody is the merge of an import body of 100,000 new
// outlets into a snapshot of 440,000 that a merge made (ms a merge, on the
// refresher's path: apply's wall time), with the place index's map by
// label the previous merge left ("kept") and without it ("made": what every
// body's merge did before the map was kept):
// `go test ./snapshot -run '^$' -bench MergeNextBody -benchtime 4x`.
func BenchmarkMergeNextBody(b *testing.B) {
	const have, add = 440_000, 100_000
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: have + add})
	for i := range outlets {
		outlets[i].Version = int64(i + 1)
	}
	base := build(outlets[:have-add], have-add, t0)
	s, _ := base.apply(slices.Clone(outlets[have-add:have]), t0) // merged: leaves its map
	m := s.reg.places.labels.Load()
	if m == nil {
		b.Fatal("the merge left no map")
	}
	kept := maps.Clone(*m)
	for _, c := range []struct {
		name string
		keep bool
	}{{"kept", true}, {"made", false}} {
		b.Run(c.name, func(b *testing.B) {
			var d time.Duration
			for range b.N {
				b.StopTimer()
				if c.keep {
					m := maps.Clone(kept)
					s.reg.places.labels.Store(&m)
				} else {
					s.reg.places.labels.Store(nil)
				}
				batch := slices.Clone(outlets[have:])
				runtime.GC()
				b.StartTimer()
				t := time.Now()
				s.apply(batch, t0)
				d += time.Since(t)
			}
			b.ReportMetric(float64(d.Milliseconds())/float64(b.N), "merge-ms")
		})
	}
}
