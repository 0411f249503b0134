package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// registerOpsMetrics exports what the alerts of deploy/prometheus need that
// no other metric says: whether the node is ready (/readyz), whether the
// store answers, and how many outlets have gone silent. They are computed
// at scrape time (a ping, a scan of the snapshot), so a scrape sees now.
func (n *Node) registerOpsMetrics() {
	probe := func(f func(context.Context) error) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if f(ctx) != nil {
				return 0
			}
			return 1
		}
	}
	n.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "publicmask_ready",
			Help: "1 if the node is ready (as /readyz answers), else 0.",
		}, probe(n.ready)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "publicmask_store_up",
			Help: "1 if the store answered a ping, else 0 (a public node keeps serving its last snapshot meanwhile).",
		}, probe(func(ctx context.Context) error { return n.Store.Ping(ctx) })),
	)
	if n.Refresher != nil {
		n.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "publicmask_stale_outlets",
			Help: "Outlets with stock whose state has not changed for 3 hours (in 2020: pharmacies that had stopped recording sales).",
		}, func() float64 {
			snap := n.Refresher.Current()
			if snap == nil {
				return 0
			}
			_, count := staleOutlets(n, snap)
			return float64(count)
		}))
	}
}
