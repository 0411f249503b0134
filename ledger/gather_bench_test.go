package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
)

// BenchmarkPacedSales sells at a steady offered rate (Poisson arrivals, in
// process, no HTTP) for two seconds an iteration, and reports what the
// gathering of small batches (ledger.gather) does there: sales per commit,
// the server side's sale latency (p50, p99) and the process's CPU per sale.
// 300/s is bench.sh step 6's flood rush, 1,500/s about the mixed rush's
// acknowledged rate. Run with -benchtime 1x (each iteration is a 2 s run).
func BenchmarkPacedSales(b *testing.B) {
	for _, rate := range []float64{300, 1500} {
		b.Run(fmt.Sprintf("rate=%.0f", rate), func(b *testing.B) {
			var commits atomic.Int64
			reg := prometheus.NewRegistry()
			e := testenv.NewWith(b, testenv.Options{Registerer: reg, OnCommit: func([]publicmask.Outlet) { commits.Add(1) }})
			const outlets = 100
			for i := range outlets {
				e.AddOutlet(b, fmt.Sprintf("3%07d", i), publicmask.TypePharmacy, 100_000)
			}
			var (
				mu   sync.Mutex
				lat  []time.Duration
				n    atomic.Int64
				sold int
			)
			rng := rand.New(rand.NewPCG(1, 2))
			c0, held0, joined0 := commits.Load(), gathered(b, reg, "publicmask_ledger_gathered_batches_total"), gathered(b, reg, "publicmask_ledger_gather_joined_total")
			cpu0 := processCPU()
			b.ResetTimer()
			for range b.N {
				var wg sync.WaitGroup
				start := time.Now()
				next := start
				for time.Since(start) < 2*time.Second {
					next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					wg.Go(func() {
						i := n.Add(1)
						id := testenv.ID(fmt.Sprintf("%02d%02d%02d", []int{83, 88, 3, 8}[i%4], 1+i/100000%12, 1+i/8%28), "1133"[i%4], int(i%100000))
						t0 := time.Now()
						_, _, err := sell(e, fmt.Sprintf("3%07d", i%outlets), fmt.Sprintf("p%d", i), id, 1)
						d := time.Since(t0)
						if err != nil && publicmask.ErrorCode(err) != publicmask.EQuotaExceeded {
							b.Error(err)
						}
						mu.Lock()
						lat = append(lat, d)
						sold++
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			b.StopTimer()
			cpu := processCPU() - cpu0
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
			b.ReportMetric(float64(sold)/float64(commits.Load()-c0), "sales/commit")
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(cpu.Microseconds())/float64(sold), "cpu-µs/sale")
			nc := float64(commits.Load() - c0)
			b.ReportMetric((gathered(b, reg, "publicmask_ledger_gathered_batches_total")-held0)/nc, "held/commit")
			b.ReportMetric((gathered(b, reg, "publicmask_ledger_gather_joined_total")-joined0)/float64(sold), "joined/sale")
		})
	}
}

// gathered reads a counter (or, in older builds, a gauge) from reg; 0 when absent.
func gathered(b *testing.B, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}
