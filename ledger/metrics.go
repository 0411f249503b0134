package ledger

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask/internal/metric"
)

type metrics struct {
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	// wait is where a request's time in the ledger went, hop by hop (see
	// op.queued): a sale's tail under load is read here, not guessed.
	queueWait, commitWait, wakeWait prometheus.Observer
	// gathered counts the batches gather held for company, gatherSeconds
	// the time it held them, gatherJoined the requests that joined them.
	gathered, gatherSeconds, gatherJoined prometheus.Counter
	sales                                 *prometheus.CounterVec
	masks                                 prometheus.Counter
	// outcomeLate counts requests answered 503 because their outcome
	// did not come within OutcomeWait (submit).
	outcomeLate prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batchSize: metric.Histogram("publicmask_ledger_batch_size",
			"Requests committed together in one group commit.", []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}),
		commitSeconds: metric.Histogram("publicmask_ledger_commit_seconds",
			"Time to run and durably commit one batch.", prometheus.ExponentialBuckets(0.0005, 2, 14)),
		gathered: metric.Counter("publicmask_ledger_gathered_batches_total",
			"Batches held back below capacity so that more requests could join them (GatherWait)."),
		gatherSeconds: metric.Counter("publicmask_ledger_gather_seconds_total",
			"Time batches were held back for more requests (GatherWait)."),
		gatherJoined: metric.Counter("publicmask_ledger_gather_joined_total",
			"Requests that joined a batch while it was held back (GatherWait)."),
		sales: metric.CounterVec("publicmask_sales_total",
			"Sale requests by outcome: ok, replayed, conflict (late sale that broke a rule), or the refusal code.", "outcome"),
		masks: metric.Counter("publicmask_masks_sold_total",
			"Masks handed over in recorded sales (cancellations not subtracted)."),
		outcomeLate: metric.Counter("publicmask_ledger_outcome_late_total",
			"Requests answered 503 store_unavailable because the store did not decide them within the outcome wait (2 s); each may still commit, and its txn_id's retry finds it."),
	}
	wait := metric.HistogramVec("publicmask_ledger_wait_seconds",
		"A request's time in the ledger by hop: queue (submitted until a writer took its batch), "+
			"commit (its batch run and made durable), wake (the outcome sent until the request's goroutine ran again).",
		prometheus.ExponentialBuckets(0.0000625, 2, 16), "hop")
	m.queueWait, m.commitWait, m.wakeWait = wait.WithLabelValues("queue"), wait.WithLabelValues("commit"), wait.WithLabelValues("wake")
	if reg != nil {
		reg.MustRegister(m.batchSize, m.commitSeconds, m.gathered, m.gatherSeconds, m.gatherJoined, m.sales, m.masks, m.outcomeLate, wait)
	}
	return m
}
