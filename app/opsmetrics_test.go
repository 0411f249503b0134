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
