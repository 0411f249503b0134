package ledger

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	sales         *prometheus.CounterVec
	masks         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "publicmask_ledger_batch_size",
			Help:    "Requests committed together in one group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "publicmask_ledger_commit_seconds",
			Help:    "Time to run and durably commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		sales: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "publicmask_sales_total",
			Help: "Sale requests by outcome: ok, replayed, conflict (late sale that broke a rule), or the refusal code.",
		}, []string{"outcome"}),
		masks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "publicmask_masks_sold_total",
			Help: "Masks handed over in recorded sales (cancellations not subtracted).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.batchSize, m.commitSeconds, m.sales, m.masks)
	}
	return m
}
