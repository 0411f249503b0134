package app

import (
	"context"
	"errors"
	"github.com/publicmask/publicmask/httpapi"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/publicmask/publicmask/snapshot"
	"github.com/publicmask/publicmask/sqlite"
)

// The status page's figures are derived from the node's own Prometheus
// registry, sampled once a second, so that /status, /metrics and any script
// reading /api/v2/status agree.

const (
	historyLen   = 600 // ten minutes of one-second samples
	staleAfter   = 3 * time.Hour
	maxStaleList = 20
)

type statusSample struct {
	T              time.Time `json:"t"`
	SalesPerS      float64   `json:"sales_per_s"`
	ReadsPerS      float64   `json:"reads_per_s"`
	OutletP99Ms    *float64  `json:"outlet_p99_ms"`
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
}

// hist is a cumulative histogram: upper bounds and counts.
type hist struct {
	bounds []float64
	counts []float64
}

type statusCollector struct {
	n       *Node
	mu      sync.Mutex
	prev    *cumulative
	window  []*cumulative // the last ~10 s, for percentiles
	history []statusSample
}

func (n *Node) startStatus(ctx context.Context) {
	n.statusC = &statusCollector{n: n}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			n.statusC.sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (c *statusCollector) gather() *cumulative {
	mfs, err := c.n.Registry.Gather()
	if err != nil {
		return nil
	}
	cu := &cumulative{at: time.Now(), latency: map[string]hist{}}
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
				if label(m, "class") == "public" {
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

func (c *statusCollector) sample() {
	cu := c.gather()
	if cu == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prev != nil {
		dt := cu.at.Sub(c.prev.at).Seconds()
		s := statusSample{T: cu.at, SalesPerS: (cu.sales - c.prev.sales) / dt, ReadsPerS: (cu.reads - c.prev.reads) / dt}
		s.OutletP99Ms = quantile(cu.latency["outlet"], c.prev.latency["outlet"], 0.99)
		s.PublicP99Ms = quantile(cu.latency["public"], c.prev.latency["public"], 0.99)
		s.FreshnessP99Ms = quantile(cu.freshness, c.prev.freshness, 0.99)
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

type latencyView struct {
	P50Ms *float64 `json:"p50_ms"`
	P99Ms *float64 `json:"p99_ms"`
}

type staleOutlet struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Stock     *int      `json:"stock,omitempty"` // exact stock: admin only
	UpdatedAt time.Time `json:"updated_at"`
}

// status is the JSON of /api/v2/status. Host names and exact stock are
// shown only to the admin (Bearer admin token): the page is public, and
// both help an attacker more than an onlooker.
func (n *Node) status(ctx context.Context) (any, error) {
	admin := httpapi.IsAdmin(ctx)
	out := map[string]any{"now": n.Clock.Now(), "role": n.cfg.Role}
	storeOK := map[string]any{"ok": true}
	if err := n.Store.Ping(ctx); err != nil {
		storeOK = map[string]any{"ok": false, "error": "store unreachable"}
		if errors.Is(err, sqlite.ErrFlushFailed) {
			storeOK = map[string]any{"ok": false, "error": "a flush to disk failed: restart the node", "cause": causeFlushFailed}
		}
	}
	// Why durable writes fail (full disk, failed flush, store gone), and
	// since when; the metric publicmask_store_write_errors_total counts them.
	if cause, since, msg := n.writes.failure(); cause != "" && n.cfg.Role != "public" {
		storeOK = map[string]any{"ok": false, "error": msg, "cause": cause, "since": since}
	}
	out["store"] = storeOK
	if n.Refresher != nil {
		if snap := n.Refresher.Current(); snap != nil {
			out["version"] = snap.Version()
			snapView := map[string]any{
				"version": snap.Version(),
				"age_ms":  float64(n.Clock.Now().Sub(snap.AsOf()).Microseconds()) / 1000,
				"outlets": snap.Len(),
			}
			// The hop store → this node's snapshot: is a committed change
			// not yet visible here, and since when? On a multi-node
			// deployment each node answers for itself.
			if pending, err := n.Store.OutletChanges(ctx, snap.Version(), 1); err == nil {
				lag := 0.0
				if len(pending) > 0 && !pending[0].UpdatedAt.IsZero() {
					lag = float64(n.Clock.Now().Sub(pending[0].UpdatedAt).Microseconds()) / 1000
				}
				snapView["behind_store"] = len(pending) > 0
				snapView["oldest_unapplied_ms"] = lag
			}
			out["snapshot"] = snapView
			node := map[string]any{"role": n.cfg.Role, "version": snap.Version(), "age_ms": snapView["age_ms"]}
			if admin {
				node["node"] = n.nodeName()
			}
			out["nodes"] = []map[string]any{node}
			out["stale_outlets"], out["stale_outlets_count"] = staleOutlets(n, snap, admin)
		}
	}
	c := n.statusC
	if c == nil {
		return out, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.window) >= 2 {
		newest, oldest := c.window[len(c.window)-1], c.window[0]
		dt := newest.at.Sub(oldest.at).Seconds()
		out["rates"] = map[string]float64{
			"sales_per_s":        (newest.sales - oldest.sales) / dt,
			"public_reads_per_s": (newest.reads - oldest.reads) / dt,
		}
		lat := map[string]latencyView{}
		for _, class := range []string{"outlet", "admin", "public"} {
			lat[class] = latencyView{quantile(newest.latency[class], oldest.latency[class], 0.5), quantile(newest.latency[class], oldest.latency[class], 0.99)}
		}
		out["latency"] = lat
		if snap, ok := out["snapshot"].(map[string]any); ok {
			snap["freshness_p50_ms"] = quantile(newest.freshness, oldest.freshness, 0.5)
			snap["freshness_p99_ms"] = quantile(newest.freshness, oldest.freshness, 0.99)
		}
		out["shed_total"] = newest.shed
		out["rate_limited_total"] = newest.limited
	}
	out["history"] = slices.Clone(c.history)
	return out, nil
}

// staleOutlets lists outlets that have stock but have not changed for hours:
// in 2020 these were the pharmacies that had stopped recording sales. The
// total is counted; the list keeps the silent longest.
func staleOutlets(n *Node, snap *snapshot.Snapshot, exact bool) ([]staleOutlet, int) {
	cutoff := n.Clock.Now().Add(-staleAfter)
	var list []staleOutlet
	count := 0
	for i := range snap.Len() {
		e := snap.At(i)
		if e.Stock <= 0 || e.Suspended || e.UpdatedAt.IsZero() || e.UpdatedAt.After(cutoff) {
			continue
		}
		count++
		so := staleOutlet{Code: e.Code, Name: e.Name, UpdatedAt: e.UpdatedAt}
		if exact {
			so.Stock = &e.Stock
		}
		list = append(list, so)
	}
	slices.SortFunc(list, func(a, b staleOutlet) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	if len(list) > maxStaleList {
		list = list[:maxStaleList]
	}
	if list == nil {
		list = []staleOutlet{}
	}
	return list, count
}

// nodeName identifies this node on the status page: host and listen address.
func (n *Node) nodeName() string {
	host, _ := os.Hostname()
	return host + " " + n.cfg.Addr
}
