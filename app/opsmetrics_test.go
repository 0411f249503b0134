package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// The operations gauges behind the alerts: ready and store up on a healthy
// node; down after the store is closed; stale outlets counted by the status
// page's rule.
func TestOpsMetrics(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{
		DB: filepath.Join(t.TempDir(), "pm.db"), Seed: "none", AdminToken: "ops-admin-token-0123456789",
		Clock: "2020-03-11T10:00:00+09:00", Logger: slog.New(slog.DiscardHandler), Out: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	for _, name := range []string{"publicmask_ready", "publicmask_store_up"} {
		if v := gaugeValue(t, n, name); v != 1 {
			t.Errorf("%s = %v on a healthy node", name, v)
		}
	}
	if v := gaugeValue(t, n, "publicmask_stale_outlets"); v != 0 {
		t.Errorf("stale outlets = %v with no outlets", v)
	}
	n.Store.Close()
	deadline := time.Now().Add(3 * opsProbeEvery)
	for gaugeValue(t, n, "publicmask_store_up") != 0 || gaugeValue(t, n, "publicmask_ready") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("store_up/ready still 1 after the store was closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func gaugeValue(t *testing.T, n *Node, name string) float64 {
	t.Helper()
	mfs, err := n.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// The stale-outlet walk is reused for 100 times its own cost (at most
// staleMaxAge): a cheap walk (a small registry) runs on every gather, an
// expensive one (540,000 outlets) at most once per 100 times its cost.
func TestStaleGaugeBoundsItsWalk(t *testing.T) {
	now := time.Date(2020, 3, 11, 8, 0, 0, 0, time.UTC)
	g := &staleGauge{now: func() time.Time { return now }}
	walks := 0
	walk := func(cost time.Duration, n int) func() int {
		return func() int { walks++; now = now.Add(cost); return n }
	}
	// A 2 ms walk: reused for 200 ms, so a gather every second walks.
	if v := g.count(walk(2*time.Millisecond, 3)); v != 3 || walks != 1 {
		t.Fatalf("first count %d after %d walks", v, walks)
	}
	now = now.Add(time.Second)
	if v := g.count(walk(60*time.Millisecond, 4)); v != 4 || walks != 2 {
		t.Fatalf("after 1 s: %d after %d walks, want a new walk", v, walks)
	}
	// A 60 ms walk: reused for 6 s.
	for range 5 {
		now = now.Add(time.Second)
		if v := g.count(walk(60*time.Millisecond, 5)); v != 4 || walks != 2 {
			t.Fatalf("within 6 s of a 60 ms walk: %d after %d walks, want the last count", v, walks)
		}
	}
	now = now.Add(time.Second)
	if v := g.count(walk(time.Second, 6)); v != 6 || walks != 3 {
		t.Fatalf("6 s after a 60 ms walk: %d after %d walks, want a new walk", v, walks)
	}
	// A 1 s walk is reused for staleMaxAge, not 100 s.
	now = now.Add(staleMaxAge - 2*time.Second) // the walk itself took 1 s
	if v := g.count(walk(time.Second, 7)); v != 6 || walks != 3 {
		t.Fatalf("before staleMaxAge: %d after %d walks", v, walks)
	}
	now = now.Add(2 * time.Second)
	if v := g.count(walk(time.Second, 7)); v != 7 || walks != 4 {
		t.Fatalf("after staleMaxAge: %d after %d walks", v, walks)
	}
}
