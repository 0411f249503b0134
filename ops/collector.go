// Package ops is the operations view of a node behind /status and
// /api/v2/status: figures derived from the node's own Prometheus registry,
// sampled once a second, so that /status, /metrics and any script reading
// /api/v2/status agree.
package ops

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/publicmask/publicmask/httpapi"
)

const (
	hopCommit    = "commit" // publicmask_ledger_wait_seconds{hop}: until durable
	historyLen   = 600      // ten minutes of one-second samples
	staleAfter   = 3 * time.Hour
	maxStaleList = 20
)

type statusSample struct {
	T              time.Time `json:"t"`
	SalesPerS      float64   `json:"sales_per_s"`
	ReadsPerS      float64   `json:"reads_per_s"`
	OutletP99Ms    *float64  `json:"outlet_p99_ms"`
	CommitP99Ms    *float64  `json:"commit_p99_ms,omitempty"` // nodes that record sales
	PublicP99Ms    *float64  `json:"public_p99_ms"`
	FreshnessP99Ms *float64  `json:"freshness_p99_ms"`
}

type cumulative struct {
	at        time.Time
	sales     float64
	reads     float64
	shed      float64
	limited   float64
	latency   map[string]hist // by class
	freshness hist
	ledger    map[string]hist // a sale's time in the ledger, by hop
}

// hist is a cumulative histogram: upper bounds and counts.
type hist struct {
	bounds []float64
	counts []float64
}

// Collector samples a node's registry once a second: rates, latency and
// freshness percentiles over the last ten seconds, and ten minutes of
// one-second history.
type Collector struct {
	g       prometheus.Gatherer
	mu      sync.Mutex
	prev    *cumulative
	window  []*cumulative // the last ~10 s, for percentiles
	history []statusSample
}

// NewCollector returns a collector of g's metrics.
func NewCollector(g prometheus.Gatherer) *Collector { return &Collector{g: g} }

// Run samples every second until ctx ends.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.Sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Collector) gather() *cumulative {
	mfs, err := c.g.Gather()
	if err != nil {
		return nil
	}
	cu := &cumulative{at: time.Now(), latency: map[string]hist{}, ledger: map[string]hist{}}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "publicmask_sales_total":
			for _, m := range mf.GetMetric() {
				if o := label(m, "outcome"); o == "ok" || o == "conflict" {
					cu.sales += m.GetCounter().GetValue()
				}
			}
		case "publicmask_http_requests_total":
			for _, m := range mf.GetMetric() {
				if label(m, "class") == httpapi.ClassPublic {
					cu.reads += m.GetCounter().GetValue()
				}
				if label(m, "code") == "429" {
					cu.limited += m.GetCounter().GetValue()
				}
			}
		case "publicmask_http_shed_total":
			for _, m := range mf.GetMetric() {
				cu.shed += m.GetCounter().GetValue()
			}
		case "publicmask_http_request_duration_seconds":
			for _, m := range mf.GetMetric() {
				class := label(m, "class")
				cu.latency[class] = addHist(cu.latency[class], m.GetHistogram())
			}
		case "publicmask_ledger_wait_seconds":
			for _, m := range mf.GetMetric() {
				hop := label(m, "hop")
				cu.ledger[hop] = addHist(cu.ledger[hop], m.GetHistogram())
			}
		case "publicmask_snapshot_freshness_seconds":
			for _, m := range mf.GetMetric() {
				cu.freshness = addHist(cu.freshness, m.GetHistogram())
			}
		}
	}
	return cu
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func addHist(h hist, ph *dto.Histogram) hist {
	bs := ph.GetBucket()
	if h.bounds == nil {
		h.bounds = make([]float64, len(bs))
		h.counts = make([]float64, len(bs))
		for i, b := range bs {
			h.bounds[i] = b.GetUpperBound()
		}
	}
	if len(bs) != len(h.counts) {
		return h
	}
	for i, b := range bs {
		h.counts[i] += float64(b.GetCumulativeCount())
	}
	return h
}

// quantile estimates the q-quantile of the observations between two
// cumulative histograms, in milliseconds; nil when there were none.
func quantile(newer, older hist, q float64) *float64 {
	if len(newer.counts) == 0 {
		return nil
	}
	delta := make([]float64, len(newer.counts))
	for i := range newer.counts {
		delta[i] = newer.counts[i]
		if len(older.counts) == len(newer.counts) {
			delta[i] -= older.counts[i]
		}
	}
	total := delta[len(delta)-1]
	if total <= 0 {
		return nil
	}
	rank := q * total
	lowerBound, lowerCount := 0.0, 0.0
	for i, c := range delta {
		if c >= rank {
			upper := newer.bounds[i]
			if math.IsInf(upper, 1) {
				upper = lowerBound
			}
			frac := 0.0
			if c > lowerCount {
				frac = (rank - lowerCount) / (c - lowerCount)
			}
			v := (lowerBound + (upper-lowerBound)*frac) * 1000
			return &v
		}
		lowerBound, lowerCount = newer.bounds[i], c
	}
	return nil
}

// Sample takes one sample.
func (c *Collector) Sample() {
	cu := c.gather()
	if cu == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prev != nil {
		dt := cu.at.Sub(c.prev.at).Seconds()
		s := statusSample{T: cu.at, SalesPerS: (cu.sales - c.prev.sales) / dt, ReadsPerS: (cu.reads - c.prev.reads) / dt}
		s.OutletP99Ms = quantile(cu.latency[httpapi.ClassOutlet], c.prev.latency[httpapi.ClassOutlet], 0.99)
		s.PublicP99Ms = quantile(cu.latency[httpapi.ClassPublic], c.prev.latency[httpapi.ClassPublic], 0.99)
		s.FreshnessP99Ms = quantile(cu.freshness, c.prev.freshness, 0.99)
		s.CommitP99Ms = quantile(cu.ledger[hopCommit], c.prev.ledger[hopCommit], 0.99)
		c.history = append(c.history, s)
		if len(c.history) > historyLen {
			c.history = slices.Delete(c.history, 0, len(c.history)-historyLen)
		}
	}
	c.prev = cu
	c.window = append(c.window, cu)
	if len(c.window) > 11 {
		c.window = c.window[1:]
	}
}
