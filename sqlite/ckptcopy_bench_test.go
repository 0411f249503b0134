//go:build unix

package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCheckpointCopy: the process CPU of a checkpoint pass that
// copies pages scattered over a filled database (person-weeks put among
// 8,000 others, as a rush's sales do), with the copy loop's page writes
// gathered (ckptvfs.go) and written a page at a time. Only the pass is
// measured; cpu-ns/frame is its CPU (user and system, all threads) per
// frame copied, writes/page (gathered) the writes that reached the file per
// page SQLite wrote.
func BenchmarkCheckpointCopy(b *testing.B) {
	for _, gathered := range []bool{true, false} {
		name := "gathered"
		if !gathered {
			name = "page-at-a-time"
		}
		b.Run(name, func(b *testing.B) {
			old := ckptGathered
			ckptGathered = gathered
			defer func() { ckptGathered = old }()
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(b.TempDir(), "pm.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			stopBackgroundCheckpoints(s)
			t := &testing.T{}
			putSpread(t, s, 40, 200, "a")
			if _, _, err := s.checkpointOnce(ctx); err != nil {
				b.Fatal(err)
			}
			var cpu time.Duration
			var copied int
			pages0, runs0 := ckptPageWrites.Load(), ckptRunWrites.Load()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				putSpread(t, s, 10, 40, "b"+string(rune('a'+i%26))+time.Now().String())
				b.StartTimer()
				c0 := cpuTime()
				_, c, err := s.checkpointOnce(ctx)
				cpu += cpuTime() - c0
				if err != nil {
					b.Fatal(err)
				}
				copied += c
			}
			b.ReportMetric(float64(copied)/float64(b.N), "frames/pass")
			if pages := ckptPageWrites.Load() - pages0; pages > 0 {
				b.ReportMetric(float64(ckptRunWrites.Load()-runs0)/float64(pages), "writes/page")
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(copied), "cpu-ns/frame")
		})
	}
}
