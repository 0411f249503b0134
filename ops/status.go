package ops

import (
	"context"
	"slices"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/httpapi"
	"github.com/publicmask/publicmask/snapshot"
)

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

// Node is what the view reads from the node it describes.
type Node struct {
	Role string
	Now  func() time.Time
	// Store is the store's health as shown ({"ok": …, "error", "cause",
	// "since"}, and for the admin "detail", the failed write's own text).
	Store map[string]any
	// Snapshot is the public snapshot (nil when the node has none yet).
	Snapshot *snapshot.Snapshot
	// Changes reads the store's change feed (OutletChanges).
	Changes func(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error)
	// Name identifies the node (host and address): admin only.
	Name func() string
	// Age, if set, is the snapshot's age in real time (the refresher's);
	// else it is read on Now, the service clock, which --clock-rate speeds.
	Age func() time.Duration
	// Brief (?brief=1) leaves out the history and the stale outlets: a
	// peer's poll reads neither, and they are most of the answer's bytes
	// and of its CPU (the stale outlets walk the whole snapshot).
	Brief bool
	// Peers, if set, are the other nodes (serve --peers), listed after
	// this one under "nodes".
	Peers *Peers
}

// Status is the JSON of /api/v2/status; c may be nil. Host names and exact
// stock are shown only to the admin (Bearer admin token): the page is
// public, and both help an attacker more than an onlooker.
func Status(ctx context.Context, n Node, c *Collector, admin bool) map[string]any {
	out := map[string]any{"now": n.Now(), "role": n.Role, "store": n.Store}
	if snap := n.Snapshot; snap != nil {
		out["version"] = snap.Version()
		age := n.Now().Sub(snap.AsOf())
		if n.Age != nil {
			age = n.Age()
		}
		snapView := map[string]any{
			"version": snap.Version(),
			"age_ms":  float64(age.Microseconds()) / 1000,
			"outlets": snap.Len(),
		}
		// The hop store → this node's snapshot: is a committed change
		// not yet visible here, and since when? On a multi-node
		// deployment each node answers for itself.
		if pending, err := n.Changes(ctx, snap.Version(), 1); err == nil {
			lag := 0.0
			if len(pending) > 0 && !pending[0].UpdatedAt.IsZero() {
				lag = float64(n.Now().Sub(pending[0].UpdatedAt).Microseconds()) / 1000
			}
			snapView["behind_store"] = len(pending) > 0
			snapView["oldest_unapplied_ms"] = lag
		}
		out["snapshot"] = snapView
		if !n.Brief {
			out["stale_outlets"], out["stale_outlets_count"] = staleOutlets(n.Now(), snap, admin)
		}
	}
	if c != nil {
		c.figures(out, n.Brief)
	}
	out["nodes"] = nodes(out, n, admin)
	return out
}

// nodes is this node's row, then its peers': each node's hops and
// freshness, so that one page shows whose server is slow.
func nodes(out map[string]any, n Node, admin bool) []NodeView {
	self := selfView(out)
	if admin {
		self.Node = n.Name()
	}
	rows, label, url := n.Peers.views(admin)
	self.Name = label
	if admin {
		self.URL = url
	}
	return append([]NodeView{self}, rows...)
}

// figures adds the collector's rates, percentiles and (unless brief)
// history to out.
func (c *Collector) figures(out map[string]any, brief bool) {
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
		for _, class := range []string{httpapi.ClassOutlet, httpapi.ClassAdmin, httpapi.ClassPublic} {
			lat[class] = latencyView{quantile(newest.latency[class], oldest.latency[class], 0.5), quantile(newest.latency[class], oldest.latency[class], 0.99)}
		}
		out["latency"] = lat
		// The hop sale → ledger commit, on nodes that record sales: the
		// wait for a writer (queue), the store's durable commit, the
		// wake-up after it (publicmask_ledger_wait_seconds{hop}).
		if len(newest.ledger) > 0 {
			hops := map[string]latencyView{}
			for hop, h := range newest.ledger {
				hops[hop] = latencyView{quantile(h, oldest.ledger[hop], 0.5), quantile(h, oldest.ledger[hop], 0.99)}
			}
			out["ledger"] = hops
		}
		if snap, ok := out["snapshot"].(map[string]any); ok {
			snap["freshness_p50_ms"] = quantile(newest.freshness, oldest.freshness, 0.5)
			snap["freshness_p99_ms"] = quantile(newest.freshness, oldest.freshness, 0.99)
		}
		out["shed_total"] = newest.shed
		out["rate_limited_total"] = newest.limited
	}
	if !brief {
		out["history"] = slices.Clone(c.history)
	}
}

// staleOutlets lists outlets that have stock but have not changed for hours:
// in 2020 these were the pharmacies that had stopped recording sales. The
// total is counted; the list keeps the silent longest.
func staleOutlets(now time.Time, snap *snapshot.Snapshot, exact bool) ([]staleOutlet, int) {
	cutoff := now.Add(-staleAfter)
	var list []staleOutlet
	count := 0
	for i := range snap.Len() {
		e := snap.At(i)
		if !isStale(e, cutoff) {
			continue
		}
		count++
		so := staleOutlet{Code: e.Code(), Name: e.Name(), UpdatedAt: e.UpdatedAt()}
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

// StaleCount is the number of stale outlets (publicmask_stale_outlets): the
// status page's rule.
func StaleCount(now time.Time, snap *snapshot.Snapshot) int {
	cutoff := now.Add(-staleAfter)
	n := 0
	for i := range snap.Len() {
		if isStale(snap.At(i), cutoff) {
			n++
		}
	}
	return n
}

// isStale is the rule: stock on sale, and no change since cutoff.
func isStale(e *snapshot.Entry, cutoff time.Time) bool {
	if e.Stock <= 0 || e.Suspended {
		return false
	}
	at := e.UpdatedAt()
	return !at.IsZero() && !at.After(cutoff)
}
