package app

import (
	"context"
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
		// The status page's rule (ops.StaleCount).
		n.Registry.MustRegister(metric.GaugeFunc("publicmask_stale_outlets",
			"Outlets with stock whose state has not changed for 3 hours (in 2020: pharmacies that had stopped recording sales).", func() float64 {
				snap := n.Refresher.Current()
				if snap == nil {
					return 0
				}
				return float64(ops.StaleCount(n.Clock.Now(), snap))
			}))
	}
}
