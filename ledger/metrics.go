package ledger

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask/internal/metric"
)

type metrics struct {
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	sales         *prometheus.CounterVec
	masks         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batchSize: metric.Histogram("publicmask_ledger_batch_size",
			"Requests committed together in one group commit.", []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}),
		commitSeconds: metric.Histogram("publicmask_ledger_commit_seconds",
			"Time to run and durably commit one batch.", prometheus.ExponentialBuckets(0.0005, 2, 14)),
		sales: metric.CounterVec("publicmask_sales_total",
			"Sale requests by outcome: ok, replayed, conflict (late sale that broke a rule), or the refusal code.", "outcome"),
		masks: metric.Counter("publicmask_masks_sold_total",
			"Masks handed over in recorded sales (cancellations not subtracted)."),
	}
	if reg != nil {
		reg.MustRegister(m.batchSize, m.commitSeconds, m.sales, m.masks)
	}
	return m
}
