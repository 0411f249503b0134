package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/publicmask/publicmask/internal/metric"
	"github.com/publicmask/publicmask/ops"
)

// opsProbeEvery is how often the readiness and store probes behind
// publicmask_ready and publicmask_store_up run.
const opsProbeEvery = 2 * time.Second

// registerOpsMetrics exports what the alerts of deploy/prometheus need that
// no other metric says: whether the node is ready (/readyz), whether the
// store answers, and how many outlets have gone silent. The probes run in
// the background, so that neither a scrape nor the status page's sampling
// (which gathers the registry every second) waits on a store that is down.
func (n *Node) registerOpsMetrics(ctx context.Context) {
	var ready, storeUp atomic.Bool
	probe := func() {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		storeUp.Store(n.Store.Ping(pctx) == nil)
		ready.Store(n.ready(pctx) == nil)
	}
	probe()
	go everyTick(ctx, opsProbeEvery, probe)
	gauge := func(b *atomic.Bool) func() float64 {
		return func() float64 {
			if b.Load() {
				return 1
			}
			return 0
		}
	}
	n.Registry.MustRegister(
		metric.GaugeFunc("publicmask_ready",
			"1 if the node is ready (as /readyz answers), else 0; probed every 2 s.", gauge(&ready)),
		metric.GaugeFunc("publicmask_store_up",
			"1 if the store answered a ping, else 0 (a public node keeps serving its last snapshot meanwhile); probed every 2 s.", gauge(&storeUp)),
	)
	if n.Refresher != nil {
		// The status page's rule (ops.StaleCount), walked at most as often
		// as staleGauge allows.
		var stale staleGauge
		n.Registry.MustRegister(metric.GaugeFunc("publicmask_stale_outlets",
			"Outlets with stock whose state has not changed for 3 hours (in 2020: pharmacies that had stopped recording sales).", func() float64 {
				snap := n.Refresher.Current()
				if snap == nil {
					return 0
				}
				return float64(stale.count(func() int { return ops.StaleCount(n.Clock.Now(), snap) }))
			}))
	}
}

// staleGauge keeps publicmask_stale_outlets' walk over every outlet from
// costing more than about 1% of a core. The ops collector gathers the
// registry every second (the status page's samples), and at 540,000 outlets
// the walk reads every entry: ~50–70 ms of CPU a second that evicted the
// caches of the requests beside it (BENCHMARKS.md "Public reads (3rd
// pass)"). A count is reused until 100 times its own walk has passed (at
// the national size a walk of ~2 ms: every gather still walks), at most
// staleMaxAge; the rule itself counts outlets silent for 3 hours.
type staleGauge struct {
	mu   sync.Mutex
	n    int
	at   time.Time     // when the count was made
	cost time.Duration // and how long it took
	now  func() time.Time
}

const (
	staleCostShare = 100 // reuse a count for this many times its cost
	staleMaxAge    = 30 * time.Second
)

// count returns the last count while it is younger than its reuse window,
// else walk's.
func (g *staleGauge) count(walk func() int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now
	if g.now != nil {
		now = g.now
	}
	t := now()
	if !g.at.IsZero() && t.Sub(g.at) < min(staleMaxAge, staleCostShare*g.cost) {
		return g.n
	}
	g.n = walk()
	g.at = t
	g.cost = now().Sub(t)
	return g.n
}
