package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// BenchmarkOutletCommits: writers, each changing its own outlet in a
// transaction of its own, as fast as they can, on two pools (two nodes).
// No two share a row, so the only thing that can serialise their commits
// is the version stamp: stamped under the outlet_version row lock, held
// until the commit is durable (tx.go), every commit is its own WAL flush
// (about 1 flush a commit), where commits waiting for the same flush could
// otherwise share it (branch pgfeed12's sequence: about 0.3; BENCHMARKS.md).
// Reports commits/s, WAL flushes per commit (pg_stat_wal, the whole
// cluster's: meaningful on a cluster of its own) and the commit p99.
func BenchmarkOutletCommits(b *testing.B) {
	for _, writers := range []int{8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s1 := openTest(b, Options{MaxConns: int32(writers)})
			s2 := openSame(b, s1)
			ctx := context.Background()
			codes := make([]string, writers)
			for i := range codes {
				codes[i] = fmt.Sprintf("%08d", 90000000+i)
			}
			seedOutlets(b, s1, codes...)
			wal := func() (syncs int64) {
				if err := s1.pool.QueryRow(ctx, `SELECT wal_sync FROM pg_stat_wal`).Scan(&syncs); err != nil {
					b.Fatal(err)
				}
				return syncs
			}
			var mu sync.Mutex
			var lat []time.Duration
			w0 := wal()
			b.ResetTimer()
			t0 := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := s1
					if w%2 == 1 {
						s = s2
					}
					var mine []time.Duration
					for i := w; i < b.N; i += writers {
						t := time.Now()
						err := s.Write(ctx, func(tx publicmask.Tx) error {
							o, err := tx.LockOutlet(codes[w])
							if err != nil {
								return err
							}
							o.Stock++
							return tx.SaveOutlet(&o)
						})
						if err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			elapsed := time.Since(t0)
			b.StopTimer()
			syncs := wal() - w0
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
			b.ReportMetric(float64(syncs)/float64(b.N), "flushes/commit")
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}
